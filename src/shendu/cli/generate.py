"""`shendu generate PACKAGE [--n 64] [--out FILE.png] [--prime TEXT --length N --temperature T]`."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from shendu.cli._common import console, print_json


def register(app: typer.Typer) -> None:
    @app.command(help="Generate images or text from a generative package / 用生成模型包生成图像或文本")
    def generate(
        package: str = typer.Argument(..., help="package directory or run id / 模型包目录或运行 ID"),
        n: int = typer.Option(64, "--n", min=1, max=1024, help="images to generate / 生成图像数"),
        out: Optional[Path] = typer.Option(None, "--out", help="PNG file for the image grid / 图像网格 PNG 文件"),
        prime: str = typer.Option("", "--prime", help="char_rnn: text to continue / 起始文本"),
        length: int = typer.Option(200, "--length", min=1, help="char_rnn: characters to sample / 生成字符数"),
        temperature: float = typer.Option(1.0, "--temperature", min=0.0, help="char_rnn: 0 = greedy / 采样温度"),
        seed: int = typer.Option(0, "--seed", min=0),
        json_out: bool = typer.Option(False, "--json", help="one JSON line / 输出 JSON"),
    ) -> None:
        from shendu.generative import load_generative
        from shendu.generative.pictures import image_grid

        loaded = load_generative(package)
        if loaded.kind == "char_rnn":
            text = loaded.text(prime or loaded.meta["chars"][0], length, temperature, seed)
            print_json({"kind": loaded.kind, "text": text}) if json_out else console.print(text, markup=False)
            return
        images = loaded.images(n, seed)
        path = out or Path(f"generated-{loaded.meta['run_id']}.png")
        image_grid(images, path, f"{loaded.kind}: {n} generated images (seed {seed})", rows=max(1, round(n ** 0.5)))
        if json_out:
            print_json({"kind": loaded.kind, "images": n, "path": str(path.resolve())})
        else:
            console.print(f"{n} images → {path} / 已生成 {n} 张图像")
