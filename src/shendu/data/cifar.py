"""CIFAR-10: 60,000 32×32 colour images in 10 classes, 50,000 train (five batches) and 10,000 test.

Accepted, in order of preference: the binary tarball (canonical download), the python tarball (its
pickles are read with a numpy-only unpickler), or loose batch files in the cache or a local mirror
folder: extracted `data_batch_N.bin` / `test_batch.bin`, or gzip'd pieces such as
`data_batch_1_first4000.bin.gz` (the offline mirror's partial copy). Fewer images than the official
counts are allowed; loading then warns and notes it (`PartialDatasetWarning`).
"""
from __future__ import annotations

import re
import tarfile
from pathlib import Path

import numpy as np

from shendu.data._api import DATASETS, Splits
from shendu.data._formats import (class_names_txt, parse_cifar_pickle, parse_cifar_records, read_bytes,
                                  restricted_unpickle)
from shendu.data._types import DatasetInfo, RemoteFile
from shendu.errors import DataError, DataMissingError

BINARY_TARBALL = RemoteFile("cifar-10-binary.tar.gz", ("https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz",),
                            sha256=None, md5="c32a1d4ab5d03f1284b67883e8d87530", size=170_052_171)
# Accepted when already cached or mirrored; never downloaded (the binary tarball is the canonical download).
PYTHON_TARBALL = RemoteFile("cifar-10-python.tar.gz", (), sha256=None, md5="c58f30108f718f92721af3b95e74349a",
                            size=170_498_071)
# The offline mirror's partial copy (first 4,000 train and 1,000 test images); hashes from its MANIFEST.md.
MIRROR_PARTIAL = (
    RemoteFile("data_batch_1_first4000.bin.gz", (),
               "d4fcfde6a2da4c80690f2ccfa903dfde5b39e57a2d0afa7e29f58b407c397713", None, 11_316_918),
    RemoteFile("test_batch_first1000.bin.gz", (),
               "ca9ff0155579ff50ee9088a939f8d4a4549fe7839762bff24a46965fb4c5be78", None, 2_825_834),
)
LOOSE_BATCHES = ("data_batch_[1-5]*.bin", "data_batch_[1-5]*.bin.gz", "test_batch*.bin", "test_batch*.bin.gz")
_TRAIN_BATCHES = tuple(f"data_batch_{i}" for i in range(1, 6))
_BATCH = re.compile(r"^(data_batch_[1-5]|test_batch)")

CIFAR10 = DatasetInfo(
    name="cifar10",
    title="CIFAR-10",
    modality="image",
    classes=("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"),
    input_shape=(3, 32, 32),
    source="https://www.cs.toronto.edu/~kriz/cifar.html",
    files=(BINARY_TARBALL,),
    mirror_dir="cifar10",
    license="no licence stated; the authors ask users to cite the technical report",
    citation="A. Krizhevsky. Learning Multiple Layers of Features from Tiny Images. Technical report, "
             "University of Toronto, 2009.",
    official_splits=("train", "test"),
    sizes={"train": 50_000, "test": 10_000},
)


@DATASETS.register("cifar10", modality="image", info=CIFAR10, alternatives=((PYTHON_TARBALL,), MIRROR_PARTIAL),
                   loose=LOOSE_BATCHES)
def cifar10(paths: list[Path]) -> Splits:
    """Train and test from a tarball (binary or python version) or from loose batch files."""
    if len(paths) == 1 and paths[0].name.endswith((".tar.gz", ".tgz", ".tar")):
        return read_tarball(paths[0])
    return read_loose_batches(paths)


def read_tarball(path: Path) -> Splits:
    """All six batches from an official tarball; members are read in memory, nothing is extracted."""
    try:
        with tarfile.open(path, "r:*") as tar:
            members = {Path(m.name).name: m for m in tar.getmembers() if m.isfile()}
            binary = "data_batch_1.bin" in members
            suffix, meta = (".bin", "batches.meta.txt") if binary else ("", "batches.meta")
            wanted = [*(b + suffix for b in _TRAIN_BATCHES), "test_batch" + suffix, meta]
            absent = [name for name in wanted if name not in members]
            if absent:
                raise DataError(f"{path.name}: not a CIFAR-10 tarball, it lacks {', '.join(absent)}")
            blobs = {name: tar.extractfile(members[name]).read() for name in wanted}  # type: ignore[union-attr]
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise DataError(f"cannot read {path}: {exc} (a truncated download?); delete it and fetch it again") from None
    parse = parse_cifar_records if binary else parse_cifar_pickle
    parts = {name: parse(blobs[name], f"{path.name}:{name}") for name in wanted[:-1]}
    _check_classes(_meta_classes(blobs[meta], binary, path.name), f"{path.name}:{meta}")
    return {"train": _concat([parts[b + suffix] for b in _TRAIN_BATCHES]), "test": parts["test_batch" + suffix]}


def read_loose_batches(paths: list[Path]) -> Splits:
    """Extracted or partial batch files; per batch the full file wins over pieces, then the largest piece."""
    chosen: dict[str, Path] = {}
    for path in sorted(paths, key=lambda p: p.stat().st_size, reverse=True):
        match = _BATCH.match(path.name)
        if match is None:
            continue
        stem = match.group(1)
        full = path.name in (stem + ".bin", stem + ".bin.gz")
        if stem not in chosen or (full and chosen[stem].name not in (stem + ".bin", stem + ".bin.gz")):
            chosen[stem] = path
    train = [chosen[b] for b in _TRAIN_BATCHES if b in chosen]
    if not train or "test_batch" not in chosen:
        where = ", ".join(sorted({str(p.parent) for p in paths}))
        lacking = "a training batch (data_batch_N.bin)" if not train else "the test batch (test_batch.bin)"
        raise DataMissingError(f"cifar10: {where} holds {', '.join(sorted(p.name for p in paths))} but not "
                               f"{lacking}; add it, or the tarball cifar-10-binary.tar.gz")
    meta = train[0].parent / "batches.meta.txt"
    if meta.is_file():
        _check_classes(class_names_txt(meta.read_bytes()), str(meta))
    test = chosen["test_batch"]
    return {"train": _concat([parse_cifar_records(read_bytes(p), p.name) for p in train]),
            "test": parse_cifar_records(read_bytes(test), test.name)}


def _concat(parts: list[tuple[np.ndarray, np.ndarray]]) -> tuple[np.ndarray, np.ndarray]:
    return np.concatenate([x for x, _ in parts]), np.concatenate([y for _, y in parts])


def _meta_classes(blob: bytes, binary: bool, source: str) -> list[str]:
    if binary:
        return class_names_txt(blob)
    meta = restricted_unpickle(blob, f"{source}:batches.meta")
    names = meta.get("label_names", meta.get(b"label_names")) if isinstance(meta, dict) else None
    if not isinstance(names, list):
        raise DataError(f"{source}:batches.meta has no 'label_names' list")
    return [n.decode() if isinstance(n, bytes) else str(n) for n in names]


def _check_classes(names: list[str], source: str) -> None:
    if tuple(names) != CIFAR10.classes:
        raise DataError(f"{source}: class names {names} differ from CIFAR-10's {list(CIFAR10.classes)} "
                        "(a CIFAR-100 file, or another dataset?)")
