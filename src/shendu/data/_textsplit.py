"""Loading and splitting text datasets: the text counterpart of the image path in `_api.py`.

A text reader is registered like an image reader, with `modality="text"` and `split_files`: per official
split, the groups of files that can provide it — the canonical files (names from `info.files`) first, then
accepted alternatives (`RemoteFile`s, e.g. a mirror's gzip'd copies). Each split is fetched on its own, so a
mirror holding only AG News' test.csv still serves "test":

    @DATASETS.register("sst2", modality="text", info=SST2,
                       split_files={"train": (("stsa.binary.train",),), "dev": ..., "test": ...})
    def sst2(paths: list[Path], split: str) -> TextSplit:
        ...

It returns the raw strings and integer labels of one official split ("all" when the source has none).
Splitting is seeded and stratified (class proportions kept) wherever it carves a split out of another:

- the training pool is `train_split` (default the official "train", else "all");
- test is the official "test" split, else a seeded stratified 10% of the pool;
- val is the official "dev" split (unless the pool is dev), else a seeded stratified `val_fraction` of the pool;
- train is what remains of the pool.
"""
from __future__ import annotations

import dataclasses
import functools
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from shendu.data import _download
from shendu.data._types import DatasetInfo, PartialDatasetWarning, TextDataset
from shendu.errors import BadInputError, DataError, DataMissingError

TEST_FRACTION = 0.1
ROLES = ("train", "val", "test")


@dataclass
class TextSplit:
    """What a text reader returns for one official split.

    Attributes:
        texts: the usable samples.
        labels: int64 (N,) class indices.
        fields: other per-sample columns, e.g. {"category": [...]}.
        rows: records read from the files, including the dropped ones (compared with `DatasetInfo.sizes`).
        dropped: one note per kind of record that was not used, e.g. "dropped 1 empty review (line 6,377)".
    """

    texts: list[str]
    labels: np.ndarray
    fields: dict[str, list[str]] = field(default_factory=dict)
    rows: int = 0
    dropped: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.labels = np.asarray(self.labels, dtype=np.int64)
        self.rows = self.rows or len(self.texts)


def keep_nonempty(texts: list[str], labels: list[int], what: str, fields: dict[str, list[str]] | None = None,
                  locate: Callable[[int], str] | None = None) -> TextSplit:
    """A `TextSplit` without the samples whose text is empty or only whitespace, with a note naming them.

    Args:
        texts, labels, fields: every record read, in file order.
        what: the noun of one record ("review").
        locate: record position → where it is, for the note (default "record N", 1-based).
    """
    locate = locate or (lambda i: f"record {i + 1:,}")
    keep = [i for i, text in enumerate(texts) if text.strip()]
    split = TextSplit([texts[i] for i in keep], np.asarray([labels[i] for i in keep], dtype=np.int64),
                      {k: [v[i] for i in keep] for k, v in (fields or {}).items()}, rows=len(texts))
    empty = [i for i, text in enumerate(texts) if not text.strip()]
    if empty:
        where = ", ".join(locate(i) for i in empty[:3]) + (", …" if len(empty) > 3 else "")
        split.dropped.append(f"dropped {len(empty):,} empty {what}{'s' if len(empty) != 1 else ''} ({where})")
    return split


# -- the entry point ---------------------------------------------------------------------------------------
def load(name: str, split: str, *, val_fraction: float, seed: int, mirror: Any, download: bool, progress: bool,
         train_split: str | None, path: Any, test_path: Any, text_column: str, label_column: str) -> TextDataset:
    """One split of text dataset `name` (see `shendu.data.load_dataset` for the arguments)."""
    from shendu.data._api import DATASETS
    from shendu.data import _userfile

    meta = DATASETS.meta(name)
    if meta.get("user_file"):
        info, read = _userfile.open_files(name, path, test_path, text_column, label_column)
    else:
        _refuse_file_options(name, path, test_path)
        info = meta["info"]
        read = functools.partial(_read_registered, name, info, meta, mirror=mirror, download=download,
                                 progress=progress)
    roles = _roles(info, train_split)
    official_test = roles["test"] != roles["train"]
    wanted = [roles["test"]] if split == "test" and official_test else list(dict.fromkeys(roles.values()))
    sources = {source: _read_pool(read, source, roles, info) for source in wanted}
    plan = _plan(info, roles, sources, val_fraction, seed)
    record = _record(info, roles, plan, val_fraction, seed)
    notes = _notes(info, roles, sources)
    partial = [n for n in notes if n.startswith("partial:")]
    if partial:
        shown = "; ".join(note.removeprefix("partial: ") for note in partial)
        warnings.warn(f"{name} is partial: {shown}; results are not comparable with published numbers",
                      PartialDatasetWarning, stacklevel=3)
    source, positions = plan[split]
    data = sources[source]
    pick = positions.tolist()
    return TextDataset([data.texts[i] for i in pick], torch.from_numpy(data.labels[positions]), info, split, notes,
                       record, torch.from_numpy(positions), {k: [v[i] for i in pick] for k, v in data.fields.items()})


def _refuse_file_options(name: str, path: Any, test_path: Any) -> None:
    if path is not None or test_path is not None:
        raise BadInputError(f"data.path / data.test_path are for your own files (data.name: csv or jsonl); dataset "
                            f"{name!r} is registered and finds its own files — remove data.path")


def _roles(info: DatasetInfo, train_split: str | None) -> dict[str, str]:
    """Which source split plays train, val and test."""
    official = info.official_splits
    trainable = [s for s in official if s != "test"] or ["all"]
    pool = train_split or trainable[0]
    if pool not in trainable:
        raise BadInputError(f"data.train_split {pool!r} is not a split of {info.name!r} that can be trained on "
                            f"(valid: {', '.join(trainable)}; the test split is held out)")
    test = "test" if "test" in official else pool
    val = "dev" if "dev" in official and pool != "dev" else pool
    return {"train": pool, "val": val, "test": test}


def _read_pool(read: Callable[[str], TextSplit], source: str, roles: dict[str, str], info: DatasetInfo) -> TextSplit:
    """Read one source split; a missing training split says which other split could be trained on."""
    try:
        return read(source)
    except DataMissingError as exc:
        others = [s for s in info.official_splits if s not in ("test", source)]
        if source != roles["train"] or not others:
            raise
        raise DataMissingError(f"{exc}\nOr train on another official split that is present: set data.train_split="
                               f"{others[0]} (load_dataset(..., train_split={others[0]!r}))") from None


def _read_registered(name: str, info: DatasetInfo, meta: dict[str, Any], source: str, *, mirror: Any,
                     download: bool, progress: bool) -> TextSplit:
    """Fetch the files of one source split (its first file group, or an accepted alternative) and read them."""
    groups = meta.get("split_files", {}).get(source)
    if not groups:
        raise DataError(f"dataset {name!r} was registered without split_files for its {source!r} split")
    by_name = {rf.filename: rf for rf in info.files}
    resolved = [tuple(by_name[f] if isinstance(f, str) else f for f in group) for group in groups]
    needed = dataclasses.replace(info, files=resolved[0])
    paths = _download.fetch(needed, alternatives=resolved[1:], mirror=mirror, download=download, progress=progress)
    stats = [(str(p.resolve()), p.stat()) for p in paths]
    return _decode(name, source, tuple((path, stat.st_size, stat.st_mtime_ns) for path, stat in stats))


@functools.lru_cache(maxsize=8)
def _decode(name: str, source: str, fingerprint: tuple[tuple[str, int, int], ...]) -> TextSplit:
    """The reader's output for one source split, checked; cached so train, val and test read the files once."""
    from shendu.data._api import DATASETS, dataset_info

    info = dataset_info(name)
    data = DATASETS.get(name)([Path(path) for path, _, _ in fingerprint], source)
    return check_split(info, source, data)


def check_split(info: DatasetInfo, source: str, data: TextSplit) -> TextSplit:
    """A reader's `TextSplit`, verified: texts are strings, labels are class indices, fields line up."""
    where = f"dataset {info.name!r}, {source} split"
    if not isinstance(data, TextSplit):
        raise DataError(f"{where}: the reader returned {type(data).__name__}, expected a TextSplit")
    if not data.texts:
        raise DataError(f"{where}: no samples were found in the files")
    if len(data.labels) != len(data.texts) or any(len(v) != len(data.texts) for v in data.fields.values()):
        raise DataError(f"{where}: {len(data.texts)} texts but {len(data.labels)} labels or a field of another length")
    low, high = int(data.labels.min()), int(data.labels.max())
    if low < 0 or high >= info.num_classes:
        raise DataError(f"{where}: labels must be in 0..{info.num_classes - 1}, found {low}..{high}")
    return data


# -- splitting ---------------------------------------------------------------------------------------------
def _plan(info: DatasetInfo, roles: dict[str, str], sources: dict[str, TextSplit], val_fraction: float,
          seed: int) -> dict[str, tuple[str, np.ndarray]]:
    """For each role present: (source split, sorted positions in it)."""
    plan = {role: (source, np.arange(len(sources[source].texts))) for role, source in roles.items()
            if source in sources and source != roles["train"]}
    pool = roles["train"]
    if pool not in sources:
        return plan
    shares = {"test": TEST_FRACTION if roles["test"] == pool else 0.0,
              "val": val_fraction if roles["val"] == pool else 0.0}
    test, val, train = stratified_split(sources[pool].labels, (shares["test"], shares["val"]), seed)
    if len(train) == 0:
        raise BadInputError(f"val_fraction={val_fraction} leaves no training samples of {info.name!r} "
                            f"({len(sources[pool].texts):,} in its {pool} split); use a smaller value")
    plan["train"] = (pool, train)
    for role, positions in (("test", test), ("val", val)):
        if roles[role] == pool:
            plan[role] = (pool, positions)
    return plan


def stratified_split(labels: np.ndarray, shares: tuple[float, ...], seed: int) -> list[np.ndarray]:
    """Seeded stratified parts: for each class (in label order) a `torch.randperm` from one seeded generator
    gives round(n_c · share) positions per share, in order; the rest is the last part. All sorted."""
    generator = torch.Generator().manual_seed(seed)
    parts: list[list[np.ndarray]] = [[] for _ in range(len(shares) + 1)]
    for label in np.unique(labels):
        members = np.flatnonzero(labels == label)
        members = members[torch.randperm(len(members), generator=generator).numpy()]
        start = 0
        for k, share in enumerate(shares):
            count = round(len(members) * share)
            parts[k].append(members[start:start + count])
            start += count
        parts[-1].append(members[start:])
    return [np.sort(np.concatenate(p)).astype(np.int64) if p else np.zeros(0, np.int64) for p in parts]


def _record(info: DatasetInfo, roles: dict[str, str], plan: dict[str, tuple[str, np.ndarray]], val_fraction: float,
            seed: int) -> dict[str, Any]:
    """How the split was made, as JSON-able data stored with the run."""
    counts = {role: len(plan[role][1]) for role in ROLES if role in plan}
    pool = roles["train"]
    carved = [role for role in ("test", "val") if roles[role] == pool]
    if not info.official_splits:
        total = sum(counts.values())
        shares = [round(100 * counts.get(s, 0) / total) for s in ROLES] if total else []
        scheme = "seeded stratified " + "/".join(str(s) for s in shares)
    else:
        scheme = "official" if pool == "train" else f"official, train = {pool}"
    described = {"test": f"{TEST_FRACTION:.0%}", "val": f"val_fraction={val_fraction:g}"}
    method = "; ".join([f"{role} = official {roles[role]}" for role in ("test", "val") if role not in carved] +
                       [f"{role} = {described[role]} of {pool}, per class" for role in carved])
    method += (f" (torch.randperm per class from one generator seeded {seed}: test first, then val); train = the "
               f"rest of {pool}") if carved else f"; train = official {pool}"
    return {"dataset": info.name, "scheme": scheme, "train_split": pool, "val_fraction": float(val_fraction),
            "seed": seed, "counts": counts, "method": method}


def _notes(info: DatasetInfo, roles: dict[str, str], sources: dict[str, TextSplit]) -> list[str]:
    notes = []
    for source, data in sources.items():
        full = info.sizes.get(source)
        if full and data.rows < full:
            notes.append(f"partial: {data.rows:,} of {full:,} {source} samples")
        notes += [f"{info.name} {source}: {note}" for note in data.dropped]
    pool = roles["train"]
    if pool not in ("train", "all") and pool in sources:
        full = f" ({info.sizes['train']:,} samples)" if "train" in info.sizes else ""
        notes.append(f"trained on the official {pool} split ({len(sources[pool].texts):,} samples) instead of "
                     f"train{full}: results are not comparable with published numbers")
    return notes
