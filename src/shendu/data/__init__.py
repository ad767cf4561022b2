"""Datasets: a registry of readers with their provenance, a verified downloader and in-memory splits.

    >>> from shendu.data import load_dataset
    >>> train = load_dataset("mnist", "train")   # official train minus a seeded 10% validation split
    >>> train.x.shape, train.classes[:3]
    (torch.Size([54000, 1, 28, 28]), ('0', '1', '2'))
    >>> reviews = load_dataset("chnsenticorp", "train")   # a TextDataset: strings, seeded stratified 80/10/10
    >>> reviews.classes
    ('negative', 'positive')

Each dataset registers itself on import; the list below is explicit (no star imports).
"""
from shendu.data import cifar, digits, mnist, text  # noqa: F401  (registration side effects)
from shendu.data._api import DATASETS, dataset_info, download, list_datasets, load_dataset
from shendu.data._types import (ArrayDataset, DatasetInfo, PartialDatasetWarning, RemoteFile, TextDataset,
                                concat_datasets)
from shendu.data._userfile import SkippedRowsWarning

__all__ = [
    "DATASETS",
    "ArrayDataset",
    "DatasetInfo",
    "PartialDatasetWarning",
    "RemoteFile",
    "SkippedRowsWarning",
    "TextDataset",
    "concat_datasets",
    "dataset_info",
    "download",
    "list_datasets",
    "load_dataset",
]
