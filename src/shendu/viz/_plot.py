"""What every picture shares: the `Picture` result, fonts, writing files, and resolving packages and data.

A picture function computes its data (JSON-able, for scripts and the studio), draws it with matplotlib
and, given a path, writes the figure there. Figures are built with `matplotlib.figure.Figure` on the
Agg canvas, never through pyplot: no GUI backend is touched, and nothing stays registered in pyplot's
global figure list after the `Picture` is dropped.
"""
from __future__ import annotations

import base64
import contextlib
import io
import math
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator, Sequence

import numpy as np
import torch

from shendu.errors import BadInputError

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from shendu.data import ArrayDataset
    from shendu.hub._package import Predictor

FORMATS = (".png", ".svg", ".pdf")
# Chinese class names and titles render with the first installed CJK font; DejaVu Sans (shipped with
# matplotlib) covers the rest. Missing families are left out so matplotlib does not warn about them.
FONT_FALLBACK = ("WenQuanYi Micro Hei", "Noto Sans CJK SC", "Noto Sans SC", "Source Han Sans SC", "SimHei",
                 "Microsoft YaHei", "PingFang SC", "DejaVu Sans")
DPI = 110


class Picture(dict):
    """A picture's data (this dict, JSON-able) with its matplotlib figure(s) attached.

    In Jupyter the picture shows inline (`_repr_png_`, or `_repr_html_` for several figures);
    `json.dumps(picture)` gives the data; `picture.figure` is the matplotlib `Figure` to restyle.
    """

    def __init__(self, data: dict[str, Any], figures: Sequence[Figure], files: Sequence[Path] = ()) -> None:
        super().__init__(data)
        self.figures = list(figures)
        self["files"] = [str(f) for f in files]

    @property
    def figure(self) -> Figure:
        return self.figures[0]

    def save(self, path: str | Path) -> Path:
        """Write the (first) figure as PNG, SVG or PDF, by the file's suffix."""
        return save_figure(self.figure, path)

    def _repr_png_(self) -> bytes:
        return figure_bytes(self.figure)

    def _repr_html_(self) -> str | None:
        if len(self.figures) < 2:
            return None  # one figure: the PNG representation is enough
        images = [base64.b64encode(figure_bytes(f)).decode("ascii") for f in self.figures[:24]]
        return "".join(f'<img src="data:image/png;base64,{b}" style="max-width:100%"/><br/>' for b in images)


@contextlib.contextmanager
def style() -> Iterator[None]:
    """rcParams for drawing: a CJK-capable font list. Ticks are laid out at draw time, so saving
    happens inside this context too."""
    import matplotlib

    with matplotlib.rc_context({"font.family": font_family(), "axes.unicode_minus": False,
                                "figure.dpi": DPI, "savefig.dpi": DPI, "font.size": 9}):
        yield


def use_bilingual_fonts() -> list[str]:
    """Make pyplot figures (notebooks, tutorials) draw Chinese as well as English: put the first installed
    CJK-capable font first in rcParams and draw minus signs as ASCII. Returns the font list set."""
    import matplotlib

    fonts = font_family()
    matplotlib.rcParams["font.family"] = fonts
    matplotlib.rcParams["axes.unicode_minus"] = False
    return fonts


def font_family() -> list[str]:
    from matplotlib import font_manager

    installed = {font.name for font in font_manager.fontManager.ttflist}
    return [name for name in FONT_FALLBACK if name in installed] or ["DejaVu Sans"]


def new_figure(width: float, height: float) -> Figure:
    """A figure on the Agg canvas (no pyplot, no GUI), `width`×`height` inches."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(max(width, 1.0), max(height, 1.0)), layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def check_path(path: str | Path) -> Path:
    """An output file path with a supported suffix; parent directories are created."""
    path = Path(path)
    if path.suffix.lower() not in FORMATS:
        raise BadInputError(f"cannot write a picture to {path}: expected a file ending in "
                            f"{', '.join(FORMATS)}, received {path.suffix or 'no suffix'!r}")
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def save_figure(figure: Figure, path: str | Path) -> Path:
    path = check_path(path)
    with style():
        figure.savefig(path, format=path.suffix.lower().lstrip("."))
    return path


def figure_bytes(figure: Figure) -> bytes:
    buffer = io.BytesIO()
    with style():
        figure.savefig(buffer, format="png")
    return buffer.getvalue()


def finish(data: dict[str, Any], figures: Sequence[Figure], path: str | Path | None) -> Picture:
    """Wrap data and figure(s) into a Picture, writing the first figure to `path` when given."""
    files = [save_figure(figures[0], path)] if path is not None else []
    return Picture(data, figures, files)


def grid_shape(count: int, max_cols: int = 8) -> tuple[int, int]:
    """(rows, cols) of a near-square grid holding `count` panels."""
    cols = max(1, min(max_cols, math.ceil(math.sqrt(count))))
    return max(1, math.ceil(count / cols)), cols


def as_image(x: torch.Tensor | np.ndarray) -> np.ndarray:
    """One uint8 (C, H, W) image → (H, W) or (H, W, 3) for imshow."""
    array = x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x)
    if array.ndim == 3 and array.shape[0] == 1:
        return array[0]
    if array.ndim == 3 and array.shape[0] == 3:
        return np.transpose(array, (1, 2, 0))  # (C, H, W) → (H, W, C)
    if array.ndim == 3:
        return array.mean(axis=0)
    return array


def rounded(array: np.ndarray | torch.Tensor, digits: int = 4) -> list:
    """Floats as nested lists, rounded so the JSON stays readable."""
    if isinstance(array, torch.Tensor):
        array = array.detach().cpu().numpy()
    return np.round(np.asarray(array, dtype=np.float64), digits).tolist()


# -- inputs ------------------------------------------------------------------------------------------
def as_predictor(package: Any) -> Predictor:
    """A `Predictor` as is, or a package directory / hub name loaded with `load_package`."""
    from shendu.hub._package import Predictor, load_package

    return package if isinstance(package, Predictor) else load_package(package)


def as_dataset(predictor: Predictor, data: ArrayDataset | str | None, split: str = "test",
               mirror: str | None = None) -> ArrayDataset:
    """An `ArrayDataset` as is, or the split of a dataset by name (default: the package's own dataset),
    split with the package's own val_fraction and seed so "test" is the test set it was scored on."""
    from shendu.data import ArrayDataset, load_dataset

    if isinstance(data, ArrayDataset):
        return data
    cfg = predictor.meta.get("config", {}).get("data", {})
    name = data or cfg.get("name") or predictor.meta.get("dataset", {}).get("name")
    if not name:
        raise BadInputError(f"package {predictor.path} does not say which dataset it was trained on; "
                            "pass the dataset name (CLI: --data NAME)")
    same = name == cfg.get("name")
    return load_dataset(name, split, val_fraction=cfg.get("val_fraction", 0.1) if same else 0.1,
                        seed=cfg.get("split_seed", 0) if same else 0, mirror=mirror or cfg.get("mirror"),
                        progress=False)


def check_index(dataset: ArrayDataset, index: int) -> int:
    if not -len(dataset) <= index < len(dataset):
        raise BadInputError(f"index {index} is outside the {dataset.split} split of {dataset.info.name} "
                            f"({len(dataset)} samples: 0 to {len(dataset) - 1})")
    return index % len(dataset)


@torch.no_grad()
def predict_probabilities(predictor: Predictor, x: torch.Tensor, batch_size: int = 512) -> np.ndarray:
    """Softmax probabilities (N, K) of raw uint8 images (N, C, H, W), in batches."""
    return predictor.predict(x, batch_size=batch_size).probabilities
