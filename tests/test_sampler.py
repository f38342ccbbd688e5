"""EpochShuffleSampler: plain and same-articleType-grouped epochs are permutations fixed by (seed, epoch)."""

from __future__ import annotations

import pytest
import torch

from fashion_search.training.config import ConfigError, TrainConfig
from fashion_search.training.data import EpochShuffleSampler

LABELS = [f"type{i % 5}" for i in range(160)]  # 5 types x 32 products


def _epoch(sampler: EpochShuffleSampler, epoch: int) -> list[int]:
    sampler.set_epoch(epoch)
    return list(sampler)


def _adjacent_same(order: list[int]) -> int:
    return sum(LABELS[a] == LABELS[b] for a, b in zip(order, order[1:]))


def test_plain_shuffle_is_unchanged_by_the_grouping_option():
    plain = EpochShuffleSampler(160, seed=3)
    labelled_but_off = EpochShuffleSampler(160, seed=3, groups=LABELS, group_fraction=0.0)
    expected = torch.randperm(160, generator=torch.Generator().manual_seed(3 * 100_003 + 2)).tolist()
    assert _epoch(plain, 2) == _epoch(labelled_but_off, 2) == expected


def test_fully_grouped_epoch_is_blocks_of_one_type():
    sampler = EpochShuffleSampler(160, seed=0, groups=LABELS, group_fraction=1.0, group_size=8)
    order = _epoch(sampler, 0)
    assert sorted(order) == list(range(160))
    # 32 per type is a multiple of 8, so every unit is a full block of 8 and blocks start at multiples of 8.
    for start in range(0, 160, 8):
        assert len({LABELS[i] for i in order[start:start + 8]}) == 1, order[start:start + 8]


def test_half_grouped_epoch_mixes_runs_and_singles_deterministically():
    sampler = EpochShuffleSampler(160, seed=0, groups=LABELS, group_fraction=0.5, group_size=8)
    first, again, other_epoch = _epoch(sampler, 1), _epoch(sampler, 1), _epoch(sampler, 2)
    assert sorted(first) == list(range(160))
    assert first == again and first != other_epoch
    plain = _epoch(EpochShuffleSampler(160, seed=0), 1)
    # ~80 grouped items in runs of up to 8 give >= 50 same-type neighbours; a plain shuffle of 5 types ~32.
    assert _adjacent_same(first) >= 50 > _adjacent_same(plain)


def test_bad_grouping_is_refused():
    with pytest.raises(ValueError, match="labels"):
        EpochShuffleSampler(10, seed=0, groups=LABELS)
    with pytest.raises(ValueError, match="group_fraction"):
        EpochShuffleSampler(160, seed=0, groups=LABELS, group_fraction=1.5)


def test_config_names_the_grouping_flags(tmp_path):
    catalog = tmp_path / "styles.csv"
    for kwargs, flag in (({"group_fraction": -0.1}, "--group-fraction"), ({"group_size": 0}, "--group-size")):
        with pytest.raises(ConfigError, match=flag):
            TrainConfig(model="small", catalog=str(catalog), **kwargs)
