"""Layers, blocks, activations and initializations shared by the model zoo, plus declarative nets."""
from shendu.nn._activations import ACTIVATIONS, INITS, activation, init_weights
from shendu.nn.dense import DenseBlock, DenseLayer, Transition
from shendu.nn.inception import ConvBlock, Inception
from shendu.nn.lrn import LRN
from shendu.nn.residual import BasicBlock, Bottleneck
from shendu.nn.text import TextConv

__all__ = ["ACTIVATIONS", "INITS", "BasicBlock", "Bottleneck", "ConvBlock", "DenseBlock", "DenseLayer", "Inception",
           "LRN", "TextConv", "Transition", "activation", "init_weights"]
