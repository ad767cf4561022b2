"""Decoders for the on-disk formats: IDX (MNIST family), CIFAR binary records and CIFAR python pickles.

Every decoder checks the layout it relies on and raises `DataError` naming the file, so a truncated or
foreign file fails with a sentence instead of a reshape error deep inside numpy.
"""
from __future__ import annotations

import gzip
import io
import pickle
import zlib
from pathlib import Path
from typing import Any

import numpy as np

from shendu.errors import DataError

IDX_IMAGES = 2051  # magic of an IDX3 unsigned-byte file: 0x00 0x00 0x08 0x03
IDX_LABELS = 2049  # magic of an IDX1 unsigned-byte file: 0x00 0x00 0x08 0x01
CIFAR_RECORD = 1 + 3 * 32 * 32  # one label byte, then the R, G and B planes of 32×32, row-major


def read_bytes(path: Path) -> bytes:
    """The file's content, gunzipped when the name ends in `.gz`."""
    try:
        if path.name.endswith(".gz"):
            with gzip.open(path, "rb") as handle:
                return handle.read()
        return path.read_bytes()
    except (OSError, EOFError, zlib.error) as exc:
        raise DataError(f"cannot read {path}: {exc} (a truncated or non-gzip file?); "
                        "delete it or fetch it again") from None


def parse_idx(data: bytes, magic: int, source: str) -> np.ndarray:
    """An IDX unsigned-byte array (LeCun's format): big-endian magic, one uint32 per dimension, then bytes.

    Args:
        data: the uncompressed file content.
        magic: 2051 for images (3 dims), 2049 for labels (1 dim).
        source: file name for error messages.
    """
    ndim = magic & 0xFF
    header = 4 + 4 * ndim
    if len(data) < header:
        raise DataError(f"{source}: not an IDX file: {len(data)} bytes is shorter than its {header}-byte header")
    found = int.from_bytes(data[:4], "big")
    if found != magic:
        raise DataError(f"{source}: bad IDX header: expected magic number {magic}, received {found} "
                        "(wrong file, or not uncompressed?)")
    dims = tuple(int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    expected = header + int(np.prod(dims))
    if len(data) != expected:
        raise DataError(f"{source}: the IDX header announces {dims} = {expected:,} bytes, the file has "
                        f"{len(data):,} (truncated or padded)")
    # copy(): frombuffer views are read-only, and tensors made from them would warn on every use.
    return np.frombuffer(data, dtype=np.uint8, offset=header).reshape(dims).copy()


def read_idx_pair(images: Path, labels: Path, num_classes: int) -> tuple[np.ndarray, np.ndarray]:
    """Images (N, 1, H, W) uint8 and labels (N,) int64 from an IDX3 / IDX1 file pair."""
    x = parse_idx(read_bytes(images), IDX_IMAGES, images.name)
    y = parse_idx(read_bytes(labels), IDX_LABELS, labels.name).astype(np.int64)
    if len(x) != len(y):
        raise DataError(f"{images.name} holds {len(x):,} images but {labels.name} holds {len(y):,} labels")
    check_labels(y, num_classes, labels.name)
    return x[:, None], y  # (N, 1, H, W)


def check_labels(y: np.ndarray, num_classes: int, source: str) -> None:
    if len(y) and (int(y.min()) < 0 or int(y.max()) >= num_classes):
        raise DataError(f"{source}: labels must be in 0..{num_classes - 1}, found {int(y.min())}..{int(y.max())}")


def parse_cifar_records(data: bytes, source: str) -> tuple[np.ndarray, np.ndarray]:
    """CIFAR-10 binary-version records: images (N, 3, 32, 32) uint8 and labels (N,) int64."""
    if not data or len(data) % CIFAR_RECORD:
        raise DataError(f"{source}: not CIFAR-10 binary records: {len(data):,} bytes is not a positive multiple "
                        f"of the {CIFAR_RECORD:,}-byte record (1 label byte + 3,072 pixel bytes)")
    records = np.frombuffer(data, dtype=np.uint8).reshape(-1, CIFAR_RECORD)
    y = records[:, 0].astype(np.int64)
    check_labels(y, 10, source)
    x = records[:, 1:].reshape(-1, 3, 32, 32).copy()  # the planes are already channel-first: (N, C, H, W)
    return x, y


def parse_cifar_pickle(data: bytes, source: str) -> tuple[np.ndarray, np.ndarray]:
    """One batch of the CIFAR-10 python version (a pickled dict with 'data' (N, 3072) and 'labels')."""
    batch = restricted_unpickle(data, source)
    if not isinstance(batch, dict):
        raise DataError(f"{source}: expected a pickled dict, received {type(batch).__name__}")
    pixels, labels = _key(batch, "data", source), _key(batch, "labels", source)
    if not isinstance(pixels, np.ndarray) or pixels.dtype != np.uint8 or pixels.ndim != 2 or pixels.shape[1] != 3072:
        shape = getattr(pixels, "shape", None)
        raise DataError(f"{source}: 'data' should be a uint8 array of shape (N, 3072), received {shape}")
    y = np.asarray(labels, dtype=np.int64)
    if y.shape != (len(pixels),):
        raise DataError(f"{source}: {len(pixels):,} images but {y.size:,} labels")
    check_labels(y, 10, source)
    return np.ascontiguousarray(pixels.reshape(-1, 3, 32, 32)), y


def _key(batch: dict, key: str, source: str) -> Any:
    # The original pickles come from Python 2: keys arrive as str or bytes depending on the decoding.
    for candidate in (key, key.encode()):
        if candidate in batch:
            return batch[candidate]
    raise DataError(f"{source}: no {key!r} entry (found {sorted(map(str, batch))})")


def _numpy_reconstruct() -> Any:
    try:
        from numpy._core.multiarray import _reconstruct  # numpy >= 2
    except ImportError:  # pragma: no cover - numpy 1.x
        from numpy.core.multiarray import _reconstruct
    return _reconstruct


class _NumpyOnlyUnpickler(pickle.Unpickler):
    """Unpickles plain containers and numpy arrays, nothing else.

    `pickle.load` runs whatever callable a file names; a dataset file from a mirror must not be able
    to. These are the only globals a pickled numpy array needs (numpy 1 and 2 spell the module
    differently).
    """

    ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
    }

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in self.ALLOWED:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name}: only numpy arrays are allowed")
        if name == "_reconstruct":
            return _numpy_reconstruct()
        return np.ndarray if name == "ndarray" else np.dtype


def restricted_unpickle(data: bytes, source: str) -> Any:
    """Unpickle `data` allowing only builtin containers and numpy arrays; anything else is a DataError."""
    try:
        # latin1 turns Python 2 byte strings (the pixel buffers) back into the exact bytes.
        return _NumpyOnlyUnpickler(io.BytesIO(data), encoding="latin1").load()
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError, IndexError) as exc:
        raise DataError(f"{source}: not a CIFAR-10 python batch ({exc})") from None


def class_names_txt(data: bytes) -> list[str]:
    """Class names, one per line (CIFAR's batches.meta.txt); blank lines are dropped."""
    return [line.strip() for line in data.decode("utf-8", "replace").splitlines() if line.strip()]
