"""TextCNN (Kim 2014) and the recurrent classifiers: parameter counts derived from the architecture,
padding invariance, Kim's max-norm constraint, and the readouts against nn.LSTM/GRU/RNN run by hand."""
import itertools

import pytest
import torch
from torch.testing import assert_close

from shendu.errors import BadInputError
from shendu.models import create_model, list_models

SMALL_CNN = {"num_classes": 3, "vocab_size": 40, "embed_dim": 6, "maps": 4}
SMALL_RNN = {"num_classes": 3, "vocab_size": 40, "embed_dim": 5, "hidden": 4}


def _batch() -> torch.Tensor:
    """Three sentences of 7, 3 and 1 tokens, padded with 0 to 7; ids in 1…39."""
    tokens = torch.randint(1, 40, (3, 7))
    tokens[1, 3:] = 0
    tokens[2, 1:] = 0
    return tokens  # (B, L)


def _pad(tokens: torch.Tensor, extra: int) -> torch.Tensor:
    return torch.cat([tokens, torch.zeros(tokens.shape[0], extra, dtype=tokens.dtype)], dim=1)


# ----------------------------------------------------------------------------------------------- TextCNN


def test_textcnn_parameter_count_follows_kim_2014():
    # Kim §3.1: 300-d word vectors, filter windows 3, 4, 5 with 100 feature maps each, then softmax.
    # Reference setting: a 20,000-word vocabulary and 2 classes.
    embedding = 20000 * 300
    convs = sum(100 * 300 * h + 100 for h in (3, 4, 5))  # each filter spans h words × 300 dimensions, plus a bias
    output = (3 * 100) * 2 + 2
    rows = {row["name"]: row for row in list_models()}
    assert rows["textcnn"]["params"] == embedding + convs + output == 6_360_902
    model = create_model("textcnn", num_classes=2, vocab_size=20000)
    assert model.dropout.p == 0.5 and model.max_norm == 3.0 and model.conv.widths == (3, 4, 5)


def test_textcnn_trailing_padding_does_not_change_logits(seed):
    model = create_model("textcnn", **SMALL_CNN).eval()
    tokens = _batch()
    with torch.no_grad():
        assert_close(model(_pad(tokens, 5)), model(tokens), atol=1e-6, rtol=0)
        for i, length in enumerate((7, 3, 1)):  # each sentence alone, unpadded, gives its row of the batch
            assert_close(model(tokens[i : i + 1, :length]), model(tokens)[i : i + 1], atol=1e-6, rtol=0)


@pytest.mark.parametrize("length", [1, 2, 4])
def test_textcnn_pads_short_batches_with_padding_tokens(length, seed):
    model = create_model("textcnn", **SMALL_CNN).eval()
    tokens = torch.randint(1, 40, (2, length))
    with torch.no_grad():
        out = model(tokens)
        assert out.shape == (2, 3) and torch.isfinite(out).all()
        assert_close(out, model(_pad(tokens, 5 - length)), atol=1e-6, rtol=0)  # padded to width 5 by hand


def test_textcnn_padding_embedding_is_zero_and_static_embedding_is_frozen(seed):
    model = create_model("textcnn", **SMALL_CNN)
    assert model.embedding.weight[0].abs().sum() == 0
    assert model.embedding.weight[1:].abs().max() <= 0.25  # Kim's U[−0.25, 0.25] for random vectors
    model(_batch()).sum().backward()
    assert model.embedding.weight.grad[0].abs().sum() == 0 and model.embedding.weight.grad.abs().sum() > 0
    static = create_model("textcnn", **SMALL_CNN, freeze_embedding=True)
    static(_batch()).sum().backward()
    assert not static.embedding.weight.requires_grad and static.embedding.weight.grad is None
    assert static.fc.weight.grad is not None


def test_apply_max_norm_rescales_long_rows_to_exactly_the_limit(seed):
    model = create_model("textcnn", **SMALL_CNN, max_norm=3.0)
    rows = torch.randn(3, 12)
    rows = rows / rows.norm(dim=1, keepdim=True) * torch.tensor([[7.5], [3.0], [1.2]])  # above, at, below the limit
    with torch.no_grad():
        model.fc.weight.copy_(rows)
    bias = model.fc.bias.detach().clone()
    model.apply_max_norm()
    weight = model.fc.weight.detach()
    assert_close(weight.norm(dim=1), torch.tensor([3.0, 3.0, 1.2]), atol=1e-6, rtol=1e-6)
    assert_close(weight[0], rows[0] * (3.0 / 7.5), atol=1e-6, rtol=1e-6)  # same direction, scaled
    assert_close(weight[1:], rows[1:], atol=1e-6, rtol=1e-6)  # rows within the limit are unchanged
    assert torch.equal(model.fc.bias, bias)  # the constraint is on weight vectors only

    unconstrained = create_model("textcnn", **SMALL_CNN, max_norm=None)
    with torch.no_grad():
        unconstrained.fc.weight.copy_(rows)
    unconstrained.apply_max_norm()
    assert torch.equal(unconstrained.fc.weight.detach(), rows)
    with pytest.raises(BadInputError, match="max_norm: expected a positive number or None, received -1"):
        create_model("textcnn", **SMALL_CNN, max_norm=-1)


# ------------------------------------------------------------------------------------- recurrent classifiers


@pytest.mark.parametrize("cell,readout,bidirectional", list(itertools.product(("rnn", "lstm", "gru"), ("last", "max"),
                                                                              (False, True))))
def test_rnn_trailing_padding_does_not_change_logits(cell, readout, bidirectional, seed):
    model = create_model("rnn_classifier", **SMALL_RNN, cell=cell, readout=readout, bidirectional=bidirectional,
                         layers=2).eval()
    tokens = _batch()
    with torch.no_grad():
        logits = model(tokens)
        assert_close(model(_pad(tokens, 6)), logits, atol=1e-6, rtol=0)
        assert_close(model(tokens[2:, :1]), logits[2:], atol=1e-6, rtol=0)  # the 1-token sentence, unpadded


def _by_hand(model, tokens: torch.Tensor, lengths: tuple[int, ...], readout: str) -> torch.Tensor:
    """Run model.rnn on each sentence alone, without any padding, and read it out from h_n or the outputs."""
    rows = []
    for i, length in enumerate(lengths):
        outputs, state = model.rnn(model.embedding(tokens[i : i + 1, :length]))  # (1, length, D·H)
        h_n = state[0] if isinstance(state, tuple) else state  # (layers·D, 1, H)
        directions = 2 if model.rnn.bidirectional else 1
        last = torch.cat([h_n[-directions + d] for d in range(directions)], dim=1)  # (1, D·H)
        rows.append(last if readout == "last" else outputs.max(dim=1).values)
    return model.fc(torch.cat(rows))  # (B, num_classes)


@pytest.mark.parametrize("name,cell,bidirectional", [("lstm_classifier", "lstm", False),
                                                     ("bilstm_classifier", "lstm", True),
                                                     ("gru_classifier", "gru", False)])
@pytest.mark.parametrize("readout", ["last", "max"])
def test_readouts_equal_the_manual_computation_from_the_recurrent_layer(name, cell, bidirectional, readout, seed):
    model = create_model(name, **SMALL_RNN, layers=2, readout=readout).eval()
    assert isinstance(model.rnn, {"lstm": torch.nn.LSTM, "gru": torch.nn.GRU}[cell])
    assert model.rnn.bidirectional is bidirectional and model.rnn.num_layers == 2
    tokens = _batch()
    with torch.no_grad():
        assert_close(model(tokens), _by_hand(model, tokens, (7, 3, 1), readout), atol=1e-6, rtol=1e-5)


def test_lstm_parameter_count_follows_the_gate_equations():
    # Four gates (input, forget, cell, output), each W_i·x + W_h·h + b; torch keeps two bias vectors (b_ih, b_hh).
    vocab, embed, hidden, classes = 20000, 128, 128, 2
    lstm_layer = 4 * (hidden * embed + hidden * hidden + 2 * hidden)
    gru_layer = 3 * (hidden * embed + hidden * hidden + 2 * hidden)  # reset, update, candidate
    rows = {row["name"]: row["params"] for row in list_models()}
    assert rows["lstm_classifier"] == vocab * embed + lstm_layer + (hidden * classes + classes)
    assert rows["gru_classifier"] == vocab * embed + gru_layer + (hidden * classes + classes)
    assert rows["bilstm_classifier"] == vocab * embed + 2 * lstm_layer + (2 * hidden * classes + classes)


def test_all_padding_rows_and_frozen_embeddings_work(seed):
    model = create_model("bilstm_classifier", **SMALL_RNN, readout="max", freeze_embedding=True)
    tokens = _batch()
    tokens[0] = 0
    out = model(tokens)
    assert out.shape == (3, 3) and torch.isfinite(out).all()
    out.sum().backward()
    assert model.embedding.weight.grad is None and model.fc.weight.grad is not None
    assert torch.isfinite(create_model("textcnn", **SMALL_CNN)(tokens)).all()


def test_unknown_cell_readout_and_bad_tokens_say_what_is_valid():
    with pytest.raises(BadInputError, match=r"cell: expected one of 'rnn', 'lstm', 'gru', received 'transformer'"):
        create_model("rnn_classifier", cell="transformer")
    with pytest.raises(BadInputError, match=r"readout: expected one of 'last', 'max', received 'mean'"):
        create_model("rnn_classifier", readout="mean")
    model = create_model("gru_classifier", **SMALL_RNN)
    with pytest.raises(BadInputError, match=r"expects \(B, L\) integer token ids, received torch.float32"):
        model(torch.randn(2, 5))
    with pytest.raises(BadInputError, match=r"token ids must lie in \[0, 40\), received ids from 0 to 40"):
        model(torch.tensor([[3, 40, 0]]))
