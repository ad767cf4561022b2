"""Model summaries: parameter totals, MACs against hand counts, rows, text and tuple-output models."""
import json

import pytest
import torch
from rich.console import Console
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence

from shendu.errors import BadInputError
from shendu.models import MODELS, create_model
from shendu.viz import build_for_input, parse_input_shape, summarize


@pytest.mark.parametrize("name,shape", [("lenet5", (1, 32, 32)), ("mlp", (1, 28, 28))])
def test_param_totals_equal_the_models_own_count(name, shape):
    model = create_model(name, num_classes=10, in_channels=shape[0], input_size=shape[1])
    summary = summarize(model, shape, depth=10)
    expected = sum(p.numel() for p in model.parameters())
    assert summary.params == summary.trainable_params == expected
    assert sum(row.params for row in summary.rows if row.leaf) == expected  # torchinfo's per-layer counts add up
    assert summary.param_bytes == 4 * expected  # float32


def test_lenet5_macs_match_the_hand_count():
    # LeNet-5 at 32×32: C1 5×5 conv 1→6 on a 28×28 output, C3 5×5 conv 6→16 on 10×10, then FC 400→120→84→10.
    weights = 28 * 28 * 6 * 25 + 10 * 10 * 16 * 6 * 25 + (400 * 120 + 120 * 84 + 84 * 10)
    # torchinfo's convention (stated in shendu.viz.summary): each bias adds one MAC per output element;
    # tanh and average pooling have no parameters and count 0.
    biases = 28 * 28 * 6 + 10 * 10 * 16 + (120 + 84 + 10)
    summary = summarize(create_model("lenet5", num_classes=10, in_channels=1, input_size=32), (1, 32, 32))
    assert summary.macs == weights + biases == 423_038
    assert summary.flops == 2 * summary.macs
    rows = {row.name: row for row in summary.rows}
    assert rows["features.0"].macs == 28 * 28 * 6 * (25 + 1)
    assert rows["features.2"].macs == 0 and rows["features.1"].macs == 0
    assert rows["features"].macs == rows["features.0"].macs + rows["features.3"].macs  # containers add their leaves


def test_rows_follow_depth_with_paths_and_output_shapes():
    model = create_model("lenet5", num_classes=10, in_channels=1, input_size=32)
    assert [row.name for row in summarize(model, (1, 32, 32), depth=1).rows] == ["features", "classifier"]
    rows = summarize(model, (1, 32, 32), depth=2).rows
    shapes = {row.name: row.output_shape for row in rows}
    assert shapes["features.0"] == [1, 6, 28, 28] and shapes["features.5"] == [1, 16, 5, 5]
    assert shapes["classifier.4"] == [1, 10]
    assert [row.type for row in rows if row.depth == 2][:3] == ["Conv2d", "Tanh", "AvgPool2d"]
    assert summarize(model, (1, 32, 32), depth=0).rows == []
    with pytest.raises(BadInputError, match="expected an integer >= 0"):
        summarize(model, (1, 32, 32), depth=-1)


class _TokenGRU(nn.Module):
    """A text model that insists on (B, L) int64 ids ≥ 1, with an optional packed GRU."""

    def __init__(self, packed: bool) -> None:
        super().__init__()
        self.packed = packed
        self.embedding = nn.Embedding(50, 8, padding_idx=0)
        self.rnn = nn.GRU(8, 16, batch_first=True)
        self.fc = nn.Linear(16, 3)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        assert tokens.dtype == torch.long and int(tokens.min()) >= 1, "expects non-padding int64 token ids"
        x = self.embedding(tokens)  # (B, L, 8)
        if self.packed:
            x = pack_padded_sequence(x, torch.full((tokens.shape[0],), tokens.shape[1]), batch_first=True)
        _, h_n = self.rnn(x)  # h_n: (1, B, 16)
        return self.fc(h_n[-1])  # (B, 3)


@pytest.mark.parametrize("packed", [False, True])
def test_text_models_get_token_ids_and_rnn_macs_per_time_step(packed):
    model = _TokenGRU(packed)
    summary = summarize(model, (12,), name="token_gru")
    assert summary.modality == "text" and summary.input_shape == [12]
    rows = {row.name: row for row in summary.rows}
    assert rows["embedding"].macs == 0  # a lookup multiplies nothing
    gru_params = sum(p.numel() for p in model.rnn.parameters())  # 3·(8·16 + 16·16 + 16 + 16)
    assert gru_params == 3 * (8 * 16 + 16 * 16 + 2 * 16)
    assert rows["rnn"].macs == 12 * gru_params  # every weight once per time step, packed or not
    assert summary.macs == 12 * gru_params + (16 * 3 + 3)


class _WithAuxHead(nn.Module):
    """Returns (main, aux) in training mode only, like GoogLeNet; says how it adapted its stem."""

    stem_note = "small input: 3×3 stem"

    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Conv2d(3, 4, 3, padding=1)
        self.head = nn.Linear(4, 2)
        self.aux = nn.Linear(4, 2)

    def forward(self, x: torch.Tensor):
        x = self.body(x).mean(dim=(2, 3))  # (B, 4)
        return (self.head(x), self.aux(x)) if self.training else self.head(x)


def test_tuple_output_models_are_summarized_in_eval_mode_and_keep_their_mode():
    model = _WithAuxHead().train()
    summary = summarize(model, (3, 8, 8), name="aux")
    assert model.training  # restored
    assert "aux" not in [row.name for row in summary.rows]  # not run in eval mode
    assert summary.params == sum(p.numel() for p in model.parameters())
    assert summary.notes and "10 parameters" in summary.notes[0]  # aux: 4·2 + 2
    assert summary.stem_note == "small input: 3×3 stem"
    console = Console(record=True, width=120)
    console.print(summary.table())
    text = console.export_text()
    assert "stem: small input: 3×3 stem" in text and "body" in text
    assert json.loads(json.dumps(summary.to_dict()))["totals"]["params"] == summary.params


def test_a_shape_the_model_cannot_take_is_a_bad_input():
    model = create_model("lenet5", num_classes=10, in_channels=1, input_size=32)
    with pytest.raises(BadInputError, match=r"lenet5: the forward pass failed on one sample of shape 1×20×20"):
        summarize(model, (1, 20, 20), name="lenet5")


def test_parse_input_shape():
    assert parse_input_shape("3x32x32") == (3, 32, 32)
    assert parse_input_shape("1×28×28") == (1, 28, 28)
    assert parse_input_shape("64", "text") == (64,)
    with pytest.raises(BadInputError, match=r"expected CxHxW like 3x32x32 for an image model, received '3by32'"):
        parse_input_shape("3by32")
    with pytest.raises(BadInputError, match="expected a sequence length like 64"):
        parse_input_shape("3x32", "text")
    with pytest.raises(BadInputError):
        parse_input_shape("0x32x32")


def test_build_for_input_checks_the_shape_against_the_registry():
    model, shape = build_for_input("lenet5", (1, 28, 28), num_classes=4)
    assert shape == (1, 28, 28) and model.classifier[-1].out_features == 4
    assert build_for_input("lenet5")[1] == (1, 32, 32)  # the reference size
    with pytest.raises(BadInputError, match="expected a square image shape"):
        build_for_input("lenet5", (1, 28, 30))
    big = [n for n in MODELS.names() if MODELS.meta(n).get("min_size", 1) > 8]
    if big:
        with pytest.raises(BadInputError, match=f"{big[0]} needs images of at least"):
            build_for_input(big[0], (3, 8, 8))
