"""Training: the Trainer, `train(config)`, metrics, checkpoints and preprocessing."""
from shendu.train._callbacks import CALLBACKS, Callback
from shendu.train._preprocess import Preprocessing
from shendu.train._trainer import Trainer, TrainResult, resolve_device, train

__all__ = ["CALLBACKS", "Callback", "Preprocessing", "TrainResult", "Trainer", "resolve_device", "train"]
