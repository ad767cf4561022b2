"""The public surface of shendu.data: names, errors a user sees, the digits set, ArrayDataset."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.datasets import load_digits

import shendu.data
from shendu.data import ArrayDataset, dataset_info, download, load_dataset
from shendu.data import _api
from shendu.errors import BadInputError, DataError, UnknownNameError


def test_public_names() -> None:
    assert set(shendu.data.__all__) == {"DATASETS", "DatasetInfo", "RemoteFile", "ArrayDataset",
                                        "PartialDatasetWarning", "load_dataset", "list_datasets", "dataset_info",
                                        "download", "TextDataset", "SkippedRowsWarning", "concat_datasets"}
    assert {"digits", "mnist", "fashion_mnist", "cifar10"} <= set(shendu.data.DATASETS.names())


@pytest.mark.parametrize("call", [lambda: load_dataset("mnsit"), lambda: dataset_info("mnsit"),
                                  lambda: download("mnsit")])
def test_unknown_dataset_suggests_the_nearest(call) -> None:
    with pytest.raises(UnknownNameError) as err:
        call()
    assert "did you mean 'mnist'" in str(err.value)
    assert "digits" in str(err.value)  # the valid names are listed


def test_unknown_split_lists_the_valid_ones() -> None:
    with pytest.raises(BadInputError, match=r"unknown split 'valid'.*train, val, test"):
        load_dataset("digits", "valid")


@pytest.mark.parametrize("fraction", [-0.1, 0.95, float("nan"), True, "0.1"])
def test_val_fraction_out_of_range(fraction) -> None:
    with pytest.raises(BadInputError, match="val_fraction must be a number from 0 to 0.9"):
        load_dataset("digits", val_fraction=fraction)


def test_val_fraction_that_leaves_no_training_data() -> None:
    with pytest.raises(BadInputError, match="leaves no training samples"):
        load_dataset("digits", val_fraction=0.9)


def test_digits_pixels_match_sklearn_rescaled_to_0_255() -> None:
    reference = load_digits()
    full = torch.cat([load_dataset("digits", s).index for s in ("train", "val", "test")])
    train = load_dataset("digits", "train")
    expected = np.floor(reference.images[train.index.numpy()] * 255 / 16 + 0.5)  # round half up
    np.testing.assert_array_equal(train.x[:, 0].numpy(), expected)
    np.testing.assert_array_equal(train.y.numpy(), reference.target[train.index.numpy()])
    assert int(train.x.max()) == 255 and len(full) == 1797
    assert train.classes == tuple("0123456789")


def test_digits_split_is_stable_across_releases() -> None:
    # Pinned positions: if torch's seeded randperm ever changes, stored runs' splits no longer match.
    val, test = load_dataset("digits", "val"), load_dataset("digits", "test")
    assert val.index[:8].tolist() == [14, 22, 33, 39, 42, 44, 47, 53]
    assert test.index[:8].tolist() == [10, 21, 26, 27, 34, 46, 84, 92]
    assert (len(load_dataset("digits", "train")), len(val), len(test)) == (1437, 180, 180)


def test_changing_val_fraction_keeps_the_test_set() -> None:
    a = load_dataset("digits", "test", val_fraction=0.1)
    b = load_dataset("digits", "test", val_fraction=0.3)
    assert torch.equal(a.index, b.index)
    assert load_dataset("digits", "train", val_fraction=0.3).split_record["scheme"] == "seeded 60/30/10"


def test_train_val_test_decode_the_files_once() -> None:
    _api._decode.cache_clear()
    for split in ("train", "val", "test"):
        load_dataset("digits", split)
    info = _api._decode.cache_info()
    assert (info.misses, info.hits) == (1, 2)


def test_loaded_tensors_are_independent_of_the_cache() -> None:
    first = load_dataset("digits", "test")
    first.x.zero_()
    assert int(load_dataset("digits", "test").x.max()) == 255


def test_array_dataset_subset_getitem_repr() -> None:
    data = load_dataset("digits", "train")
    part = data.subset([0, 2, 4])
    assert len(part) == 3 and torch.equal(part.y, data.y[[0, 2, 4]])
    assert torch.equal(part.index, data.index[[0, 2, 4]])
    assert part.notes[-1] == "subset: 3 of 1,437 train samples" and data.notes == []
    x, y = data[1]
    assert x.shape == (1, 8, 8) and y == data.y[1]
    assert repr(data) == "ArrayDataset('digits', split='train', 1,437 samples of (1, 8, 8), 10 classes)"
    with pytest.raises(BadInputError, match=r"positions must be in \[0, 1437\)"):
        data.subset([5000])


def test_array_dataset_rejects_wrong_arrays() -> None:
    info = dataset_info("digits")
    with pytest.raises(BadInputError, match="expected uint8 images"):
        ArrayDataset(torch.zeros(2, 1, 8, 8), torch.zeros(2, dtype=torch.int64), info, "train")
    with pytest.raises(BadInputError, match="x has 2 samples but y has 3"):
        ArrayDataset(torch.zeros(2, 1, 8, 8, dtype=torch.uint8), torch.zeros(3, dtype=torch.int64), info, "train")
    with pytest.raises(BadInputError, match="expected int64"):
        ArrayDataset(torch.zeros(2, 1, 8, 8, dtype=torch.uint8), torch.zeros(2), info, "train")


def test_reader_returning_bad_shapes_is_a_data_error(monkeypatch: pytest.MonkeyPatch) -> None:
    # A plugin's reader that returns the wrong image size fails with the dataset's name, not in the trainer.
    bad = {"all": (np.zeros((4, 1, 9, 9), np.uint8), np.zeros(4, np.int64))}
    monkeypatch.setitem(shendu.data.DATASETS._items, "digits", lambda paths: bad)
    _api._decode.cache_clear()
    try:
        with pytest.raises(DataError, match=r"dataset 'digits'.*shape \(N, 1, 8, 8\)"):
            load_dataset("digits")
    finally:
        _api._decode.cache_clear()


def test_download_of_a_bundled_dataset_is_empty() -> None:
    assert download("digits", progress=False) == []
