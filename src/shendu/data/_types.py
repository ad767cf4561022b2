"""The data types of the dataset layer: what a dataset is (`DatasetInfo`, `RemoteFile`) and what
loading one returns (`ArrayDataset` for images, `TextDataset` for texts). They carry labels, provenance
and the split as data, so a run or a model package can store them next to the weights."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence

import torch

from shendu.errors import BadInputError


class PartialDatasetWarning(UserWarning):
    """Fewer samples than the official split are available (e.g. a partial offline mirror)."""


@dataclass(frozen=True)
class RemoteFile:
    """One published file of a dataset and how to check it.

    Attributes:
        filename: the file's name in the cache and in a mirror folder.
        urls: canonical download URLs, tried in order.
        sha256: hex digest, checked whenever it is known.
        md5: hex digest as published by the source; checked only when there is no sha256.
        size: size in bytes (shown by the progress bar before the server says it).
    """

    filename: str
    urls: tuple[str, ...] = ()
    sha256: str | None = None
    md5: str | None = None
    size: int | None = None

    @property
    def digest(self) -> tuple[str, str] | None:
        """The hash to verify as (algorithm, hex digest); sha256 wins over md5, None when unknown."""
        if self.sha256:
            return "sha256", self.sha256.lower()
        if self.md5:
            return "md5", self.md5.lower()
        return None


@dataclass(frozen=True)
class DatasetInfo:
    """Everything about a dataset except its samples.

    Attributes:
        name: registry name, e.g. "fashion_mnist".
        title: human name, e.g. "Fashion-MNIST".
        modality: "image" or "text".
        classes: class names; the label of `classes[i]` is i.
        input_shape: (C, H, W) of one image; () for texts (their length varies).
        source: canonical web page of the dataset.
        files: the canonical files to download (empty when the data ships with a package).
        mirror_dir: folder of the dataset in a mirror and in the cache, e.g. "fashion-mnist".
        license: licence or terms of use, as stated by the source.
        citation: what to cite.
        official_splits: ("train", "test"), or () when the source defines no split; text sources may
            also publish "dev" (e.g. ("train", "dev", "test")).
        sizes: full official sample count per split ("all" when there are no official splits).
        language: ISO 639-1 code of a text dataset ("en", "zh"); picks the default tokenizer.
    """

    name: str
    title: str
    modality: str
    classes: tuple[str, ...]
    input_shape: tuple[int, ...]
    source: str
    files: tuple[RemoteFile, ...]
    mirror_dir: str
    license: str
    citation: str
    official_splits: tuple[str, ...]
    # A plain dict keeps the info picklable and JSON-able; hash=False keeps the dataclass hashable.
    sizes: dict[str, int] = field(default_factory=dict, hash=False)
    language: str | None = None

    @property
    def num_classes(self) -> int:
        return len(self.classes)


@dataclass(repr=False)
class ArrayDataset:
    """A split of a dataset held in memory as tensors.

    Attributes:
        x: uint8 samples, shape (N, C, H, W).
        y: int64 labels, shape (N,).
        info: the dataset's `DatasetInfo` (classes, licence, source).
        split: "train", "val" or "test".
        notes: facts a reader of the results must know, e.g. "partial: 4,000 of 50,000 train images".
        split_record: JSON-able description of how the split was made (stored with the run).
        index: int64 (N,), position of each sample in its official split (or in the whole dataset when
            the source has no splits), to trace a sample back to the original files.
    """

    x: torch.Tensor
    y: torch.Tensor
    info: DatasetInfo
    split: str
    notes: list[str] = field(default_factory=list)
    split_record: dict[str, Any] = field(default_factory=dict)
    index: torch.Tensor | None = None

    def __post_init__(self) -> None:
        # Checked here because users build ArrayDatasets from their own arrays too.
        if self.y.dtype != torch.int64 or self.y.ndim != 1:
            raise BadInputError(f"ArrayDataset.y: expected int64 of shape (N,), received {self.y.dtype} "
                                f"{tuple(self.y.shape)}")
        if len(self.x) != len(self.y):
            raise BadInputError(f"ArrayDataset: x has {len(self.x)} samples but y has {len(self.y)}")
        if self.info.modality == "image" and (self.x.dtype != torch.uint8 or self.x.ndim != 4):
            raise BadInputError(f"ArrayDataset.x: expected uint8 images of shape (N, C, H, W), received "
                                f"{self.x.dtype} {tuple(self.x.shape)}")
        if self.index is None:
            self.index = torch.arange(len(self.y))

    def __len__(self) -> int:
        return len(self.y)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self.x[i], self.y[i]

    @property
    def classes(self) -> tuple[str, ...]:
        return self.info.classes

    def subset(self, indices: Sequence[int] | torch.Tensor) -> ArrayDataset:
        """A new dataset holding the samples at `indices` (positions in this dataset), with a note."""
        idx = torch.as_tensor(indices, dtype=torch.int64)
        if idx.ndim != 1:
            raise BadInputError(f"subset: expected a 1-D list of positions, received shape {tuple(idx.shape)}")
        if len(idx) and (int(idx.min()) < -len(self) or int(idx.max()) >= len(self)):
            raise BadInputError(f"subset: positions must be in [0, {len(self)}), received "
                                f"{int(idx.min())}..{int(idx.max())}")
        note = f"subset: {len(idx):,} of {len(self):,} {self.split} samples"
        return ArrayDataset(self.x[idx], self.y[idx], self.info, self.split, [*self.notes, note],
                            dict(self.split_record), self.index[idx])

    def __repr__(self) -> str:
        shape = tuple(self.x.shape[1:])
        return (f"ArrayDataset({self.info.name!r}, split={self.split!r}, {len(self):,} samples of {shape}, "
                f"{self.info.num_classes} classes)")


@dataclass(repr=False, eq=False)  # eq on tensors would be ambiguous: datasets compare by identity
class TextDataset:
    """A split of a text dataset held in memory: raw strings and labels (tokenizing is the model's business,
    see `shendu.text`, so the same split serves any tokenizer and the TF-IDF baseline).

    Attributes:
        texts: the samples, one string each.
        y: int64 labels, shape (N,).
        info: the dataset's `DatasetInfo` (classes, language, licence, source).
        split: "train", "val" or "test".
        notes: facts a reader of the results must know (partial data, dropped rows, a non-standard split).
        split_record: JSON-able description of how the split was made (stored with the run).
        index: int64 (N,), position of each sample in its source split (the official split it came from, or
            the whole file set when the source has no splits), after rows without text were dropped.
        fields: other per-sample columns of the source, e.g. {"category": [...]} for
            online_shopping_10_cats (leave-one-domain-out experiments select on it).
    """

    texts: list[str]
    y: torch.Tensor
    info: DatasetInfo
    split: str
    notes: list[str] = field(default_factory=list)
    split_record: dict[str, Any] = field(default_factory=dict)
    index: torch.Tensor | None = None
    fields: dict[str, list[str]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not isinstance(self.texts, list) or not all(isinstance(t, str) for t in self.texts):
            raise BadInputError("TextDataset.texts: expected a list of strings, received "
                                f"{type(self.texts).__name__}")
        if self.y.dtype != torch.int64 or self.y.ndim != 1 or len(self.y) != len(self.texts):
            raise BadInputError(f"TextDataset.y: expected int64 of shape ({len(self.texts)},), received "
                                f"{self.y.dtype} {tuple(self.y.shape)}")
        for name, values in self.fields.items():
            if len(values) != len(self.texts):
                raise BadInputError(f"TextDataset.fields[{name!r}] has {len(values)} values for "
                                    f"{len(self.texts)} texts")
        if self.index is None:
            self.index = torch.arange(len(self.y))

    @property
    def x(self) -> list[str]:
        """The texts, under the name image datasets use (so `shendu eval` and callbacks treat both alike)."""
        return self.texts

    def __len__(self) -> int:
        return len(self.y)

    def __getitem__(self, i: int) -> tuple[str, torch.Tensor]:
        return self.texts[i], self.y[i]

    @property
    def classes(self) -> tuple[str, ...]:
        return self.info.classes

    def subset(self, indices: Sequence[int] | torch.Tensor) -> TextDataset:
        """A new dataset holding the samples at `indices` (positions in this dataset), with a note."""
        idx = torch.as_tensor(indices, dtype=torch.int64)
        if idx.ndim != 1:
            raise BadInputError(f"subset: expected a 1-D list of positions, received shape {tuple(idx.shape)}")
        if len(idx) and (int(idx.min()) < -len(self) or int(idx.max()) >= len(self)):
            raise BadInputError(f"subset: positions must be in [0, {len(self)}), received "
                                f"{int(idx.min())}..{int(idx.max())}")
        pick = idx.tolist()
        note = f"subset: {len(idx):,} of {len(self):,} {self.split} samples"
        return TextDataset([self.texts[i] for i in pick], self.y[idx], self.info, self.split, [*self.notes, note],
                           dict(self.split_record), self.index[idx],
                           {name: [values[i] for i in pick] for name, values in self.fields.items()})

    def __repr__(self) -> str:
        return (f"TextDataset({self.info.name!r}, split={self.split!r}, {len(self):,} texts, "
                f"{self.info.num_classes} classes)")


def concat_datasets(parts: Sequence[ArrayDataset | TextDataset], split: str | None = None
                    ) -> ArrayDataset | TextDataset:
    """Several splits of one dataset as one (e.g. train + val for cross-validation); notes and the split
    record come from the first part, `index` is concatenated."""
    if not parts:
        raise BadInputError("concat_datasets: expected at least one dataset, received none")
    first = parts[0]
    split = split or first.split
    index = torch.cat([p.index for p in parts])
    y = torch.cat([p.y for p in parts])
    if isinstance(first, TextDataset):
        fields = {name: [v for p in parts for v in p.fields[name]] for name in first.fields}
        return TextDataset([t for p in parts for t in p.texts], y, first.info, split, list(first.notes),
                           dict(first.split_record), index, fields)
    return ArrayDataset(torch.cat([p.x for p in parts]), y, first.info, split, list(first.notes),
                        dict(first.split_record), index)
