"""MNIST and Fashion-MNIST: four gzip'd IDX files each, 60,000 train and 10,000 test 28×28 images.

Hashes: the sha256 of files whose md5 equals the officially published one (see the mirror's
MANIFEST.md), so they identify the official files; the md5 is kept because it is what the sources publish.
"""
from __future__ import annotations

from pathlib import Path

from shendu.data._api import DATASETS, Splits
from shendu.data._formats import read_idx_pair
from shendu.data._types import DatasetInfo, RemoteFile

_MNIST_URLS = ("https://ossci-datasets.s3.amazonaws.com/mnist/", "http://yann.lecun.com/exdb/mnist/")
_FASHION_URLS = ("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",)


def _file(name: str, bases: tuple[str, ...], sha256: str, md5: str, size: int) -> RemoteFile:
    return RemoteFile(name, tuple(base + name for base in bases), sha256, md5, size)


MNIST = DatasetInfo(
    name="mnist",
    title="MNIST handwritten digits",
    modality="image",
    classes=tuple(str(d) for d in range(10)),
    input_shape=(1, 28, 28),
    source="http://yann.lecun.com/exdb/mnist/",
    files=(
        _file("train-images-idx3-ubyte.gz", _MNIST_URLS,
              "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
              "f68b3c2dcbeaaa9fbdd348bbdeb94873", 9_912_422),
        _file("train-labels-idx1-ubyte.gz", _MNIST_URLS,
              "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
              "d53e105ee54ea40749a09fcbcd1e9432", 28_881),
        _file("t10k-images-idx3-ubyte.gz", _MNIST_URLS,
              "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
              "9fb629c4189551a2d022fa330f9573f3", 1_648_877),
        _file("t10k-labels-idx1-ubyte.gz", _MNIST_URLS,
              "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
              "ec29112dd5afa0611ce80d1b7f02629c", 4_542),
    ),
    mirror_dir="mnist",
    license="CC BY-SA 3.0 (copyright Yann LeCun and Corinna Cortes; a derivative of NIST data)",
    citation="Y. LeCun, L. Bottou, Y. Bengio, P. Haffner. Gradient-based learning applied to document "
             "recognition. Proceedings of the IEEE 86(11):2278-2324, 1998.",
    official_splits=("train", "test"),
    sizes={"train": 60_000, "test": 10_000},
)

FASHION_MNIST = DatasetInfo(
    name="fashion_mnist",
    title="Fashion-MNIST",
    modality="image",
    classes=("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
             "Ankle boot"),
    input_shape=(1, 28, 28),
    source="https://github.com/zalandoresearch/fashion-mnist",
    files=(
        _file("train-images-idx3-ubyte.gz", _FASHION_URLS,
              "3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84",
              "8d4fb7e6c68d591d4c3dfef9ec88bf0d", 26_421_880),
        _file("train-labels-idx1-ubyte.gz", _FASHION_URLS,
              "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845",
              "25c81989df183df01b3e8a0aad5dffbe", 29_515),
        _file("t10k-images-idx3-ubyte.gz", _FASHION_URLS,
              "346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073",
              "bef4ecab320f06d8554ea6380940ec79", 4_422_102),
        _file("t10k-labels-idx1-ubyte.gz", _FASHION_URLS,
              "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5",
              "bb300cfdad3c16e7a12a480ee83cd310", 5_148),
    ),
    mirror_dir="fashion-mnist",
    license="MIT (Copyright (c) 2017 Zalando SE)",
    citation="H. Xiao, K. Rasul, R. Vollgraf. Fashion-MNIST: a Novel Image Dataset for Benchmarking Machine "
             "Learning Algorithms. arXiv:1708.07747, 2017.",
    official_splits=("train", "test"),
    sizes={"train": 60_000, "test": 10_000},
)


def read_idx_splits(paths: list[Path], num_classes: int = 10) -> Splits:
    """Train and test from the four standard IDX file names, wherever they were found."""
    by_name = {p.name: p for p in paths}
    return {split: read_idx_pair(by_name[f"{stem}-images-idx3-ubyte.gz"], by_name[f"{stem}-labels-idx1-ubyte.gz"],
                                 num_classes)
            for split, stem in (("train", "train"), ("test", "t10k"))}


@DATASETS.register("mnist", modality="image", info=MNIST)
def mnist(paths: list[Path]) -> Splits:
    return read_idx_splits(paths)


@DATASETS.register("fashion_mnist", modality="image", info=FASHION_MNIST)
def fashion_mnist(paths: list[Path]) -> Splits:
    return read_idx_splits(paths)
