"""Training: the Trainer, `train(config)`, metrics, checkpoints and preprocessing."""
from shendu.train._preprocess import Preprocessing
from shendu.train._trainer import Trainer, TrainResult, resolve_device, train

__all__ = ["Preprocessing", "TrainResult", "Trainer", "resolve_device", "train"]
