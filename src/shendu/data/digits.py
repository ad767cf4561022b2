"""scikit-learn's 8×8 handwritten digits: 1,797 images bundled with the package (no download).

They are the test part of the UCI "Optical Recognition of Handwritten Digits" set: 32×32 bitmaps
whose 4×4 blocks were counted, giving 8×8 images with values 0..16. The source defines no split, so
loading makes a seeded 80/10/10 train/val/test split.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from shendu.data._api import DATASETS, Splits
from shendu.data._types import DatasetInfo

DIGITS = DatasetInfo(
    name="digits",
    title="Optical Recognition of Handwritten Digits (scikit-learn 8×8 copy)",
    modality="image",
    classes=tuple(str(d) for d in range(10)),
    input_shape=(1, 8, 8),
    source="https://archive.ics.uci.edu/dataset/80/optical+recognition+of+handwritten+digits",
    files=(),
    mirror_dir="digits",
    license="CC BY 4.0 (UCI Machine Learning Repository); bundled with scikit-learn (BSD-3-Clause)",
    citation="E. Alpaydin, C. Kaynak. Optical Recognition of Handwritten Digits. UCI Machine Learning "
             "Repository, 1998.",
    official_splits=(),
    sizes={"all": 1797},
)


@DATASETS.register("digits", modality="image", info=DIGITS)
def digits(paths: list[Path]) -> Splits:
    """The bundled images, rescaled from 0..16 to uint8 0..255 like every other image dataset."""
    from sklearn.datasets import load_digits  # imported lazily: scikit-learn takes ~1 s to import

    bunch = load_digits()
    # floor(v·255/16 + 0.5): round half up, so 16 → 255 and 8 → 128 exactly.
    x = np.floor(bunch.images * 255.0 / 16.0 + 0.5).astype(np.uint8)[:, None]  # (N, 1, 8, 8)
    return {"all": (x, bunch.target.astype(np.int64))}
