"""Model packages (safetensors + JSON) and the Predictor that serves them."""
from shendu.hub._package import Prediction, Predictor, load_package, save_package

__all__ = ["Prediction", "Predictor", "load_package", "save_package"]
