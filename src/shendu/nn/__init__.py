"""Layers, blocks, activations and initializations shared by the model zoo."""
from shendu.nn._activations import ACTIVATIONS, INITS, activation, init_weights

__all__ = ["ACTIVATIONS", "INITS", "activation", "init_weights"]
