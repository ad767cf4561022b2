"""Model packages: `model.safetensors` + `shendu.json` (architecture, preprocessing, labels, metrics,
config, provenance). Never pickle: weights are safetensors, everything else is JSON.

`load_package(path)` returns a `Predictor` whose `predict()` takes image files, PIL images or arrays.
"""
from __future__ import annotations

import json
import os
import platform
import shutil
import tempfile
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
from safetensors.torch import load_model, save_model
from torch import nn

from shendu._version import __version__
from shendu.errors import BadInputError, PackageError
from shendu.models import create_model
from shendu.train._metrics import evaluate
from shendu.train._preprocess import Preprocessing

FORMAT = "shendu.package/1"
WEIGHTS, META = "model.safetensors", "shendu.json"


def save_package(path: str | Path, model: nn.Module, *, model_name: str, model_args: dict[str, Any],
                 num_classes: int, in_channels: int, input_size: int, preprocessing: Preprocessing,
                 classes: list[str], metrics: dict[str, Any], config: dict[str, Any], run_id: str | None = None,
                 dataset: dict[str, Any] | None = None) -> Path:
    """Write a package directory atomically (a half-written package never appears at `path`)."""
    path = Path(path)
    meta = {
        "format": FORMAT,
        "model": {"name": model_name, "args": model_args, "num_classes": num_classes,
                  "in_channels": in_channels, "input_size": input_size},
        "preprocessing": preprocessing.to_dict(),
        "classes": classes,
        "metrics": metrics,
        "config": config,
        "dataset": dataset or {},
        "provenance": {"run_id": run_id, "created": datetime.now(timezone.utc).isoformat(),
                       "shendu": __version__, "torch": torch.__version__, "python": platform.python_version()},
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent))
    try:
        save_model(model.cpu() if next(model.parameters()).is_cuda else model, str(staging / WEIGHTS))
        (staging / META).write_text(json.dumps(meta, indent=2, ensure_ascii=False), encoding="utf-8")
        if path.exists():
            shutil.rmtree(path)
        os.replace(staging, path)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return path


@dataclass
class Prediction:
    """Predicted class names, class indices (N,) and probabilities (N, K)."""

    labels: list[str]
    indices: np.ndarray
    probabilities: np.ndarray

    def to_json(self) -> list[dict[str, Any]]:
        return [{"label": lab, "index": int(i), "probability": float(p[i])}
                for lab, i, p in zip(self.labels, self.indices, self.probabilities)]


class Predictor:
    """A loaded package, ready to classify. Build with `load_package(path)`."""

    def __init__(self, model: nn.Module, meta: dict[str, Any], path: Path) -> None:
        self.model = model.eval()
        self.meta = meta
        self.path = path
        self.classes: list[str] = list(meta["classes"])
        self.preprocessing = Preprocessing.from_dict(meta["preprocessing"])

    @property
    def input_shape(self) -> tuple[int, int, int]:
        return self.preprocessing.input_shape

    @torch.no_grad()
    def predict(self, inputs: Any, batch_size: int = 512) -> Prediction:
        """Classify images: file paths, PIL images, or arrays/tensors shaped (H, W), (C, H, W), (N, H, W) or
        (N, C, H, W). uint8 arrays are pixels 0–255; float arrays are taken as already scaled to [0, 1]."""
        x = self._to_tensor(inputs)
        chunks = [torch.softmax(self.model(self.preprocessing(x[i:i + batch_size])), dim=1)
                  for i in range(0, x.shape[0], batch_size)]
        probs = torch.cat(chunks).numpy()
        indices = probs.argmax(axis=1)
        return Prediction([self.classes[i] for i in indices], indices, probs)

    def evaluate(self, x: torch.Tensor, y: torch.Tensor, prefix: str = "test") -> dict[str, float]:
        """Loss / accuracy / top-5 on uint8 images `x` (N, C, H, W) and int labels `y`."""
        x = self._to_tensor(x)
        return evaluate(self.model, self.preprocessing(x), y.long(), len(self.classes), prefix)

    def _to_tensor(self, inputs: Any) -> torch.Tensor:
        if isinstance(inputs, (str, os.PathLike)) or _is_image(inputs):
            inputs = [inputs]
        if isinstance(inputs, (list, tuple)) and inputs and (isinstance(inputs[0], (str, os.PathLike))
                                                             or _is_image(inputs[0])):
            return torch.stack([self._read_image(item) for item in inputs])
        x = torch.as_tensor(np.asarray(inputs)) if not isinstance(inputs, torch.Tensor) else inputs
        return self._check_shape(x)

    def _check_shape(self, x: torch.Tensor) -> torch.Tensor:
        c, h, w = self.input_shape
        if x.dim() == 2:
            x = x.unsqueeze(0).unsqueeze(0)  # (H, W) → (1, 1, H, W)
        elif x.dim() == 3:
            x = x.unsqueeze(0) if x.shape[0] == c and c != 1 or tuple(x.shape) == (c, h, w) else x.unsqueeze(1)
        if x.dim() != 4 or tuple(x.shape[1:]) != (c, h, w):
            raise BadInputError(f"expected images of shape ({c}, {h}, {w}) (or a batch of them), received "
                                f"{tuple(x.shape)}; resize the images or pass file paths to have them resized")
        return x

    def _read_image(self, item: Any) -> torch.Tensor:
        from PIL import Image, UnidentifiedImageError

        c, h, w = self.input_shape
        try:
            image = item if _is_image(item) else Image.open(item)
            image = image.convert("L" if c == 1 else "RGB").resize((w, h), Image.Resampling.BILINEAR)
        except (FileNotFoundError, UnidentifiedImageError, OSError) as exc:
            raise BadInputError(f"cannot read image {item}: {exc} (expected a PNG/JPEG/BMP file)") from None
        array = np.asarray(image, dtype=np.uint8)
        return torch.from_numpy(array.copy()).reshape(h, w, c).permute(2, 0, 1)  # (C, H, W)


def _is_image(obj: Any) -> bool:
    return type(obj).__module__.startswith("PIL.")


def load_package(path: str | Path) -> Predictor:
    """Load a package directory written by training (or `save_package`) into a `Predictor`."""
    path = Path(path).expanduser()
    meta_file, weights = path / META, path / WEIGHTS
    if not path.is_dir():
        raise PackageError(f"no model package at {path} (expected a directory with {META} and {WEIGHTS}; "
                           "training prints the package path, and `shendu runs show RUN` lists it)")
    for required in (meta_file, weights):
        if not required.is_file():
            raise PackageError(f"package {path} is incomplete: {required.name} is missing")
    try:
        meta = json.loads(meta_file.read_text(encoding="utf-8"))
        spec = meta["model"]
    except (json.JSONDecodeError, KeyError) as exc:
        raise PackageError(f"package {path}: {META} is malformed ({exc})") from None
    if meta.get("format") != FORMAT:
        raise PackageError(f"package {path}: format {meta.get('format')!r} is not {FORMAT!r}")
    model = create_model(spec["name"], num_classes=spec["num_classes"], in_channels=spec["in_channels"],
                         input_size=spec["input_size"], **spec["args"])
    missing, unexpected = load_model(model, str(weights), strict=False)
    if missing or unexpected:
        raise PackageError(f"package {path}: weights do not fit {spec['name']} (missing {missing[:3]}, "
                           f"unexpected {unexpected[:3]})")
    return Predictor(model, meta, path)
