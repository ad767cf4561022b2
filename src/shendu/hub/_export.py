"""Export a package's network to ONNX or TorchScript, and check the export against PyTorch.

The exported graph is the network only: it takes the PREPROCESSED input named `input` — float32
(N, C, H, W) standardized as `shendu.json` says, or int64 token ids (N, L) for text models — and
returns `logits` (N, K). Preprocessing and class names stay data in `shendu.json` (and are copied
into the ONNX file's metadata), so the same graph serves every runtime.

ONNX goes through PyTorch's dynamo exporter (`torch.export`); a model that `torch.export` cannot
capture (data-dependent Python control flow, e.g. TextCNN's token-range check) falls back to the
legacy TorchScript-based exporter, and the file records which exporter wrote it and why
(`shendu.exporter`, `shendu.export_note` in the ONNX metadata). TorchScript tries `torch.jit.script`
and falls back to `torch.jit.trace` the same way.

One portability rewrite is applied to every ONNX file: `Clip` on integer tensors (what
`clamp(min=0)` on int64 lengths exports to) becomes `Max`/`Min`, which is the same function; OpenCV's
DNN module implements `Clip` for floats only and rejects the original graph.
"""
from __future__ import annotations

import contextlib
import io
import json
import os
import re
import uuid
import warnings
import zipfile
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np
import torch
from torch import nn

from shendu.errors import BadInputError, ShenduError
from shendu.hub._package import Predictor
from shendu.models import MODELS

ONNX_SUFFIXES = (".onnx",)
TORCHSCRIPT_SUFFIXES = (".pt", ".pth")
VERIFY_BATCHES = (1, 5)  # 1 and a batch unlike the tracing batch (2): proves the dynamic batch axis
TRACE_BATCH = 2  # torch.export specializes a dimension of size 0 or 1, so trace the batch at 2
DEFAULT_TEXT_LENGTH = 32
MODEL_KEYS = ("name", "args", "num_classes", "in_channels", "input_size")
METADATA_KEY = "shendu.export.json"  # TorchScript extra file holding the export record


# ------------------------------------------------------------------------------------------------ inputs


def _modality(predictor: Predictor) -> str:
    name = predictor.meta["model"]["name"]
    return MODELS.meta(name).get("modality", "image") if name in MODELS.names() else "image"


def sample_input(predictor: Predictor, batch: int, seed: int = 0) -> torch.Tensor:
    """A deterministic input the exported graph takes: standardized-scale floats N(0, 1) of the package's
    (C, H, W), or for text models token ids in [1, vocab) of the package's length with trailing padding
    (id 0) on every other row, so the length masking is exercised too."""
    generator = torch.Generator().manual_seed(seed)
    if _modality(predictor) != "text":
        return torch.randn(batch, *predictor.input_shape, generator=generator)  # (N, C, H, W)
    length = int(predictor.meta["model"].get("input_size") or DEFAULT_TEXT_LENGTH)
    vocab = int(getattr(predictor.model, "vocab_size", 0) or predictor.meta["model"]["args"].get("vocab_size", 2))
    tokens = torch.randint(1, max(vocab, 2), (batch, length), generator=generator)  # (N, L)
    tokens[1::2, length // 2:] = 0  # shorter sentences, padded at the end
    return tokens


@torch.no_grad()
def _reference(predictor: Predictor, x: torch.Tensor) -> np.ndarray:
    predictor.model.eval()  # eval: dropout off, BN running stats, GoogLeNet without its auxiliary heads
    out = predictor.model(x)
    return (out[0] if isinstance(out, tuple) else out).double().numpy()


# ------------------------------------------------------------------------------------------ output paths


def _check_output(path: str | Path, suffixes: tuple[str, ...], fmt: str) -> Path:
    """The file to write: a path ending in one of `suffixes` whose parent is (or can be) a directory."""
    path = Path(path).expanduser()
    if path.is_dir():
        example = path / f"model{suffixes[0]}"
        raise BadInputError(f"output path {path} is a directory; expected a file path such as {example}")
    if path.suffix.lower() not in suffixes:
        raise BadInputError(f"output path {path}: {fmt} files end in {' or '.join(suffixes)}, received "
                            f"{path.suffix or 'no suffix'}; name it e.g. {path.with_suffix(suffixes[0]).name}")
    for parent in [path.parent, *path.parent.parents]:
        if parent.exists():
            if not parent.is_dir():
                raise BadInputError(f"output path {path}: {parent} is a file, not a directory; choose another path")
            if not os.access(parent, os.W_OK):
                raise BadInputError(f"output path {path}: directory {parent} is not writable; choose another path")
            break
    return path


@contextlib.contextmanager
def _atomic_target(path: Path) -> Iterator[Path]:
    """Yield a temporary file beside `path`, moved onto `path` only if the block succeeds."""
    path.parent.mkdir(parents=True, exist_ok=True)
    # Not mkstemp: its 0600 mode would stick to the final file; the writers create it with the umask's mode.
    tmp = path.parent / f".{path.stem}.{uuid.uuid4().hex[:12]}.tmp{path.suffix}"
    try:
        yield Path(tmp)
        os.replace(tmp, path)
    finally:
        Path(tmp).unlink(missing_ok=True)


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """Silence exporter chatter (deprecation and tracer warnings, graph dumps on a failed capture): the
    outcome, including why a fallback was taken, is recorded in the file instead."""
    sink = io.StringIO()
    with warnings.catch_warnings(), contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink):
        warnings.simplefilter("ignore")
        yield


def _reason(exc: BaseException) -> str:
    """One line out of an exporter's multi-page error: the exception summary if there is one."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    if "## Exception summary" in lines:
        after = lines[lines.index("## Exception summary") + 1:]
        lines = after or lines
    text = re.sub(r"<class '(?:[\w.]+\.)?(\w+)'>", r"\1", lines[0]) if lines else type(exc).__name__
    text = text.split(" (unhinted:")[0]  # torch's symbolic-shape detail: not actionable for a user
    text = text if len(text) <= 240 else text[:239] + "…"
    frames = re.findall(r'File "([^"]+)", line (\d+)(?:, in (\w+))?', str(exc))
    if frames:  # where in the model's code the capture gave up
        file, line, function = frames[-1]
        text = text.rstrip(":") + f" at {Path(file).name}:{line}" + (f" in {function}" if function else "")
    return text


# ---------------------------------------------------------------------------------------------------- ONNX


def export_onnx(predictor: Predictor, path: str | Path, *, opset: int = 18, dynamic_batch: bool = True) -> Path:
    """Write the package's network as an ONNX file (atomically) and return its path.

    Args:
        predictor: a loaded package (`load_package`).
        path: the `.onnx` file to write; missing parent directories are created.
        opset: ONNX opset of the default domain (18 is what ONNX Runtime and OpenCV DNN 4.8+ both load).
        dynamic_batch: leave the batch axis of `input` and `logits` free; False fixes it at 1.

    Raises:
        BadInputError: bad path or opset. ShenduError: neither exporter could export the model.
    """
    import onnx

    path = _check_output(path, ONNX_SUFFIXES, "ONNX")
    highest = onnx.defs.onnx_opset_version()
    if not isinstance(opset, int) or not 7 <= opset <= highest:
        raise BadInputError(f"opset: expected an integer from 7 to {highest} (18 is the tested default), "
                            f"received {opset!r}")
    model = predictor.model.eval()
    x = sample_input(predictor, TRACE_BATCH if dynamic_batch else 1)
    with _atomic_target(path) as tmp:
        exporter, note = _export_onnx_file(model, x, tmp, opset, dynamic_batch)
        proto = onnx.load(str(tmp))
        rewritten = _integer_clip_to_max_min(proto)
        if rewritten:
            rewrite = f"{rewritten} integer Clip node(s) rewritten as Max/Min for OpenCV DNN"
            note = f"{note}; {rewrite}" if note else rewrite
        written = next((o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")), opset)
        _set_metadata(proto, predictor, {"exporter": exporter, "export_note": note, "opset": str(written)})
        onnx.checker.check_model(proto)
        onnx.save(proto, str(tmp))
    return path


def _export_onnx_file(model: nn.Module, x: torch.Tensor, path: Path, opset: int, dynamic: bool) -> tuple[str, str]:
    """Dynamo exporter first, then the legacy one; returns (exporter, note)."""
    names = {"input_names": ["input"], "output_names": ["logits"]}
    shapes = ({0: torch.export.Dim("batch")},) if dynamic else None  # one entry per forward argument
    try:
        with _quiet():
            torch.onnx.export(model, (x,), str(path), dynamo=True, external_data=False, verbose=False,
                              opset_version=opset, dynamic_shapes=shapes, **names)
        written = _opset_of(path)
        if written == opset:
            return "dynamo", ""
        # The dynamo exporter writes opset 18 at least and does not say so when asked for less.
        dynamo_problem = f"wrote opset {written} instead of the requested {opset}"
    except Exception as exc:  # noqa: BLE001 — any capture failure: try the tracer, and record why
        dynamo_problem = f"failed ({_reason(exc)})"
    axes = {"input": {0: "batch"}, "logits": {0: "batch"}} if dynamic else None
    try:
        with _quiet(), torch.no_grad():
            torch.onnx.export(model, (x,), str(path), dynamo=False, opset_version=opset, dynamic_axes=axes, **names)
    except Exception as exc:  # noqa: BLE001
        raise ShenduError(f"ONNX export failed with both exporters: dynamo {dynamo_problem}; legacy failed "
                          f"({_reason(exc)}). Try --format torchscript, or another --opset") from None
    return "legacy", f"dynamo exporter {dynamo_problem}; exported with the legacy TorchScript-based exporter"


def _opset_of(path: Path) -> int:
    import onnx

    proto = onnx.load(str(path), load_external_data=False)
    return next((o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")), -1)


def _integer_clip_to_max_min(proto: Any) -> int:
    """Replace top-level `Clip` nodes on integer tensors by `Max(x, min)` / `Min(·, max)`; return how many."""
    import onnx
    from onnx import TensorProto, helper

    integers = {TensorProto.INT8, TensorProto.INT16, TensorProto.INT32, TensorProto.INT64,
                TensorProto.UINT8, TensorProto.UINT16, TensorProto.UINT32, TensorProto.UINT64}
    inferred = onnx.shape_inference.infer_shapes(proto)
    graph = inferred.graph
    types = {v.name: v.type.tensor_type.elem_type for v in [*graph.value_info, *graph.input, *graph.output]}
    nodes, count = [], 0
    for node in proto.graph.node:
        inputs = list(node.input) + ["", ""]
        if node.op_type != "Clip" or types.get(inputs[0]) not in integers or len(node.input) < 2:
            nodes.append(node)
            continue
        count += 1
        current = inputs[0]
        steps = [(op, bound) for op, bound in (("Max", inputs[1]), ("Min", inputs[2])) if bound]
        for i, (op, bound) in enumerate(steps):
            out = node.output[0] if i == len(steps) - 1 else f"{node.output[0]}__{op.lower()}"
            nodes.append(helper.make_node(op, [current, bound], [out], name=f"{node.name}__{op.lower()}"))
            current = out
        if not steps:
            nodes.append(helper.make_node("Identity", [current], list(node.output), name=node.name))
    if count:
        del proto.graph.node[:]
        proto.graph.node.extend(nodes)
    return count


def _set_metadata(proto: Any, predictor: Predictor, extra: dict[str, str]) -> None:
    spec = predictor.meta["model"]
    entries = {
        "shendu.model": json.dumps({k: spec.get(k) for k in MODEL_KEYS}, ensure_ascii=False),
        "shendu.preprocessing": json.dumps(predictor.meta.get("preprocessing"), ensure_ascii=False),
        "shendu.classes": json.dumps(predictor.classes, ensure_ascii=False),
        **{f"shendu.{k}": v for k, v in extra.items()},
    }
    del proto.metadata_props[:]
    for key, value in entries.items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, value


# ------------------------------------------------------------------------------------------- TorchScript


def export_torchscript(predictor: Predictor, path: str | Path) -> Path:
    """Write the package's network as a TorchScript archive (atomically) and return its path.

    `torch.jit.script` keeps Python control flow; models it cannot compile are traced instead
    (`torch.jit.trace` on a sample batch). Either way the archive carries `shendu.json` and an export
    record (`shendu.export.json`: exporter, note) as extra files, readable with `torch.jit.load(...,
    _extra_files=...)`.
    """
    path = _check_output(path, TORCHSCRIPT_SUFFIXES, "TorchScript")
    model = predictor.model.eval()
    note = ""
    try:
        with _quiet():
            compiled, exporter = torch.jit.script(model), "script"
    except Exception as exc:  # noqa: BLE001 — fall back to tracing, and record why
        note = f"torch.jit.script failed ({_reason(exc)}); traced instead"
        try:
            with _quiet(), torch.no_grad():
                compiled, exporter = torch.jit.trace(model, (sample_input(predictor, TRACE_BATCH),)), "trace"
        except Exception as trace_exc:  # noqa: BLE001
            raise ShenduError(f"TorchScript export failed: script: {_reason(exc)}; trace: {_reason(trace_exc)}. "
                              "Try --format onnx") from None
    record = {"exporter": exporter, "export_note": note, "format": "torchscript"}
    extra = {"shendu.json": json.dumps(predictor.meta, ensure_ascii=False), METADATA_KEY: json.dumps(record)}
    with _atomic_target(path) as tmp, _quiet():
        torch.jit.save(compiled, str(tmp), _extra_files=extra)
    return path


# ---------------------------------------------------------------------------------------------- runtimes


class OnnxRunner:
    """Logits for a preprocessed batch through ONNX Runtime (CPU). Thread-safe: one session, many callers.

    Args:
        onnx_path: a file written by `export_onnx`.
        threads: intra-op threads for ONNX Runtime (None: its default, all cores).
    """

    def __init__(self, onnx_path: str | Path, *, threads: int | None = None) -> None:
        import onnxruntime as ort

        self.path = Path(onnx_path)
        if not self.path.is_file():
            raise BadInputError(f"no ONNX file at {self.path}; write one with `shendu export PACKAGE --format onnx`")
        options = ort.SessionOptions()
        if threads:
            options.intra_op_num_threads = threads
        try:
            self.session = ort.InferenceSession(str(self.path), options, providers=["CPUExecutionProvider"])
        except Exception as exc:  # noqa: BLE001 — onnxruntime raises its own exception types
            raise BadInputError(f"{self.path} is not a loadable ONNX model: {_reason(exc)}") from None
        spec = self.session.get_inputs()[0]
        self.input_name, self.output_name = spec.name, self.session.get_outputs()[0].name
        self.input_shape: tuple[int | None, ...] = tuple(d if isinstance(d, int) else None for d in spec.shape)
        self.integer_input = "int" in spec.type
        self.metadata: dict[str, str] = dict(self.session.get_modelmeta().custom_metadata_map)

    def __call__(self, x: np.ndarray) -> np.ndarray:
        """(N, C, H, W) float32 standardized images, or (N, L) int64 token ids → (N, K) float32 logits."""
        x = np.asarray(x)
        self._check(x)
        x = np.ascontiguousarray(x, dtype=np.int64 if self.integer_input else np.float32)
        return self.session.run([self.output_name], {self.input_name: x})[0]

    def _check(self, x: np.ndarray) -> None:
        shape = "(" + ", ".join("N" if d is None else str(d) for d in self.input_shape) + ")"
        kind = "int64 token ids" if self.integer_input else "float32 preprocessed (standardized) values"
        if self.integer_input and x.dtype.kind not in "iu":
            raise BadInputError(f"expected {kind} of shape {shape}, received {x.dtype}; tokenize the text first")
        if not self.integer_input and x.dtype.kind != "f":
            raise BadInputError(f"expected {kind} of shape {shape}, received {x.dtype}; apply the package's "
                                "preprocessing (shendu.json) to uint8 pixels first")
        if x.ndim != len(self.input_shape) or any(d is not None and d != n for d, n in zip(self.input_shape, x.shape)):
            raise BadInputError(f"expected {kind} of shape {shape}, received shape {tuple(x.shape)}")


def _torchscript_runner(path: Path) -> Callable[[np.ndarray], np.ndarray]:
    try:
        with _quiet():
            module = torch.jit.load(str(path), map_location="cpu").eval()
    except Exception as exc:  # noqa: BLE001
        raise BadInputError(f"{path} is not a loadable TorchScript archive: {_reason(exc)}") from None

    @torch.no_grad()
    def run(x: np.ndarray) -> np.ndarray:
        return module(torch.from_numpy(x)).numpy()

    return run


def export_record(path: str | Path) -> dict[str, str]:
    """How a file was exported: {"format", "exporter", "export_note"}, read from the file (cheaply: the ONNX
    metadata, or the extra file inside the TorchScript zip archive); values are "" when unrecorded."""
    path = Path(path)
    fmt = _format_of(path)
    if fmt == "onnx":
        import onnx

        meta = {p.key: p.value for p in onnx.load(str(path), load_external_data=False).metadata_props}
        record = {k: meta.get(f"shendu.{k}", "") for k in ("exporter", "export_note")}
    else:
        with zipfile.ZipFile(path) as archive:
            names = [n for n in archive.namelist() if n.endswith(f"/extra/{METADATA_KEY}")]
            record = json.loads(archive.read(names[0])) if names else {}
    return {"format": fmt, "exporter": record.get("exporter", ""), "export_note": record.get("export_note", "")}


def _format_of(path: Path) -> str:
    if not path.is_file():
        raise BadInputError(f"no exported file at {path}; write one with `shendu export PACKAGE --format ...`")
    if path.suffix.lower() in ONNX_SUFFIXES:
        return "onnx"
    if path.suffix.lower() in TORCHSCRIPT_SUFFIXES:
        return "torchscript"
    raise BadInputError(f"cannot tell the format of {path}: expected a .onnx, .pt or .pth file")


# ---------------------------------------------------------------------------------------------- checking


def verify_export(predictor: Predictor, path: str | Path, *, atol: float = 1e-4, rtol: float = 1e-3) -> dict[str, Any]:
    """Run an export on sample inputs (batches of 1 and 5, or the fixed batch) and compare with PyTorch.

    Passes when every output satisfies |exported − torch| <= atol + rtol·|torch| (numpy's allclose).
    fp32 exports of the zoo models typically differ by 1e-8 to 1e-5.

    Returns:
        {"path", "format", "exporter", "export_note", "runtime", "max_abs_diff", "batch_sizes", "atol", "rtol"}.

    Raises:
        ShenduError: outputs differ beyond the tolerance (the message gives the largest difference).
    """
    path = Path(path)
    record = export_record(path)
    fmt, runner = record["format"], OnnxRunner(path) if record["format"] == "onnx" else _torchscript_runner(path)
    runtime = "onnxruntime" if fmt == "onnx" else "torch.jit"
    fixed = isinstance(runner, OnnxRunner) and runner.input_shape[0] is not None
    batches = (runner.input_shape[0],) if fixed else VERIFY_BATCHES
    worst = 0.0
    for seed, batch in enumerate(batches):
        x = sample_input(predictor, batch, seed=seed)
        ref, out = _reference(predictor, x), np.asarray(runner(x.numpy()), dtype=np.float64)
        if out.shape != ref.shape:
            raise ShenduError(f"{fmt} export {path} gives outputs of shape {out.shape} for a batch of {batch}, "
                              f"PyTorch {ref.shape}; export again")
        worst = max(worst, float(np.abs(out - ref).max(initial=0.0)))
        if not np.allclose(out, ref, atol=atol, rtol=rtol):
            raise ShenduError(f"{fmt} export {path} differs from PyTorch: max |difference| {worst:.3g} on a batch of "
                              f"{batch} (tolerance atol={atol:g}, rtol={rtol:g}); do not ship this file")
    return {"path": str(path.resolve()), **record, "runtime": runtime, "max_abs_diff": worst,
            "batch_sizes": list(batches), "atol": atol, "rtol": rtol}
