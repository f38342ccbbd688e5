"""Photo tags: detail words ("striped", "polo", "floral", "chronograph") predicted from a product's photo.

A small convolutional network sees the photo at the catalog's full 60x80 (the CLIP image tower of the
small preset sees a 48 px square) and learns, from the training products' names, which detail words
a photo shows. At ingest its confident words are stored with the product (`photo_tags`) and matched as
words like the name's (store/lexical.py), so a product whose name does not say "striped", or a catalog
without names at all, is still found by what its photo shows.

    vocabulary.py   the tags: detail words of the training names, grouped by the words' BM25 term
    network.py      the photo -> tag logits network and its pixel input
    tagger.py       PhotoTagger: load / save / predict, the artefact ingest and eval use
    training.py     the training job (config dataclass, loop, threshold chosen on the val split)
"""

from fashion_search.store.lexical import PHOTO_TAGS_KEY
from fashion_search.tagging.tagger import PhotoTagger, TaggerLoadError

__all__ = ["PHOTO_TAGS_KEY", "PhotoTagger", "TaggerLoadError"]
