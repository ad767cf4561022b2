"""The dataset registry and the functions the trainer, CLI and users call.

A dataset is a registered reader function plus its `DatasetInfo` (given as registration metadata):

    @DATASETS.register("mnist", modality="image", info=MNIST)
    def mnist(paths: list[Path]) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        ...

The reader receives the verified local files and returns uint8 samples and integer labels per
official split ("train", "test"), or under "all" when the source defines no split. Splitting,
partial-data notes, caching and downloads are done here, the same way for every dataset.

Text datasets (`modality="text"`) register a reader of one split at a time and are loaded, split and cached
by `_textsplit` (seeded stratified splits; files fetched per split); they return a `TextDataset`.
"""
from __future__ import annotations

import functools
import os
import warnings
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from shendu._registry import Registry
from shendu.data import _download
from shendu.data._types import ArrayDataset, DatasetInfo, PartialDatasetWarning, TextDataset
from shendu.errors import BadInputError, DataError

Splits = dict[str, tuple[np.ndarray, np.ndarray]]
Reader = Callable[[list[Path]], Splits]

DATASETS: Registry[Reader] = Registry("dataset")

SPLITS = ("train", "val", "test")
MAX_VAL_FRACTION = 0.9
TEST_FRACTION = 0.1  # held-out test share for datasets whose source defines no split (digits)


def dataset_info(name: str) -> DatasetInfo:
    """The `DatasetInfo` of a registered dataset; an unknown name raises with a did-you-mean."""
    DATASETS.get(name)
    info = DATASETS.meta(name).get("info")
    if not isinstance(info, DatasetInfo):
        raise DataError(f"dataset {name!r} was registered without info=DatasetInfo(...)")
    return info


def list_datasets() -> list[DatasetInfo]:
    """Every registered dataset, by name."""
    return [dataset_info(name) for name in DATASETS.names()]


def download(name: str, mirror: str | os.PathLike | None = None, progress: bool = True) -> list[Path]:
    """Make sure the files of dataset `name` are present and verified; returns their paths.

    Files in a local mirror folder are verified and returned in place; anything else lands in
    `SHENDU_HOME/cache/datasets/`. Datasets bundled with a package (digits) have no files: [].
    """
    return _files(name, mirror, download=True, progress=progress)


def load_dataset(name: str, split: str = "train", *, val_fraction: float = 0.1, seed: int = 0,
                 mirror: str | os.PathLike | None = None, download: bool = True, progress: bool = True,
                 train_split: str | None = None, path: str | os.PathLike | None = None,
                 test_path: str | os.PathLike | None = None, text_column: str = "text",
                 label_column: str = "label") -> ArrayDataset | TextDataset:
    """Load one split of a registered dataset into memory.

    With official train/test splits, "test" is the official test set and a seeded `val_fraction` of
    the official train set becomes "val" (the rest is "train"). Without them (digits), a seeded 10%
    is "test", `val_fraction` of the whole is "val" and the rest "train" (80/10/10 by default).
    The same `seed` gives the same split on every call and machine. Text datasets return a `TextDataset`
    of strings; their carved splits are stratified, and an official "dev" split is their "val".

    Args:
        name: registry name, e.g. "mnist" (see `list_datasets()`); "csv" / "jsonl" for your own text file.
        split: "train", "val" or "test".
        val_fraction: share held out for validation, 0 to 0.9.
        seed: seed of the split permutation.
        mirror: dataset mirror (local folder or http(s) URL); default SHENDU_DATA_MIRROR.
        download: allow network access when the files are not cached or mirrored.
        progress: show a progress bar while downloading.
        train_split: text datasets: the official split to train on (e.g. "dev" for thucnews_titles, whose
            train split the mirror lacks); default "train".
        path: "csv" / "jsonl": your file of texts and labels.
        test_path: "csv" / "jsonl": an optional separate test file (else a seeded stratified 10% is test).
        text_column: "csv" / "jsonl": the column (key) holding the text.
        label_column: "csv" / "jsonl": the column (key) holding the label.

    Raises:
        UnknownNameError: no such dataset.
        BadInputError: unknown split, or val_fraction / seed out of range, or text options for an image dataset.
        DataMissingError: the files are not available (offline without a mirror).
        ChecksumError: a file does not match its published hash.
    """
    info = dataset_info(name)
    _check_args(info, split, val_fraction, seed)
    if info.modality == "text":
        from shendu.data import _textsplit

        return _textsplit.load(name, split, val_fraction=val_fraction, seed=seed, mirror=mirror, download=download,
                               progress=progress, train_split=train_split, path=path, test_path=test_path,
                               text_column=text_column, label_column=label_column)
    if train_split is not None or path is not None or test_path is not None:
        raise BadInputError(f"train_split, path and test_path are for text datasets; {name!r} is an image dataset "
                            "(remove them, or pick a text dataset: see `shendu data list`)")
    paths = _files(name, mirror, download=download, progress=progress)
    decoded = _decode(name, _fingerprint(paths))
    counts = {key: len(y) for key, (_, y) in decoded.items()}
    plan = _split_plan(info, counts, val_fraction, seed)
    record = _split_record(info, plan, val_fraction, seed)
    notes = _partial_notes(info, counts)
    if notes:
        shown = "; ".join(note.removeprefix("partial: ") for note in notes)
        warnings.warn(f"{name} is partial: {shown} ({_origin(info, paths)}); results are not comparable with "
                      "published numbers", PartialDatasetWarning, stacklevel=2)
    source, index = plan[split]
    x, y = decoded[source]
    return ArrayDataset(x[index], y[index], info, split, notes, record, index)


def _check_args(info: DatasetInfo, split: str, val_fraction: float, seed: int) -> None:
    if split not in SPLITS:
        raise BadInputError(f"unknown split {split!r} for dataset {info.name!r} (valid: {', '.join(SPLITS)})")
    number = isinstance(val_fraction, (int, float)) and not isinstance(val_fraction, bool)
    if not (number and 0.0 <= val_fraction <= MAX_VAL_FRACTION):  # also rejects NaN
        raise BadInputError(f"val_fraction must be a number from 0 to {MAX_VAL_FRACTION} (the share of the training "
                            f"data held out for validation), received {val_fraction!r}")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise BadInputError(f"seed must be a non-negative integer, received {seed!r}")


def _files(name: str, mirror: str | os.PathLike | None, *, download: bool, progress: bool) -> list[Path]:
    meta = DATASETS.meta(name)
    return _download.fetch(dataset_info(name), alternatives=meta.get("alternatives", ()),
                           loose=meta.get("loose", ()), mirror=mirror, download=download, progress=progress)


def _fingerprint(paths: list[Path]) -> tuple[tuple[str, int, int], ...]:
    """Identifies the exact files read, so the decode cache never serves data from other files."""
    stats = [(str(p.resolve()), p.stat()) for p in paths]
    return tuple((path, stat.st_size, stat.st_mtime_ns) for path, stat in stats)


@functools.lru_cache(maxsize=4)
def _decode(name: str, fingerprint: tuple[tuple[str, int, int], ...]) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """Decoded tensors per source split; cached so train, val and test decode the files once."""
    info = dataset_info(name)
    raw = DATASETS.get(name)([Path(path) for path, _, _ in fingerprint])
    expected = set(info.official_splits or ("all",))
    if set(raw) != expected:
        raise DataError(f"dataset {name!r}: the reader returned splits {sorted(raw)}, expected {sorted(expected)}")
    return {split: _to_tensors(info, split, x, y) for split, (x, y) in raw.items()}


def _to_tensors(info: DatasetInfo, split: str, x: np.ndarray, y: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    where = f"dataset {info.name!r}, {split} split"
    if len(x) == 0:
        raise DataError(f"{where}: no samples were found in the files")
    if x.dtype != np.uint8 or tuple(x.shape[1:]) != info.input_shape or len(x) != len(y):
        raise DataError(f"{where}: expected uint8 samples of shape (N, {', '.join(map(str, info.input_shape))}) and "
                        f"N labels, received {x.dtype} {x.shape} and {len(y)} labels")
    labels = torch.as_tensor(np.asarray(y, dtype=np.int64))
    if int(labels.min()) < 0 or int(labels.max()) >= info.num_classes:
        raise DataError(f"{where}: labels must be in 0..{info.num_classes - 1}, found "
                        f"{int(labels.min())}..{int(labels.max())}")
    return torch.from_numpy(np.ascontiguousarray(x)), labels


def _split_plan(info: DatasetInfo, counts: dict[str, int], val_fraction: float,
                seed: int) -> dict[str, tuple[str, torch.Tensor]]:
    """For each of train/val/test: (source split, sorted positions in it)."""
    source = "train" if info.official_splits else "all"
    n = counts[source]
    # A seeded CPU generator: the permutation is the same on every machine and every call.
    order = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    n_test = 0 if info.official_splits else round(n * TEST_FRACTION)
    n_val = round(n * val_fraction)
    if n - n_test - n_val <= 0:
        limit = "below 0.9" if info.official_splits else f"below {1 - TEST_FRACTION:g}"
        raise BadInputError(f"val_fraction={val_fraction} leaves no training samples of {info.name!r} "
                            f"({n:,} available); use a value {limit}")
    # Sorted positions keep the file order inside each split (the trainer shuffles per epoch).
    test = ("test", torch.arange(counts["test"])) if info.official_splits else (source, _sorted(order[:n_test]))
    return {"train": (source, _sorted(order[n_test + n_val:])),
            "val": (source, _sorted(order[n_test:n_test + n_val])),
            "test": test}


def _sorted(positions: torch.Tensor) -> torch.Tensor:
    """`positions` in increasing order (numpy's sort: several times faster than torch.sort on CPU here)."""
    return torch.from_numpy(np.sort(positions.numpy()))


def _split_record(info: DatasetInfo, plan: dict[str, tuple[str, torch.Tensor]], val_fraction: float,
                  seed: int) -> dict[str, Any]:
    """How the split was made, as JSON-able data stored with the run."""
    counts = {split: len(index) for split, (_, index) in plan.items()}
    if info.official_splits:
        scheme = "official"
        method = "official test; val = first round(n*val_fraction) of torch.randperm(n_train, seeded generator)"
    else:
        total = sum(counts.values())
        shares = [round(100 * counts[s] / total) for s in SPLITS]
        scheme = "seeded " + "/".join(str(s) for s in shares)
        method = "torch.randperm(n, seeded generator): first 10% test, next val_fraction val, rest train"
    return {"dataset": info.name, "scheme": scheme, "val_fraction": float(val_fraction), "seed": seed,
            "counts": counts, "method": method}


def _partial_notes(info: DatasetInfo, counts: dict[str, int]) -> list[str]:
    noun = "images" if info.modality == "image" else "samples"
    return [f"partial: {counts.get(split, 0):,} of {full:,} {split} {noun}"
            for split, full in info.sizes.items() if counts.get(split, 0) < full]


def _origin(info: DatasetInfo, paths: list[Path]) -> str:
    folders = sorted({str(p.parent) for p in paths})
    cache = str(_download.cache_dir(info))
    return "; ".join(("cache " if f == cache else "mirror ") + f for f in folders)
