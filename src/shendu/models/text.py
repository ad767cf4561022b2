"""Text classifiers over a word embedding: TextCNN (Kim 2014) and recurrent classifiers (RNN/LSTM/GRU).

Input: (B, L) int64 token ids with 0 = padding (`padding_idx=0`, its embedding starts at zero and
receives no gradient). Padding is trailing; a sentence's length is its number of non-zero tokens.
Both models give the same logits for a sentence whatever trailing padding the batch adds.

The word vectors live in `model.embedding` (an `nn.Embedding`), so pretrained vectors can be copied
into `model.embedding.weight`; `freeze_embedding=True` keeps them fixed (Kim's "static" variant,
False is "non-static").

Trainer hook: a model may define `apply_max_norm()`; the trainer calls it after every optimizer
step. TextCNN uses it for Kim's l2-norm constraint on the output layer.
"""
from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from shendu.errors import BadInputError
from shendu.models._api import MODELS
from shendu.nn.text import TextConv

TEXT_REFERENCE = {"num_classes": 2, "vocab_size": 20000}  # a binary sentiment task with a 20k-word vocabulary


def _check_tokens(tokens: torch.Tensor, vocab_size: int, model: str) -> None:
    """Fail with a readable message instead of nn.Embedding's IndexError or a dtype error."""
    if tokens.dim() != 2 or tokens.is_floating_point() or tokens.is_complex():
        raise BadInputError(
            f"{model} expects (B, L) integer token ids, received {tokens.dtype} of shape {tuple(tokens.shape)}; "
            "tokenize the text and map words to ids with the vocabulary first"
        )
    if tokens.numel() and (tokens.min() < 0 or tokens.max() >= vocab_size):
        raise BadInputError(
            f"{model}: token ids must lie in [0, {vocab_size}), received ids from {int(tokens.min())} to "
            f"{int(tokens.max())}; build the model with vocab_size = the vocabulary size"
        )


# ----------------------------------------------------------------------------------------------- TextCNN


class TextCNN(nn.Module):
    """Kim (2014), "Convolutional Neural Networks for Sentence Classification".

    Embedding → 1-D convolutions of widths 3/4/5 with 100 maps each, ReLU, max over time → dropout 0.5
    → fully connected layer. Batches shorter than the widest filter are padded with padding tokens
    (id 0) up to that width. Word vectors start uniform in [−0.25, 0.25], as in Kim's code for
    words without a pretrained vector (CNN-rand).

    Args:
        num_classes: outputs.
        vocab_size: rows of the embedding, including the padding id 0.
        embed_dim: size of a word vector (300, word2vec's, in the paper).
        widths: filter widths in words.
        maps: feature maps per width.
        dropout: dropout probability on the pooled sentence vector.
        max_norm: s of the l2 constraint on the output layer, or None for no constraint; see
            `apply_max_norm`.
        freeze_embedding: keep the word vectors fixed ("static") instead of training them.
        activation: name from `shendu.nn.ACTIVATIONS` for the convolutions.
    """

    def __init__(self, num_classes: int, vocab_size: int, embed_dim: int = 300, widths: Sequence[int] = (3, 4, 5),
                 maps: int = 100, dropout: float = 0.5, max_norm: float | None = 3.0,
                 freeze_embedding: bool = False, activation: str = "relu") -> None:
        super().__init__()
        if max_norm is not None and max_norm <= 0:
            raise BadInputError(f"textcnn max_norm: expected a positive number or None, received {max_norm}")
        self.vocab_size, self.max_norm = vocab_size, max_norm
        self.embedding = nn.Embedding(vocab_size, embed_dim, padding_idx=0)
        self.conv = TextConv(embed_dim, widths, maps, activation)
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(self.conv.out_features, num_classes)
        self._init_embedding(freeze_embedding)

    @torch.no_grad()
    def _init_embedding(self, freeze: bool) -> None:
        nn.init.uniform_(self.embedding.weight, -0.25, 0.25)  # Kim's CNN-rand: variance close to word2vec's
        self.embedding.weight[0].zero_()  # the padding token
        self.embedding.weight.requires_grad_(not freeze)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        _check_tokens(tokens, self.vocab_size, "textcnn")
        lengths = (tokens != 0).sum(dim=1)  # (B,) real tokens per sentence
        short = max(self.conv.widths) - tokens.shape[1]
        if short > 0:
            tokens = F.pad(tokens, (0, short))  # (B, max width): padding tokens so every filter fits once
        x = self.embedding(tokens)  # (B, L, E)
        x = self.conv(x, lengths)  # (B, len(widths)·maps)
        return self.fc(self.dropout(x))  # (B, num_classes)

    @torch.no_grad()
    def apply_max_norm(self) -> None:
        """Kim's l2 constraint: rows of the output weight (one per class) longer than `max_norm` are
        rescaled to length exactly `max_norm`; shorter rows are left alone. The trainer calls this
        after every optimizer step (the paper applies it "after a gradient descent step")."""
        if self.max_norm is None:
            return
        norms = self.fc.weight.norm(dim=1, keepdim=True)  # (num_classes, 1)
        self.fc.weight.mul_((self.max_norm / norms).clamp(max=1.0))  # a zero row gives inf → 1: unchanged


@MODELS.register("textcnn", family="textcnn", paper="Kim 2014", modality="text", reference=TEXT_REFERENCE)
def textcnn(num_classes: int = 2, vocab_size: int = 20000, embed_dim: int = 300, widths: Sequence[int] = (3, 4, 5),
            maps: int = 100, dropout: float = 0.5, max_norm: float | None = 3.0, freeze_embedding: bool = False,
            activation: str = "relu") -> TextCNN:
    return TextCNN(num_classes, vocab_size, embed_dim, widths, maps, dropout, max_norm, freeze_embedding, activation)


# ------------------------------------------------------------------------------------- recurrent classifiers

CELLS: dict[str, type[nn.RNNBase]] = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}  # nn.RNN is Elman's, tanh
READOUTS = ("last", "max")


class RNNClassifier(nn.Module):
    """Embedding → recurrent layers (RNN, LSTM or GRU; uni- or bidirectional) → readout → dropout → FC.

    Sequences are packed with their true lengths (`pack_padded_sequence`), so the recurrence never
    reads padding. Readouts:

    - "last": the final hidden state of the last layer — for a bidirectional net the forward state
      after the last real token and the backward state after the first, concatenated.
    - "max": the maximum over time of the last layer's outputs, over real positions only.

    An all-padding row is read as one padding token (packing needs a length of at least 1).

    Args:
        num_classes: outputs.
        vocab_size: rows of the embedding, including the padding id 0.
        embed_dim: size of a word vector.
        cell: "rnn", "lstm" or "gru".
        hidden: hidden units per direction.
        layers: stacked recurrent layers.
        bidirectional: also run right to left and concatenate both directions.
        readout: "last" or "max".
        dropout: dropout probability between recurrent layers and before the FC layer.
        freeze_embedding: keep the word vectors fixed instead of training them.
    """

    def __init__(self, num_classes: int, vocab_size: int, embed_dim: int = 128, cell: str = "lstm",
                 hidden: int = 128, layers: int = 1, bidirectional: bool = False, readout: str = "last",
                 dropout: float = 0.5, freeze_embedding: bool = False) -> None:
        super().__init__()
        for arg, value, valid in (("cell", cell, tuple(CELLS)), ("readout", readout, READOUTS)):
            if value not in valid:
                raise BadInputError(
                    f"rnn_classifier {arg}: expected one of {', '.join(map(repr, valid))}, received {value!r}"
                )
        self.vocab_size, self.readout = vocab_size, readout
        self.directions = 2 if bidirectional else 1
        self.embedding = nn.Embedding(vocab_size, embed_dim, padding_idx=0)
        self.embedding.weight.requires_grad_(not freeze_embedding)
        # torch applies `dropout` only between layers; with one layer it would only warn.
        self.rnn = CELLS[cell](embed_dim, hidden, num_layers=layers, batch_first=True,
                               bidirectional=bidirectional, dropout=dropout if layers > 1 else 0.0)
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(self.directions * hidden, num_classes)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        _check_tokens(tokens, self.vocab_size, "rnn_classifier")
        lengths = (tokens != 0).sum(dim=1).clamp(min=1).cpu()  # (B,) packing wants lengths on the CPU
        x = self.embedding(tokens)  # (B, L, E)
        packed = pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
        outputs, state = self.rnn(packed)
        if self.readout == "last":
            h_n = state[0] if isinstance(state, tuple) else state  # LSTM returns (h_n, c_n)
            features = torch.cat(list(h_n[-self.directions:]), dim=1)  # (B, D·H): last layer, forward then backward
        else:
            outputs, _ = pad_packed_sequence(outputs, batch_first=True, padding_value=float("-inf"))  # (B, L', D·H)
            features = outputs.max(dim=1).values  # (B, D·H): padded positions are −inf, never the max
        return self.fc(self.dropout(features))  # (B, num_classes)


_RNN_META = {"family": "rnn", "modality": "text", "reference": TEXT_REFERENCE}


@MODELS.register("rnn_classifier", paper="Elman 1990; Hochreiter & Schmidhuber 1997; Cho et al. 2014", **_RNN_META)
def rnn_classifier(num_classes: int = 2, vocab_size: int = 20000, embed_dim: int = 128, cell: str = "lstm",
                   hidden: int = 128, layers: int = 1, bidirectional: bool = False, readout: str = "last",
                   dropout: float = 0.5, freeze_embedding: bool = False) -> RNNClassifier:
    return RNNClassifier(num_classes, vocab_size, embed_dim, cell, hidden, layers, bidirectional, readout, dropout,
                         freeze_embedding)


@MODELS.register("lstm_classifier", paper="Hochreiter & Schmidhuber 1997", **_RNN_META)
def lstm_classifier(num_classes: int = 2, vocab_size: int = 20000, embed_dim: int = 128, hidden: int = 128,
                    layers: int = 1, readout: str = "last", dropout: float = 0.5,
                    freeze_embedding: bool = False) -> RNNClassifier:
    return RNNClassifier(num_classes, vocab_size, embed_dim, "lstm", hidden, layers, False, readout, dropout,
                         freeze_embedding)


@MODELS.register("gru_classifier", paper="Cho et al. 2014", **_RNN_META)
def gru_classifier(num_classes: int = 2, vocab_size: int = 20000, embed_dim: int = 128, hidden: int = 128,
                   layers: int = 1, readout: str = "last", dropout: float = 0.5,
                   freeze_embedding: bool = False) -> RNNClassifier:
    return RNNClassifier(num_classes, vocab_size, embed_dim, "gru", hidden, layers, False, readout, dropout,
                         freeze_embedding)


@MODELS.register("bilstm_classifier", paper="Graves & Schmidhuber 2005", **_RNN_META)
def bilstm_classifier(num_classes: int = 2, vocab_size: int = 20000, embed_dim: int = 128, hidden: int = 128,
                      layers: int = 1, readout: str = "last", dropout: float = 0.5,
                      freeze_embedding: bool = False) -> RNNClassifier:
    return RNNClassifier(num_classes, vocab_size, embed_dim, "lstm", hidden, layers, True, readout, dropout,
                         freeze_embedding)
