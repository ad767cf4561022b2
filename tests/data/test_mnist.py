"""MNIST and Fashion-MNIST against the offline mirror's MANIFEST.md, plus the IDX decoder's errors."""
from __future__ import annotations

import gzip
from pathlib import Path

import pytest
import torch

from shendu.data import dataset_info, download, load_dataset
from shendu.data._download import cache_dir
from shendu.data._formats import read_idx_pair
from shendu.errors import DataError


def test_mnist_counts_and_first_labels(shared_data: Path) -> None:
    train, val, test = (load_dataset("mnist", s, progress=False) for s in ("train", "val", "test"))
    assert (len(train), len(val), len(test)) == (54_000, 6_000, 10_000)
    assert test.y[:10].tolist() == [7, 2, 1, 0, 4, 1, 4, 9, 5, 9]
    assert test.notes == [] and train.split_record["scheme"] == "official"


def test_mnist_label_counts_match_the_manifest(shared_data: Path) -> None:
    full = load_dataset("mnist", "train", val_fraction=0.0, progress=False)
    test = load_dataset("mnist", "test", progress=False)
    assert full.y[:10].tolist() == [5, 0, 4, 1, 9, 2, 1, 3, 1, 4]
    assert torch.bincount(full.y).tolist() == [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
    assert torch.bincount(test.y).tolist() == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
    assert full.x.shape == (60_000, 1, 28, 28)


def test_fashion_mnist_first_labels_and_classes(shared_data: Path) -> None:
    test = load_dataset("fashion_mnist", "test", progress=False)
    assert test.y[:10].tolist() == [9, 2, 1, 1, 6, 1, 4, 6, 5, 7]
    assert torch.bincount(test.y).tolist() == [1000] * 10
    assert test.classes[9] == "Ankle boot" and test.classes[0] == "T-shirt/top"
    full = load_dataset("fashion_mnist", "train", val_fraction=0.0, progress=False)
    assert full.y[:10].tolist() == [9, 0, 0, 3, 0, 2, 7, 2, 5, 5]


def test_a_local_mirror_is_read_in_place(shared_data: Path) -> None:
    paths = download("mnist", progress=False)
    assert [p.parent for p in paths] == [shared_data / "mnist"] * 4
    assert not cache_dir(dataset_info("mnist")).exists()  # nothing was copied


def _idx_gz(tmp_path: Path, name: str, payload: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(gzip.compress(payload))
    return path


def test_idx_with_a_bad_magic_number_names_the_file(tmp_path: Path) -> None:
    images = _idx_gz(tmp_path, "train-images-idx3-ubyte.gz", (2049).to_bytes(4, "big") + bytes(12))
    labels = _idx_gz(tmp_path, "train-labels-idx1-ubyte.gz", (2049).to_bytes(4, "big") + (0).to_bytes(4, "big"))
    with pytest.raises(DataError, match=r"train-images-idx3-ubyte.gz: bad IDX header: expected magic number 2051, "
                                        r"received 2049"):
        read_idx_pair(images, labels, 10)


def test_truncated_idx_and_non_gzip_are_data_errors(tmp_path: Path) -> None:
    header = (2051).to_bytes(4, "big") + b"".join(n.to_bytes(4, "big") for n in (2, 28, 28))
    images = _idx_gz(tmp_path, "t10k-images-idx3-ubyte.gz", header + bytes(784))  # one image of two
    labels = _idx_gz(tmp_path, "t10k-labels-idx1-ubyte.gz",
                     (2049).to_bytes(4, "big") + (2).to_bytes(4, "big") + b"\0\1")
    with pytest.raises(DataError, match=r"t10k-images-idx3-ubyte.gz: the IDX header announces \(2, 28, 28\)"):
        read_idx_pair(images, labels, 10)
    images.write_bytes(b"not gzip at all")
    with pytest.raises(DataError, match="cannot read .*t10k-images-idx3-ubyte.gz"):
        read_idx_pair(images, labels, 10)


def test_idx_pair_roundtrip_and_label_range(tmp_path: Path) -> None:
    pixels = bytes(range(256)) * 7  # 2 images of 28×28 = 1,568 bytes, within 1,792
    header = (2051).to_bytes(4, "big") + b"".join(n.to_bytes(4, "big") for n in (2, 28, 28))
    images = _idx_gz(tmp_path, "a-images.gz", header + pixels[:1568])
    labels = _idx_gz(tmp_path, "a-labels.gz", (2049).to_bytes(4, "big") + (2).to_bytes(4, "big") + b"\3\7")
    x, y = read_idx_pair(images, labels, 10)
    assert x.shape == (2, 1, 28, 28) and x[1, 0, 0, 0] == 784 % 256 and y.tolist() == [3, 7]
    bad = _idx_gz(tmp_path, "b-labels.gz", (2049).to_bytes(4, "big") + (2).to_bytes(4, "big") + b"\3\12")
    with pytest.raises(DataError, match=r"b-labels.gz: labels must be in 0..9, found 3..10"):
        read_idx_pair(images, bad, 10)
