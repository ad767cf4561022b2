"""CIFAR-10: the partial offline copy, both tarball formats, loose batch files and hostile pickles."""
from __future__ import annotations

import gzip
import hashlib
import io
import os
import pickle
import tarfile
from pathlib import Path

import numpy as np
import pytest
import torch

from shendu.data import DATASETS, PartialDatasetWarning, load_dataset
from shendu.data.cifar import CIFAR10, read_loose_batches
from shendu.errors import ChecksumError, DataError, DataMissingError

CLASSES_TXT = "".join(f"{c}\n" for c in CIFAR10.classes).encode()


def _records(n: int, seed: int) -> tuple[np.ndarray, np.ndarray, bytes]:
    """n random CIFAR images and labels, and the same as binary-version records."""
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 256, (n, 3, 32, 32), dtype=np.uint8)
    y = rng.integers(0, 10, n).astype(np.uint8)
    return x, y.astype(np.int64), np.concatenate([y[:, None], x.reshape(n, -1)], axis=1).tobytes()


def _tarball(path: Path, members: dict[str, bytes]) -> Path:
    with tarfile.open(path, "w:gz") as tar:
        for name, blob in members.items():
            entry = tarfile.TarInfo(name)
            entry.size = len(blob)
            tar.addfile(entry, io.BytesIO(blob))
    return path


def test_partial_mirror_copy_warns_and_notes(shared_data: Path) -> None:
    with pytest.warns(PartialDatasetWarning, match=r"cifar10 is partial: 4,000 of 50,000 train images.*"
                                                   r"1,000 of 10,000 test images \(mirror .*cifar10\)"):
        train = load_dataset("cifar10", "train", val_fraction=0.0, progress=False)
    assert "partial: 4,000 of 50,000 train images" in train.notes
    assert "partial: 1,000 of 10,000 test images" in train.notes
    assert [train.classes[i] for i in train.y[:5]] == ["frog", "truck", "truck", "deer", "automobile"]
    assert train.y[:5].tolist() == [6, 9, 9, 4, 1]
    assert torch.bincount(train.y).tolist() == [396, 366, 420, 384, 422, 393, 414, 385, 407, 413]


def test_partial_mirror_copy_is_pixel_exact(shared_data: Path) -> None:
    # Re-encoding our tensors as binary records must give the payload hashes listed in MANIFEST.md.
    with pytest.warns(PartialDatasetWarning):
        train = load_dataset("cifar10", "train", val_fraction=0.0, progress=False)
        test = load_dataset("cifar10", "test", progress=False)
        carved = load_dataset("cifar10", "train", progress=False)
    for data, sha in ((train, "0993cf8b8e43bc207603aef9787006995746513f5e3fa5a52e06d1b069926330"),
                      (test, "8314c96d7cd65618193bab23acdd5d4c4af15bf6dd00a1781d55beedf3be1ef5")):
        records = torch.cat([data.y[:, None].to(torch.uint8), data.x.reshape(len(data), -1)], dim=1)
        assert hashlib.sha256(records.numpy().tobytes()).hexdigest() == sha
    assert test.y[:5].tolist() == [3, 8, 8, 0, 6]  # cat, ship, ship, airplane, frog
    assert (len(carved), len(test)) == (3_600, 1_000)


def test_binary_tarball(tmp_path: Path) -> None:
    batches = {f"data_batch_{i}": _records(3, i) for i in range(1, 6)} | {"test_batch": _records(2, 9)}
    members = {f"cifar-10-batches-bin/{k}.bin": v[2] for k, v in batches.items()}
    path = _tarball(tmp_path / "cifar-10-binary.tar.gz", members | {"cifar-10-batches-bin/batches.meta.txt":
                                                                    CLASSES_TXT + b"\n"})
    splits = DATASETS.get("cifar10")([path])
    expected = np.concatenate([batches[f"data_batch_{i}"][0] for i in range(1, 6)])
    np.testing.assert_array_equal(splits["train"][0], expected)
    np.testing.assert_array_equal(splits["test"][1], batches["test_batch"][1])


def _py2_style_pickle(obj: object) -> bytes:
    # Protocol 3 has no framing, so the module name can be edited in place: the original (Python 2)
    # files name numpy 1's module, which numpy 2 no longer has.
    blob = pickle.dumps(obj, protocol=3)
    return blob.replace(b"numpy._core.multiarray", b"numpy.core.multiarray")


def test_python_tarball_with_the_restricted_unpickler(tmp_path: Path) -> None:
    batches = {f"data_batch_{i}": _records(3, i) for i in range(1, 6)} | {"test_batch": _records(2, 9)}
    members = {f"cifar-10-batches-py/{k}": _py2_style_pickle({b"data": x.reshape(len(x), -1), b"labels": y.tolist()})
               for k, (x, y, _) in batches.items()}
    members["cifar-10-batches-py/batches.meta"] = pickle.dumps({"label_names": list(CIFAR10.classes)}, protocol=3)
    splits = DATASETS.get("cifar10")([_tarball(tmp_path / "cifar-10-python.tar.gz", members)])
    np.testing.assert_array_equal(splits["test"][0], batches["test_batch"][0])
    np.testing.assert_array_equal(splits["train"][1][:3], batches["data_batch_1"][1])


class _Exploit:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_a_pickle_calling_anything_but_numpy_is_refused(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    members = {f"cifar-10-batches-py/data_batch_{i}": pickle.dumps({"data": _Exploit(marker)}) for i in range(1, 6)}
    members |= {"cifar-10-batches-py/test_batch": b"", "cifar-10-batches-py/batches.meta": b""}
    with pytest.raises(DataError, match=r"data_batch_1: not a CIFAR-10 python batch \(refusing to load "
                                        r"(posix|nt)\.system"):
        DATASETS.get("cifar10")([_tarball(tmp_path / "cifar-10-python.tar.gz", members)])
    assert not marker.exists()


def test_loose_extracted_batches_in_a_local_mirror(tmp_path: Path) -> None:
    folder = tmp_path / "mirror" / "cifar10"
    folder.mkdir(parents=True)
    x_train, y_train, blob = _records(100, 1)
    (folder / "data_batch_1.bin").write_bytes(blob)
    (folder / "test_batch.bin.gz").write_bytes(gzip.compress(_records(50, 2)[2]))
    (folder / "batches.meta.txt").write_bytes(CLASSES_TXT)
    with pytest.warns(PartialDatasetWarning, match="100 of 50,000 train images"):
        train = load_dataset("cifar10", "train", val_fraction=0.0, mirror=str(tmp_path / "mirror"), progress=False)
    assert torch.equal(train.x, torch.from_numpy(x_train)) and torch.equal(train.y, torch.from_numpy(y_train))
    assert "partial: 50 of 10,000 test images" in train.notes


def test_full_batch_file_wins_over_a_partial_piece(tmp_path: Path) -> None:
    (tmp_path / "data_batch_1.bin").write_bytes(_records(5, 1)[2])
    (tmp_path / "data_batch_1_first3.bin.gz").write_bytes(gzip.compress(_records(3, 1)[2]))
    (tmp_path / "test_batch_first2.bin.gz").write_bytes(gzip.compress(_records(2, 3)[2]))
    splits = read_loose_batches(sorted(tmp_path.iterdir()))
    assert len(splits["train"][1]) == 5 and len(splits["test"][1]) == 2


@pytest.mark.parametrize("blob, message", [
    (bytes(3074), r"data_batch_1.bin: not CIFAR-10 binary records: 3,074 bytes"),
    (bytes([10]) + bytes(3072), r"data_batch_1.bin: labels must be in 0..9, found 10..10"),
])
def test_loose_files_with_a_bad_layout_name_the_file(tmp_path: Path, blob: bytes, message: str) -> None:
    folder = tmp_path / "cifar10"
    folder.mkdir()
    (folder / "data_batch_1.bin").write_bytes(blob)
    (folder / "test_batch.bin").write_bytes(_records(1, 0)[2])
    with pytest.raises(DataError, match=message):
        load_dataset("cifar10", mirror=str(tmp_path), progress=False)


def test_loose_files_without_a_test_batch(tmp_path: Path) -> None:
    (tmp_path / "cifar10").mkdir()
    (tmp_path / "cifar10" / "data_batch_2.bin").write_bytes(_records(1, 0)[2])
    with pytest.raises(DataMissingError, match=r"holds data_batch_2.bin but not the test batch"):
        load_dataset("cifar10", mirror=str(tmp_path), progress=False)


def test_wrong_class_names_file(tmp_path: Path) -> None:
    (tmp_path / "cifar10").mkdir()
    for name in ("data_batch_1.bin", "test_batch.bin"):
        (tmp_path / "cifar10" / name).write_bytes(_records(1, 0)[2])
    (tmp_path / "cifar10" / "batches.meta.txt").write_text("apple\naquarium_fish\n")
    with pytest.raises(DataError, match="class names .* differ from CIFAR-10's"):
        load_dataset("cifar10", mirror=str(tmp_path), progress=False)


def test_corrupt_known_piece_in_a_local_mirror_is_reported_and_left_alone(tmp_path: Path) -> None:
    folder = tmp_path / "cifar10"
    folder.mkdir()
    bad = folder / "test_batch_first1000.bin.gz"
    bad.write_bytes(gzip.compress(_records(10, 0)[2]))
    (folder / "data_batch_1.bin").write_bytes(_records(1, 0)[2])
    with pytest.raises(ChecksumError, match=r"test_batch_first1000.bin.gz from the mirror folder.*expected sha256 "
                                            r"ca9ff0155579ff50.*left in place"):
        load_dataset("cifar10", mirror=str(tmp_path), progress=False)
    assert bad.exists()


def test_partial_copy_from_an_http_mirror_is_cached(shared_data: Path, serve) -> None:
    server = serve(shared_data)
    with pytest.warns(PartialDatasetWarning, match=r"\(cache "):
        test = load_dataset("cifar10", "test", mirror=server.url, progress=False)
    assert len(test) == 1_000
    # The tarballs are asked for first (404), then the partial pieces.
    assert server.requests[:2] == ["/cifar10/cifar-10-binary.tar.gz", "/cifar10/cifar-10-python.tar.gz"]
    seen = len(server.requests)
    with pytest.warns(PartialDatasetWarning):
        load_dataset("cifar10", "train", mirror=server.url, progress=False)
    assert len(server.requests) == seen
