"""The model zoo. Each model registers itself on import; the list below is explicit (no star imports)."""
from shendu.models import (  # noqa: F401  (registration side effects)
    alexnet, densenet, googlenet, lenet, mlp, net_spec, resnet, text, vgg,
)
from shendu.models._api import MODELS, check_model_args, create_model, list_models

__all__ = ["MODELS", "check_model_args", "create_model", "list_models"]
