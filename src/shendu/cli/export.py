"""`shendu export PACKAGE --format onnx|torchscript --output PATH [--opset N] [--no-verify] [--json]`."""
from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Optional

import typer

from shendu.cli._common import console, err_console, print_json
from shendu.errors import BadInputError, ShenduError

FORMATS = ("onnx", "torchscript")
HELP = ("Export a model package to ONNX (ONNX Runtime, OpenCV DNN) or TorchScript, then check the file against "
        "PyTorch. / 将模型包导出为 ONNX（ONNX Runtime、OpenCV DNN）或 TorchScript，并与 PyTorch 的输出逐一核对。")


def register(app: typer.Typer) -> None:
    @app.command("export", help=HELP)
    def export(
        package: str = typer.Argument(..., help="model package directory (or hub name) / 模型包目录（或模型库名称）"),
        fmt: str = typer.Option(..., "--format", "-f", help="onnx | torchscript / 导出格式"),
        output: Path = typer.Option(..., "--output", "-o", help="file to write (.onnx, .pt) / 输出文件"),
        opset: Optional[int] = typer.Option(None, "--opset", help="ONNX opset (default 18) / ONNX 算子集版本"),
        verify: bool = typer.Option(True, "--verify/--no-verify",
                                    help="compare with PyTorch after export / 导出后与 PyTorch 对比"),
        json_out: bool = typer.Option(False, "--json", help="print one JSON object last / 最后输出一行 JSON"),
    ) -> None:
        try:
            result = _export(package, fmt, output, opset, verify)
        except ShenduError as exc:
            if not json_out:
                raise
            err_console.print(f"error: {exc}")
            print_json({"path": None, "format": fmt, "max_abs_diff": None, "exporter": None, "error": str(exc)})
            raise typer.Exit(exc.exit_code)
        if json_out:
            print_json({key: result[key] for key in ("path", "format", "max_abs_diff", "exporter")})
        else:
            _report(result)


def _export(package: str, fmt: str, output: Path, opset: int | None, verify: bool) -> dict[str, Any]:
    """Check the options, export, verify; the library does the work."""
    from shendu._registry import nearest
    from shendu.hub import load_package
    from shendu.hub._export import export_onnx, export_record, export_torchscript, verify_export

    if fmt not in FORMATS:
        close = nearest(fmt.lower(), list(FORMATS))
        hint = f" — did you mean {close[0]!r}?" if close else ""
        raise BadInputError(f"unknown export format {fmt!r}{hint} (valid: {', '.join(FORMATS)})")
    if opset is not None and fmt != "onnx":
        raise BadInputError(f"--opset applies to --format onnx only, received --format {fmt} --opset {opset}; "
                            "drop --opset")
    predictor = load_package(package)
    start = time.perf_counter()
    path = export_onnx(predictor, output, opset=opset or 18) if fmt == "onnx" else export_torchscript(predictor, output)
    seconds = time.perf_counter() - start
    if verify:
        result = verify_export(predictor, path)
    else:
        result = {"path": str(path.resolve()), "max_abs_diff": None, **export_record(path)}
    return {**result, "seconds": seconds, "model": predictor.meta["model"]["name"]}


def _report(result: dict[str, Any]) -> None:
    size = Path(result["path"]).stat().st_size / 1e6
    console.print(f"exported {result['model']} → {result['path']} ({result['format']}, {result['exporter']} exporter, "
                  f"{size:.2f} MB) in {result['seconds']:.1f} s / 已导出")
    if result.get("export_note"):
        console.print(f"note / 说明: {result['export_note']}")
    if result["max_abs_diff"] is None:
        console.print("not verified (--no-verify) / 未核对")
        return
    console.print(f"verified against PyTorch on batches {result['batch_sizes']} with {result['runtime']}: "
                  f"max |difference| {result['max_abs_diff']:.2e} (atol {result['atol']:g}, rtol {result['rtol']:g})"
                  " / 已与 PyTorch 核对")
