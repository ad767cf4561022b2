"""Model packages: `model.safetensors` + `shendu.json` (architecture, preprocessing, labels, metrics,
config, provenance). Never pickle: weights are safetensors, everything else is JSON.

`load_package(path_or_name)` returns a `Predictor` whose `predict()` takes image files, PIL images or
arrays — or, for a text package, strings (tokenized with the package's own `TextPipeline`: tokenizer,
lowercasing, vocabulary, max_len) or token ids — and whose `features()` returns a layer's activations for
use with scikit-learn. A hub name
`user/model[:tag]` is resolved through the hub cache and the registries (`shendu.hub._hub`).

Integrity: `shendu.json` records the sha256 of the weights; loading checks it, then checks every tensor's
name and shape against the model rebuilt from `shendu.json`, and names the offending tensors.
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
from typing import Any

import numpy as np
import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_model, save_model
from torch import nn

from shendu._files import sha256_file as _sha256
from shendu._version import __version__
from shendu.errors import BadInputError, PackageError
from shendu.models import MODELS, create_model
from shendu.train._metrics import evaluate
from shendu.text import TextPipeline
from shendu.train._preprocess import Preprocessing

FORMAT = "shendu.package/1"
WEIGHTS, META = "model.safetensors", "shendu.json"


def save_package(path: str | Path, model: nn.Module, *, model_name: str, model_args: dict[str, Any],
                 num_classes: int, in_channels: int, input_size: int, preprocessing: Preprocessing | TextPipeline,
                 classes: list[str], metrics: dict[str, Any], config: dict[str, Any], run_id: str | None = None,
                 dataset: dict[str, Any] | None = None) -> Path:
    """Write a package directory atomically (a half-written package never appears at `path`).

    `preprocessing` is the image standardization, or for a text model the `TextPipeline` (stored as JSON,
    vocabulary included, so prediction from raw strings tokenizes exactly as training did)."""
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
        meta["weights"] = {"file": WEIGHTS, "sha256": _sha256(staging / WEIGHTS),
                           "bytes": (staging / WEIGHTS).stat().st_size}
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
        prep = meta["preprocessing"]
        # A text package carries its TextPipeline; older text packages (and image ones) a Preprocessing.
        self.text_pipeline = TextPipeline.from_dict(prep) if prep.get("kind") == "text" else None
        self.preprocessing = Preprocessing.from_dict(prep) if self.text_pipeline is None else None
        self._classifier: str | None = None  # found by `classifier_layer()` on first use

    @property
    def input_shape(self) -> tuple[int, ...]:
        """(C, H, W) of an image package; (max_len,) of a text package."""
        if self.text_pipeline is not None:
            return (self.text_pipeline.max_len,)
        return self.preprocessing.input_shape

    @property
    def modality(self) -> str:
        """"image" (inputs are pixels) or "text" (inputs are strings, or (N, L) int64 token ids)."""
        return str(MODELS.meta(self.meta["model"]["name"]).get("modality", "image"))

    @torch.no_grad()
    def predict(self, inputs: Any, batch_size: int = 512) -> Prediction:
        """Classify images: file paths, PIL images, or arrays/tensors shaped (H, W), (C, H, W), (N, H, W) or
        (N, C, H, W). uint8 arrays are pixels 0–255; float arrays are taken as already scaled to [0, 1].
        Text packages take a string or a list of strings (tokenized as in training; each batch is padded to
        its longest text, which does not change any text's result), or (N, L) integer token ids."""
        if self._is_texts(inputs):
            texts = [inputs] if isinstance(inputs, str) else list(inputs)
            if not texts:
                raise BadInputError("predict: received no texts (expected a string or a list of strings)")
            chunks = [self._text_probabilities(texts[i:i + batch_size]) for i in range(0, len(texts), batch_size)]
            return self._prediction(torch.cat(chunks).numpy())
        x = self._raw_batch(inputs)
        chunks = [torch.softmax(self.model(self._prepare(x[i:i + batch_size])), dim=1)
                  for i in range(0, x.shape[0], batch_size)]
        return self._prediction(torch.cat(chunks).numpy())

    def _prediction(self, probs: np.ndarray) -> Prediction:
        indices = probs.argmax(axis=1)
        return Prediction([self.classes[i] for i in indices], indices, probs)

    def _text_probabilities(self, texts: list[str]) -> torch.Tensor:
        return torch.softmax(self.model(self.encode(texts)), dim=1)

    def encode(self, texts: str | list[str]) -> torch.Tensor:
        """Token ids (N, L) of `texts` with the package's pipeline (text packages only)."""
        name = self.meta["model"]["name"]
        if self.text_pipeline is None and self.modality == "text":
            raise BadInputError(f"{name} in {self.path} is a text package without a tokenizer (made before packages "
                                "stored one): it takes (N, L) integer token ids, not strings; retrain it with this "
                                "shendu to have it read texts")
        if self.text_pipeline is None:
            raise BadInputError(f"{name} in {self.path} is an image model: it takes images (files, arrays), not texts")
        return self.text_pipeline.encode(texts)

    def _is_texts(self, inputs: Any) -> bool:
        """For a text model: a string, or a list/tuple/array of strings (for an image model a string is a file)."""
        if self.modality != "text":
            return False
        if isinstance(inputs, str):
            return True
        if isinstance(inputs, np.ndarray):
            return inputs.dtype.kind in "UO" and all(isinstance(v, str) for v in inputs.ravel())
        return isinstance(inputs, (list, tuple)) and (not inputs or all(isinstance(v, str) for v in inputs))

    @torch.no_grad()
    def features(self, inputs: Any, layer: str | None = None, batch_size: int = 256) -> np.ndarray:
        """Activations of one layer for every input, flattened to (N, D) float32 — features for scikit-learn.

        Args:
            inputs: what `predict` takes (images, arrays, file paths; texts or token ids for text packages).
            layer: a module name from `model.named_modules()` (e.g. "classifier.2", "layer3"); its output
                is returned. None (the default) returns the input of the final classifier layer — the
                penultimate features, whose width is the classifier's `in_features`.
            batch_size: inputs per forward pass.

        Raises:
            BadInputError: unknown layer (close names are listed), bad batch size or bad inputs.
        """
        if not isinstance(batch_size, int) or batch_size < 1:
            raise BadInputError(f"features: batch_size must be a positive integer, received {batch_size!r}")
        x = self.encode(list(inputs) if not isinstance(inputs, str) else inputs) if self._is_texts(inputs) \
            else self._raw_batch(inputs)
        if x.shape[0] == 0:
            raise BadInputError("features: received no inputs (expected at least one image, text or sequence)")
        name = layer if layer is not None else self.classifier_layer(x[:1])
        module = self._module(name)
        captured: list[torch.Tensor] = []
        if layer is None:  # the classifier's input
            handle = module.register_forward_pre_hook(lambda _m, args: captured.append(_first_tensor(args, name)))
        else:
            handle = module.register_forward_hook(lambda _m, _a, out: captured.append(_first_tensor(out, name)))
        chunks = []
        try:
            for i in range(0, x.shape[0], batch_size):
                captured.clear()
                batch = x[i:i + batch_size]
                self.model(self._prepare(batch))
                chunks.append(self._per_sample(captured, name, batch.shape[0]))
        finally:
            handle.remove()
        return torch.cat(chunks).cpu().numpy()

    def _per_sample(self, captured: list[torch.Tensor], name: str, size: int) -> torch.Tensor:
        """The last activation a hook captured, as (B, D); refused when it is not one row per input."""
        if not captured:
            raise BadInputError(f"features: layer {name!r} is not used in the forward pass of "
                                f"{self.meta['model']['name']}; pick a layer that is")
        value = captured[-1]
        if value.dim() == 0 or value.shape[0] != size:
            raise BadInputError(f"features: layer {name!r} gives {tuple(value.shape)} for a batch of {size}, not one "
                                "row per input (a packed or time-major sequence?); pick another layer")
        return value.detach().float().reshape(size, -1)  # (B, D)

    def classifier_layer(self, sample: Any | None = None) -> str:
        """Name of the final classifier layer: the last module with weights that runs in a forward pass
        (found once with a forward pass on `sample`, a batch as `_raw_batch` returns, or a dummy input)."""
        if self._classifier is None:
            sample = sample if sample is not None else self._dummy_batch()
            owners = {m: n for n, m in self.model.named_modules() if n and next(m.parameters(False), None) is not None}
            order: list[nn.Module] = []
            handles = [m.register_forward_pre_hook(lambda mod, _args: order.append(mod)) for m in owners]
            try:
                with torch.no_grad():
                    self.model(self._prepare(sample))
            finally:
                for handle in handles:
                    handle.remove()
            if not order:
                raise PackageError(f"{self.meta['model']['name']} has no layer with weights; pass layer= explicitly")
            self._classifier = owners[order[-1]]
        return self._classifier

    def _module(self, name: str) -> nn.Module:
        modules = dict(self.model.named_modules())
        if name in modules and name:
            return modules[name]
        from shendu._registry import nearest

        names = [n for n in modules if n]
        close = nearest(name, names)
        hint = f" — did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
        shown = ", ".join(names[:15]) + (f", … ({len(names)} in all)" if len(names) > 15 else "")
        raise BadInputError(f"{self.meta['model']['name']} has no layer {name!r}{hint} (layers: {shown}); "
                            "names are those of model.named_modules()")

    def _raw_batch(self, inputs: Any) -> torch.Tensor:
        """Inputs as one batch before preprocessing: uint8/float images (N, C, H, W) or int64 tokens (N, L)."""
        if self.modality != "text":
            return self._to_tensor(inputs)
        x = inputs if isinstance(inputs, torch.Tensor) else torch.as_tensor(np.asarray(inputs))
        if x.dim() == 1:
            x = x.unsqueeze(0)  # one sequence (L,) → (1, L)
        if x.dim() != 2 or x.is_floating_point() or x.is_complex() or x.dtype == torch.bool:
            raise BadInputError(f"{self.meta['model']['name']} takes integer token ids shaped (N, L) or (L,), "
                                f"received {x.dtype} of shape {tuple(x.shape)}; map words to ids first")
        return x.long()

    def _prepare(self, x: torch.Tensor) -> torch.Tensor:
        """A raw batch → what the model's forward takes (standardized floats, or tokens unchanged)."""
        return x if self.modality == "text" else self.preprocessing(x)

    def _dummy_batch(self) -> torch.Tensor:
        if self.modality == "text":
            return torch.ones(1, 8, dtype=torch.long)  # one 8-token sentence of id 1 (0 is padding)
        return torch.zeros(1, *self.input_shape, dtype=torch.uint8)

    def evaluate(self, x: Any, y: torch.Tensor, prefix: str = "test") -> dict[str, float]:
        """Loss / accuracy / top-5 on uint8 images `x` (N, C, H, W) — or, for a text package, strings or token
        ids — and int labels `y`."""
        if self._is_texts(x):
            return evaluate(self.model, self.encode(list(x)), y.long(), len(self.classes), prefix)
        if self.modality == "text":
            return evaluate(self.model, self._raw_batch(x), y.long(), len(self.classes), prefix)
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


def _first_tensor(value: Any, layer: str) -> torch.Tensor:
    """A hooked module's input or output: the tensor itself, or the first tensor of a tuple (RNNs)."""
    if isinstance(value, torch.Tensor):
        return value
    if isinstance(value, (tuple, list)) and type(value).__name__ != "PackedSequence":
        for item in value:
            if isinstance(item, torch.Tensor):
                return item
    raise BadInputError(f"features: layer {layer!r} produces {type(value).__name__}, not a tensor; pick another "
                        "layer (e.g. the one after it)")


def load_package(name_or_path: str | Path) -> Predictor:
    """Load a package into a `Predictor`.

    Args:
        name_or_path: a package directory written by training (or `save_package`), or a hub name
            `user/model[:tag]` (tag default "latest"). A path that exists wins over a hub name; a name is
            looked up in the hub cache (`SHENDU_HOME/hub/…`), then pulled through the registries of
            `SHENDU_HUB` in order.

    Raises:
        PackageError: no package there, or it is incomplete, malformed or fails its integrity checks.
        BadInputError: a malformed hub name (the message shows the expected form).
    """
    path = _resolve(name_or_path)
    meta_file, weights = path / META, path / WEIGHTS
    if not path.is_dir():
        raise PackageError(f"no model package at {path} (expected a directory with {META} and {WEIGHTS}, or a "
                           "hub name user/model[:tag]; training prints the package path, `shendu runs show RUN` "
                           "lists it and `shendu hub list` shows the hub)")
    for required in (meta_file, weights):
        if not required.is_file():
            raise PackageError(f"package {path} is incomplete: {required.name} is missing")
    try:
        meta = json.loads(meta_file.read_text(encoding="utf-8"))
        spec = meta["model"]
    except (json.JSONDecodeError, KeyError, UnicodeDecodeError) as exc:
        raise PackageError(f"package {path}: {META} is malformed ({exc})") from None
    if meta.get("format") != FORMAT:
        raise PackageError(f"package {path}: format {meta.get('format')!r} is not {FORMAT!r}")
    _check_checksum(path, meta)
    model = create_model(spec["name"], num_classes=spec["num_classes"], in_channels=spec["in_channels"],
                         input_size=spec["input_size"], **spec["args"])
    _load_weights(model, path, spec)
    return Predictor(model, meta, path)


def _resolve(name_or_path: str | Path) -> Path:
    """An existing path as is; a hub name through the hub cache and registries; anything else as a path.

    Path objects are tried as names too, so CLI arguments typed as `Path` resolve hub names as well.
    """
    path = Path(name_or_path).expanduser()
    text = os.fspath(name_or_path)
    from shendu.hub import _hub

    if path.exists() or not _hub.looks_like_name(text):
        return path
    try:
        return _hub.resolve(text)
    except _hub.HubNotFoundError as exc:
        raise _hub.HubNotFoundError(f"no package directory {text!r} and no such hub model: {exc}") from None


def _check_checksum(path: Path, meta: dict[str, Any]) -> None:
    """The weights must match the sha256 recorded in shendu.json (packages older than the field are not checked)."""
    expected = (meta.get("weights") or {}).get("sha256")
    if not expected:
        return
    received = _sha256(path / WEIGHTS)
    if received != expected:
        raise PackageError(f"package {path}: {WEIGHTS} fails its checksum: expected sha256 {expected}, received "
                           f"sha256 {received}; the weights changed after the package was written (corrupted or "
                           "edited) — pull or export the package again")


def _load_weights(model: nn.Module, path: Path, spec: dict[str, Any]) -> None:
    """Load the safetensors weights, naming every tensor whose shape is wrong, missing or unexpected."""
    try:
        with safe_open(str(path / WEIGHTS), framework="pt") as handle:
            stored = {key: tuple(handle.get_slice(key).get_shape()) for key in handle.keys()}
    except (SafetensorError, OSError) as exc:
        raise PackageError(f"package {path}: {WEIGHTS} is not a readable safetensors file ({exc})") from None
    state = model.state_dict()
    saved = {state[key].data_ptr() for key in stored if key in state}  # safetensors stores shared tensors once
    problems = [f"{key} is {stored[key]} in the file but {spec['name']} expects {tuple(value.shape)}"
                for key, value in state.items() if key in stored and stored[key] != tuple(value.shape)]
    problems += [f"missing tensor {key}" for key, value in state.items()
                 if key not in stored and value.data_ptr() not in saved]
    problems += [f"unexpected tensor {key}" for key in stored if key not in state]
    if not problems:
        missing, unexpected = load_model(model, str(path / WEIGHTS), strict=False)
        problems += [f"missing tensor {key}" for key in sorted(missing)]
        problems += [f"unexpected tensor {key}" for key in sorted(unexpected)]
    if problems:
        shown = "; ".join(problems[:6]) + (f"; … and {len(problems) - 6} more" if len(problems) > 6 else "")
        raise PackageError(f"package {path}: the weights do not fit {spec['name']} as described in {META} "
                           f"(num_classes={spec['num_classes']}, in_channels={spec['in_channels']}, input_size="
                           f"{spec['input_size']}, args={spec['args']}): {shown}. Re-export the package from its run, "
                           "or correct the model section of shendu.json")
