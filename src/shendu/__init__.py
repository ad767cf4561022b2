"""shendu (深度): a deep learning workbench on PyTorch.

    import shendu
    result = shendu.train("examples/digits-lenet.yaml")
    predictor = shendu.load_package(result.package)
    print(predictor.predict(shendu.load_dataset("digits", "test").x[:5]).labels)

The public names below are imported on first use, so `import shendu` stays cheap and the CLI starts
fast; `shendu.<name>` and `from shendu import <name>` both work as usual.
"""
from __future__ import annotations

import importlib
from typing import Any

from shendu._version import __version__

_EXPORTS = {
    "ExperimentConfig": "shendu.config",
    "load_dataset": "shendu.data", "list_datasets": "shendu.data",
    "create_model": "shendu.models", "list_models": "shendu.models",
    "Trainer": "shendu.train", "TrainResult": "shendu.train", "train": "shendu.train",
    "load_package": "shendu.hub", "Predictor": "shendu.hub",
    "ShenduError": "shendu.errors", "BadInputError": "shendu.errors", "ConfigError": "shendu.errors",
}

__all__ = ["__version__", *sorted(_EXPORTS)]


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        value = getattr(importlib.import_module(_EXPORTS[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'shendu' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
