"""model/preprocess.py (ImagePreprocessor): the fast path gives the HF processor's pixel_values bit for bit.

Random-noise images make every pixel differ from its neighbours, so a crop or resize that is off
by one pixel, a wrong filter or a float rounding difference shows up as a mismatch.
"""

import json
import pickle

import numpy as np
import pytest
import torch
from PIL import Image
from transformers import AutoImageProcessor
from transformers.image_transforms import get_resize_output_image_size
from transformers.image_utils import ChannelDimension, PILImageResampling
from transformers.models.clip.image_processing_pil_clip import CLIPImageProcessorPil

from fashion_search.catalog.products import open_catalog
from fashion_search.model.clip import small_image_processor
from fashion_search.model.embed import ImagePreprocessor
from fashion_search.model.preprocess import plan_for, shortest_edge_size

SIZES = [(1, 1), (7, 300), (301, 7), (60, 80), (500, 333)]  # (width, height)
# openai/clip-vit-base-patch32's preprocessor_config.json as published (ints for size and crop_size).
VIT_B32_CONFIG = {
    "crop_size": 224, "do_center_crop": True, "do_normalize": True, "do_resize": True,
    "feature_extractor_type": "CLIPFeatureExtractor", "image_mean": [0.48145466, 0.4578275, 0.40821073],
    "image_std": [0.26862954, 0.26130258, 0.27577711], "resample": 3, "size": 224,
}


@pytest.fixture(scope="module")
def vit_b32(tmp_path_factory):
    """The processor a pretrained ViT-B/32 directory loads to, built offline from its config file."""
    folder = tmp_path_factory.mktemp("vit-b32")
    (folder / "preprocessor_config.json").write_text(json.dumps(VIT_B32_CONFIG))
    return AutoImageProcessor.from_pretrained(folder)


def generated_images() -> list[Image.Image]:
    """Every size in SIZES in modes RGB, L, RGBA, P and P with a transparent palette entry."""
    rng = np.random.default_rng(7)
    made = []
    for width, height in SIZES:
        rgba = rng.integers(0, 256, (height, width, 4), dtype=np.uint8)
        rgb = Image.fromarray(rgba[..., :3])
        transparent = rgb.quantize(16)
        transparent.info["transparency"] = 3  # HF composites such images onto white
        made += [rgb, Image.fromarray(rgba[..., 0]), Image.fromarray(rgba, "RGBA"), rgb.convert("P"), transparent]
    return made


def hf_pixels(processor, images) -> torch.Tensor:
    """The reference: the HF processor on the RGB images, as ImagePreprocessor always did."""
    rgb = [image if image.mode == "RGB" else image.convert("RGB") for image in images]
    return processor(images=rgb, return_tensors="pt")["pixel_values"].to(torch.float32)


def assert_same_as_hf(processor, images, batch: int = 8) -> None:
    pre = ImagePreprocessor(processor)
    assert pre.fast_plan is not None, plan_for(processor)[1]
    for image in images:  # one at a time, as the ingest and training datasets call it
        torch.testing.assert_close(pre([image]), hf_pixels(processor, [image]), rtol=0, atol=0,
                                   msg=lambda m: f"{image.size} {image.mode}: {m}")
    for start in range(0, len(images), batch):
        part = images[start:start + batch]
        got = pre(part)
        assert got.dtype == torch.float32 and got.is_contiguous()
        torch.testing.assert_close(got, hf_pixels(processor, part), rtol=0, atol=0)


def test_generated_images_match_the_small_processor_exactly():
    assert_same_as_hf(small_image_processor(48), generated_images())


def test_generated_images_match_a_vit_b32_processor_exactly(vit_b32):
    assert type(vit_b32) is CLIPImageProcessorPil and dict(vit_b32.size) == {"shortest_edge": 224}
    assert_same_as_hf(vit_b32, generated_images())


@pytest.mark.parametrize("options", [
    # odd crop margins: (W - cw) // 2 rounds down, an off-by-one crop would shift every pixel
    dict(size={"shortest_edge": 31}, crop_size={"height": 24, "width": 27}, resample=PILImageResampling.BILINEAR),
    # a crop larger than the resized image: zero padding, centred with the extra pixel before
    dict(size={"height": 20, "width": 15}, crop_size={"height": 25, "width": 22}, resample=PILImageResampling.NEAREST),
    dict(size={"height": 16, "width": 12}, do_center_crop=False, do_normalize=False,
         resample=PILImageResampling.LANCZOS),
    dict(size={"height": 16, "width": 16}, do_center_crop=False, do_rescale=False, image_mean=0.5, image_std=0.25),
    dict(do_resize=False, crop_size={"height": 5, "width": 6}, do_rescale=False, do_normalize=False),
    dict(size={"shortest_edge": 20}, crop_size={"height": 20, "width": 20}, do_convert_rgb=False,
         resample=PILImageResampling.BOX),
])
def test_other_supported_configurations_match_exactly(options):
    assert_same_as_hf(CLIPImageProcessorPil(**options), generated_images())


def test_alpha_compositing_is_reproduced():
    # Guards the test data: without the white composite this image would come out different.
    transparent = generated_images()[9]
    assert transparent.info["transparency"] == 3
    plain = transparent.copy()
    plain.info.pop("transparency")
    processor = small_image_processor(48)
    assert not torch.equal(hf_pixels(processor, [transparent]), hf_pixels(processor, [plain]))
    assert torch.equal(ImagePreprocessor(processor)([transparent]), hf_pixels(processor, [transparent]))


def test_shortest_edge_size_is_hf_rule():
    for height in [*range(1, 70), 299, 300, 301, 333, 500, 4000]:
        for width in [1, 2, 3, 7, 59, 60, 61, 80, 224, 225, 333, 500]:
            for size in (24, 48, 224):
                image = np.broadcast_to(np.uint8(0), (3, height, width))
                want = get_resize_output_image_size(image, size, default_to_square=False,
                                                    input_data_format=ChannelDimension.FIRST)
                assert shortest_edge_size(height, width, size) == tuple(want), (height, width, size)


class OwnResize(CLIPImageProcessorPil):
    def resize(self, image, size, resample=None, **kwargs):
        return super().resize(image, size, resample=PILImageResampling.NEAREST, **kwargs)


@pytest.mark.parametrize("processor, reason", [
    (CLIPImageProcessorPil(size={"shortest_edge": 20, "longest_edge": 30}, crop_size={"height": 16, "width": 16}),
     "resize size"),
    (CLIPImageProcessorPil(size={"max_height": 20, "max_width": 30}, crop_size={"height": 16, "width": 16}),
     "resize size"),
    (CLIPImageProcessorPil(size={"height": 20, "width": 20}, do_center_crop=False, do_pad=True,
                           pad_size={"height": 24, "width": 24}),
     "do_pad"),
    (CLIPImageProcessorPil(size={"shortest_edge": 20}, do_center_crop=False), "output size depends on the image"),
    (OwnResize(size={"height": 20, "width": 20}), "unsupported image processor class"),
])
def test_unsupported_configurations_fall_back_to_hf_and_still_match(processor, reason):
    plan, why = plan_for(processor)
    assert plan is None and reason in why
    pre = ImagePreprocessor(processor)
    assert pre.fast_plan is None
    images = generated_images()[15:]  # 60x80 and 500x333: HF's max_height rule squashes 7x300 to width 0
    if not processor.do_center_crop and "shortest_edge" in dict(processor.size):
        images = [image.resize((40, 30)) for image in images]  # HF can only stack equal sizes
    torch.testing.assert_close(pre(images), hf_pixels(processor, images), rtol=0, atol=0)


def test_a_changed_attribute_set_before_construction_is_honoured():
    processor = small_image_processor(48)
    processor.image_mean = (0.5, 0.5, 0.5)  # the plan reads the processor's current options
    assert_same_as_hf(processor, generated_images()[:5])


def test_pickled_preprocessor_keeps_the_fast_path(vit_b32):
    pre = ImagePreprocessor(vit_b32)
    clone = pickle.loads(pickle.dumps(pre))
    assert clone.fast_plan is not None
    images = generated_images()[:4]
    assert torch.equal(clone(images), pre(images))


def test_bad_input_errors_are_unchanged():
    pre = ImagePreprocessor(small_image_processor(48))
    with pytest.raises(TypeError, match=r"images\[1\] is ndarray, expected a PIL.Image.Image"):
        pre([Image.new("RGB", (4, 4)), np.zeros((4, 4, 3), np.uint8)])
    with pytest.raises(ValueError, match="at least one image"):
        pre([])
    # A zero-sized image goes to HF, which raises as it always did.
    empty = Image.new("RGB", (0, 5))
    with pytest.raises(Exception) as fast_error:
        ImagePreprocessor(CLIPImageProcessorPil())([empty])
    with pytest.raises(Exception) as hf_error:
        hf_pixels(CLIPImageProcessorPil(), [empty])
    assert type(fast_error.value) is type(hf_error.value)


def test_real_catalog_images_match_exactly(real_parquet_dir, vit_b32):
    catalog = open_catalog(real_parquet_dir)
    products = []
    for product in catalog.products():
        products.append(product)
        if len(products) == 192:
            break
    images = [catalog.load_image(product) for product in products]
    for processor in (small_image_processor(48), vit_b32):
        pre = ImagePreprocessor(processor)
        assert pre.fast_plan is not None
        for start in range(0, len(images), 64):
            part = images[start:start + 64]
            torch.testing.assert_close(pre(part), hf_pixels(processor, part), rtol=0, atol=0)
        torch.testing.assert_close(pre(images[:1]), hf_pixels(processor, images[:1]), rtol=0, atol=0)
