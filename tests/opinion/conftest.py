"""Opinion-monitor fixtures: real reviews from the mirror's ChnSentiCorp, a baseline sentiment model fitted on a
slice of them (a real model: TF-IDF + logistic regression), and a store on the test's own database."""
from __future__ import annotations

import json
import random
from collections.abc import Iterator
from pathlib import Path

import pytest

from shendu.opinion import LinearSentiment, OpinionStore
from shendu.opinion._corpora import Review
from tests.conftest import SHARED_DATA

TRAIN = 2500  # reviews the test model is fitted on; the rest are held out for streams and checks


@pytest.fixture(scope="session")
def reviews() -> list[Review]:
    """ChnSentiCorp reviews in a seeded random order (skips without the mirror)."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"needs the dataset mirror at {SHARED_DATA} (absent here)")
    from shendu.opinion._corpora import read_corpus

    found = read_corpus("chnsenticorp", SHARED_DATA)
    random.Random(0).shuffle(found)
    return found


@pytest.fixture(scope="session")
def held_out(reviews: list[Review]) -> list[Review]:
    """Reviews the test model never saw."""
    return reviews[TRAIN:]


@pytest.fixture(scope="session")
def scorer(reviews: list[Review]) -> LinearSentiment:
    """The baseline model fitted on the first TRAIN reviews."""
    train = reviews[:TRAIN]
    return LinearSentiment.fit([r.text for r in train], [r.label for r in train])


@pytest.fixture(scope="session")
def scorer_dir(scorer: LinearSentiment, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The test model saved (safetensors + JSON), for `--scorer PATH`."""
    return scorer.save(tmp_path_factory.mktemp("scorer") / "baseline")


@pytest.fixture
def store(shendu_home: Path) -> Iterator[OpinionStore]:
    """An opinion store on <SHENDU_HOME>/shendu.db."""
    opened = OpinionStore()
    yield opened
    opened.close()


def write_jsonl(path: Path, records: list[dict]) -> Path:
    """Records as JSON Lines (UTF-8)."""
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")
    return path
