"""Autoencoders: fully connected (plain or deep, optionally unrolled from a DBN) and convolutional.

Both return reconstruction *logits* shaped like the input: pixels live in [0, 1] and the loss is the
per-pixel cross-entropy of Hinton & Salakhutdinov (2006), `binary_cross_entropy_with_logits`.
Denoising (input noise) and sparsity (L1 on the code) are objectives, in `objectives.py`.
"""
from __future__ import annotations

import torch
from torch import nn

from shendu.errors import BadInputError
from shendu.generative.rbm import DBN

_ACTIVATIONS = {"sigmoid": nn.Sigmoid, "relu": nn.ReLU, "tanh": nn.Tanh}


def _activation(name: str) -> nn.Module:
    if name not in _ACTIVATIONS:
        raise BadInputError(f"activation: expected one of {', '.join(_ACTIVATIONS)}, received {name!r}")
    return _ACTIVATIONS[name]()


class Autoencoder(nn.Module):
    """A fully connected autoencoder `sizes[0] → … → sizes[-1] (code) → … → sizes[0]`, decoder mirrored.

    Args:
        sizes: widths from the input to the code, e.g. (784, 1000, 500, 250, 30).
        activation: hidden-layer non-linearity (the 2006 paper: logistic sigmoid).
        linear_code: the code layer is linear (as in the paper) rather than passed through `activation`.
        image_shape: (C, H, W) of the input, restored on the reconstruction.
    """

    def __init__(self, sizes: tuple[int, ...] | list[int] = (784, 1000, 500, 250, 30), activation: str = "sigmoid",
                 linear_code: bool = True, image_shape: tuple[int, int, int] = (1, 28, 28)) -> None:
        super().__init__()
        sizes = tuple(int(s) for s in sizes)
        c, h, w = image_shape
        if len(sizes) < 2 or sizes[0] != c * h * w:
            raise BadInputError(f"autoencoder sizes: expected [inputs, ..., code] with inputs = C·H·W = {c * h * w}, "
                                f"received {list(sizes)}; e.g. sizes=[{c * h * w}, 1000, 500, 250, 30]")
        self.sizes, self.image_shape, self.activation = sizes, tuple(image_shape), activation
        encoder: list[nn.Module] = []
        for i in range(len(sizes) - 1):
            encoder.append(nn.Linear(sizes[i], sizes[i + 1]))
            if i < len(sizes) - 2 or not linear_code:
                encoder.append(_activation(activation))
        decoder: list[nn.Module] = []
        rev = sizes[::-1]
        for i in range(len(rev) - 1):
            decoder.append(nn.Linear(rev[i], rev[i + 1]))
            if i < len(rev) - 2:  # the output layer stays as logits
                decoder.append(_activation(activation))
        self.encoder, self.decoder = nn.Sequential(*encoder), nn.Sequential(*decoder)

    @property
    def code_size(self) -> int:
        return self.sizes[-1]

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return self.encoder(x.flatten(1))  # (B, C·H·W) → (B, code)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return self.decoder(z).view(z.shape[0], *self.image_shape)  # (B, C, H, W) logits

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decode(self.encode(x))

    def linears(self) -> tuple[list[nn.Linear], list[nn.Linear]]:
        """The encoder's and the decoder's Linear layers, in forward order."""
        return ([m for m in self.encoder if isinstance(m, nn.Linear)],
                [m for m in self.decoder if isinstance(m, nn.Linear)])


def unroll(dbn: DBN, image_shape: tuple[int, int, int] = (1, 28, 28)) -> Autoencoder:
    """The deep autoencoder of Hinton & Salakhutdinov (2006) initialised from a pretrained DBN.

    Encoder layer i gets RBM i's weight W (H, V) and hidden bias; the mirrored decoder layer gets Wᵀ and the
    RBM's visible bias. The code layer is linear when the top RBM has Gaussian hidden units.
    """
    linear_code = dbn.rbms[-1].hidden == "gaussian"
    model = Autoencoder(dbn.sizes, "sigmoid", linear_code, image_shape)
    encoder, decoder = model.linears()
    with torch.no_grad():
        for i, rbm in enumerate(dbn.rbms):
            encoder[i].weight.copy_(rbm.weight)
            encoder[i].bias.copy_(rbm.hidden_bias)
            mirror = decoder[len(decoder) - 1 - i]
            mirror.weight.copy_(rbm.weight.t())
            mirror.bias.copy_(rbm.visible_bias)
    return model


class ConvAutoencoder(nn.Module):
    """A small convolutional autoencoder for 28×28-style images: two stride-2 convolutions down to a linear
    code and two transposed convolutions back.

    Args:
        in_channels: image channels.
        input_size: image side (divisible by 4).
        code_size: width of the code.
        width: channels of the first convolution (the second has twice as many).
    """

    def __init__(self, in_channels: int = 1, input_size: int = 28, code_size: int = 32, width: int = 32) -> None:
        super().__init__()
        if input_size % 4:
            raise BadInputError(f"conv autoencoder input_size: expected a multiple of 4, received {input_size}")
        self.image_shape = (in_channels, input_size, input_size)
        self.code_size, side = code_size, input_size // 4
        self.inner = (2 * width, side, side)
        self.encoder = nn.Sequential(
            nn.Conv2d(in_channels, width, 4, stride=2, padding=1), nn.ReLU(),      # (B, w, S/2, S/2)
            nn.Conv2d(width, 2 * width, 4, stride=2, padding=1), nn.ReLU(),        # (B, 2w, S/4, S/4)
            nn.Flatten(), nn.Linear(2 * width * side * side, code_size))            # (B, code)
        self.decoder_fc = nn.Sequential(nn.Linear(code_size, 2 * width * side * side), nn.ReLU())
        self.decoder = nn.Sequential(
            nn.ConvTranspose2d(2 * width, width, 4, stride=2, padding=1), nn.ReLU(),   # (B, w, S/2, S/2)
            nn.ConvTranspose2d(width, in_channels, 4, stride=2, padding=1))            # (B, C, S, S) logits

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return self.encoder(x)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.decoder_fc(z).view(z.shape[0], *self.inner))  # (B, 2w, S/4, S/4) → image

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decode(self.encode(x))


class DBNClassifier(nn.Module):
    """The DBN's sigmoid layers (weights from the RBMs after pretraining) with a softmax layer on top.

    Args:
        dbn: the RBM stack; its layer widths fix the network.
        num_classes: size of the output layer.
    """

    def __init__(self, dbn: DBN, num_classes: int) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        for rbm in dbn.rbms:
            hidden, visible = rbm.weight.shape
            layers += [nn.Linear(visible, hidden), nn.Sigmoid()]
        self.features = nn.Sequential(*layers)
        self.head = nn.Linear(dbn.sizes[-1], num_classes)

    def load_from(self, dbn: DBN) -> None:
        """Copy each RBM's W and hidden bias into the matching layer."""
        linears = [m for m in self.features if isinstance(m, nn.Linear)]
        with torch.no_grad():
            for linear, rbm in zip(linears, dbn.rbms):
                linear.weight.copy_(rbm.weight)
                linear.bias.copy_(rbm.hidden_bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x.flatten(1)))  # (B, C·H·W) → (B, classes)
