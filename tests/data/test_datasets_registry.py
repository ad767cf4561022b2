"""Every registered image dataset, the moment it is registered: its info is complete and its splits are
disjoint, deterministic, correctly typed and add up."""
from __future__ import annotations

import json
import warnings

import pytest
import torch

from shendu.data import DATASETS, PartialDatasetWarning, dataset_info, list_datasets, load_dataset

# Image datasets; the text ones (strings, per-split files, stratified splits) are parametrized the same way in
# tests/data/test_text_datasets.py.
NAMES = [name for name in DATASETS.names() if dataset_info(name).modality == "image"]


@pytest.fixture
def loadable(request: pytest.FixtureRequest) -> str:
    """The dataset name; datasets with files need the offline mirror (skip with a reason without it)."""
    name = request.param
    if dataset_info(name).files:
        request.getfixturevalue("shared_data")
    return name


def _load(name: str, split: str, **kwargs) -> object:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PartialDatasetWarning)  # cifar10's mirror copy is partial on purpose
        return load_dataset(name, split, progress=False, **kwargs)


@pytest.mark.parametrize("name", NAMES)
def test_info_is_complete(name: str) -> None:
    info = dataset_info(name)
    assert info.name == name
    assert info.title and info.license and info.citation and info.mirror_dir
    assert info.source.startswith(("http://", "https://"))
    assert info.modality in ("image", "text")
    assert info.num_classes == len(info.classes) == len(set(info.classes)) >= 2
    assert len(info.input_shape) == 3 and all(d > 0 for d in info.input_shape)
    assert info.official_splits in ((), ("train", "test"))
    assert set(info.sizes) == set(info.official_splits or ("all",))
    for remote in info.files:  # canonical files can be downloaded and verified
        assert remote.urls and remote.digest is not None, remote.filename
    assert info in list_datasets()
    json.dumps(info.sizes)


@pytest.mark.parametrize("loadable", NAMES, indirect=True)
def test_splits_are_typed_disjoint_and_add_up(loadable: str) -> None:
    info = dataset_info(loadable)
    train, val, test = (_load(loadable, s) for s in ("train", "val", "test"))
    for part in (train, val, test):
        assert part.x.dtype == torch.uint8 and tuple(part.x.shape[1:]) == info.input_shape
        assert part.y.dtype == torch.int64 and part.y.shape == (len(part.x),)
        assert 0 <= int(part.y.min()) and int(part.y.max()) < info.num_classes
        assert part.classes == info.classes and part.split_record["counts"] == {
            "train": len(train), "val": len(val), "test": len(test)}
    if info.official_splits:
        n = len(train) + len(val)  # train and val together are exactly the official train set
        assert torch.equal(torch.cat([train.index, val.index]).sort().values, torch.arange(n))
        assert len(val) == round(0.1 * n)
        assert torch.equal(test.index, torch.arange(len(test)))
        assert train.split_record["scheme"] == "official"
    else:
        everything = torch.cat([train.index, val.index, test.index]).sort().values
        assert torch.equal(everything, torch.arange(info.sizes["all"]))
        assert train.split_record["scheme"] == "seeded 80/10/10"


@pytest.mark.parametrize("loadable", NAMES, indirect=True)
def test_same_seed_same_split_other_seed_other_split(loadable: str) -> None:
    first, again = _load(loadable, "val", seed=0), _load(loadable, "val", seed=0)
    other = _load(loadable, "val", seed=1)
    assert torch.equal(first.index, again.index) and torch.equal(first.x, again.x)
    assert not torch.equal(first.index, other.index)
    assert first.split_record["seed"] == 0 and other.split_record["seed"] == 1


@pytest.mark.parametrize("loadable", NAMES, indirect=True)
def test_split_record_is_json_and_zero_val_keeps_everything(loadable: str) -> None:
    full = _load(loadable, "train", val_fraction=0.0)
    val = _load(loadable, "val", val_fraction=0.0)
    record = json.loads(json.dumps(full.split_record))
    assert record["val_fraction"] == 0.0 and record["counts"]["val"] == len(val) == 0
    assert record["dataset"] == loadable
    if dataset_info(loadable).official_splits:
        assert torch.equal(full.index, torch.arange(len(full)))  # the whole official train set, in file order
