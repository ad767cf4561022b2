"""`shendu demo`: the first run a newcomer sees — LeNet-5 on the embedded digits, no network."""
from __future__ import annotations

from importlib import resources

import typer

from shendu.cli._common import console, print_json
from shendu.config import ExperimentConfig
from shendu.i18n import both, t


def demo_config() -> ExperimentConfig:
    """The demo's config, shipped inside the package (examples/digits-lenet.yaml is the same file)."""
    with resources.as_file(resources.files("shendu.configs") / "digits-lenet.yaml") as path:
        return ExperimentConfig.load(path)


def register(app: typer.Typer) -> None:
    @app.command(help=both("demo.help"))
    def demo(json_out: bool = typer.Option(False, "--json", help=both("json_help"))) -> None:
        from shendu.train import Trainer

        result = Trainer(demo_config(), progress=not json_out).fit()
        if json_out:
            print_json(result.to_json())
            return
        console.print(t("demo.done", acc=result.metrics.get("test_accuracy", float("nan")),
                        package=result.package, run_id=result.run_id))
