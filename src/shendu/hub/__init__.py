"""Model packages (safetensors + JSON), the Predictor that serves them, and the hub that shares them.

    >>> from shendu.hub import load_package, push, pull
    >>> push("~/.shendu/packages/RUN", "alice/lenet5-digits:v1")       # into SHENDU_HOME/hub-registry
    >>> predictor = load_package("alice/lenet5-digits:v1")             # cache, else pulled (SHENDU_HUB)
    >>> features = predictor.features(images)                          # (N, D) penultimate activations
"""
from shendu.hub._hub import (
    HubError, HubName, HubNotFoundError, UnsafeArchiveError, info, list_models, parse_name, pull, push, registries,
)
from shendu.hub._export import OnnxRunner, export_onnx, export_record, export_torchscript, verify_export
from shendu.hub._package import Prediction, Predictor, load_package, save_package

__all__ = [
    "HubError",
    "HubName",
    "HubNotFoundError",
    "OnnxRunner",
    "Prediction",
    "Predictor",
    "UnsafeArchiveError",
    "export_onnx",
    "export_record",
    "export_torchscript",
    "info",
    "list_models",
    "load_package",
    "parse_name",
    "pull",
    "push",
    "registries",
    "save_package",
    "verify_export",
]
