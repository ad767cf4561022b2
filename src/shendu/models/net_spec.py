"""`net_spec`: any declarative net (a YAML/JSON spec, see `shendu.nn.spec`) as a registered model.

    model:
      name: net_spec
      args: {spec: examples/nets/small_resnet.yaml}

The spec's `$num_classes`, `$in_channels` and `$input_size` take the values the trainer builds the model
with, so one spec file trains on any dataset. Without `spec` the model is LeNet-5 (`LENET5_SPEC`, the
same net as examples/nets/lenet.yaml). When a run is packaged, `freeze_args` replaces the spec's file
path by its contents, so the package rebuilds the net without the file.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from shendu.models._api import MODELS
from shendu.nn.spec import SpecNet, compile_spec, load_spec

# LeNet-5 (LeCun et al. 1998) in a 32×32 field: 61,706 parameters for 10 classes at any input size.
LENET5_SPEC: dict[str, Any] = {
    "name": "lenet5",
    "layers": [
        {"name": "field", "type": "pad_to", "size": 32},
        {"name": "c1", "type": "conv2d", "out_channels": 6, "kernel_size": 5},
        {"name": "c1_act", "type": "tanh"},
        {"name": "s2", "type": "avg_pool2d", "kernel_size": 2},
        {"name": "c3", "type": "conv2d", "out_channels": 16, "kernel_size": 5},
        {"name": "c3_act", "type": "tanh"},
        {"name": "s4", "type": "avg_pool2d", "kernel_size": 2},
        {"name": "flat", "type": "flatten"},
        {"name": "c5", "type": "linear", "out_features": 120},
        {"name": "c5_act", "type": "tanh"},
        {"name": "f6", "type": "linear", "out_features": 84},
        {"name": "f6_act", "type": "tanh"},
        {"name": "logits", "type": "linear", "out_features": "$num_classes"},
    ],
    "output": "logits",
}


def _freeze(args: dict[str, Any]) -> dict[str, Any]:
    """Self-contained args: a spec given as a file path is replaced by the parsed spec."""
    spec = args.get("spec")
    if isinstance(spec, (str, Path)):
        return {**args, "spec": load_spec(spec)}
    return dict(args)


@MODELS.register("net_spec", family="spec", paper="declarative (Caffe prototxt role)", modality="image",
                 min_size=1, reference={"num_classes": 10, "in_channels": 1, "input_size": 32}, freeze_args=_freeze)
def net_spec(num_classes: int = 10, in_channels: int = 1, input_size: int = 28,
             spec: str | dict[str, Any] | None = None) -> SpecNet:
    """A net compiled from `spec` (a YAML/JSON path or a dict; default: LeNet-5) for square images."""
    variables = {"num_classes": num_classes, "in_channels": in_channels, "input_size": input_size}
    return compile_spec(LENET5_SPEC if spec is None else spec, (in_channels, input_size, input_size), variables)
