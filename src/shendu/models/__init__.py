"""The model zoo. Each model registers itself on import; the list below is explicit (no star imports)."""
from shendu.models import alexnet, densenet, googlenet, lenet, mlp, resnet, text, vgg  # noqa: F401  (registration)
from shendu.models._api import MODELS, check_model_args, create_model, list_models

__all__ = ["MODELS", "check_model_args", "create_model", "list_models"]
