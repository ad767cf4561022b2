"""Every registered model: forward + backward, output shape, no NaN, config round-trip (house style 8)."""
import pytest
import torch

from shendu.errors import BadInputError, UnknownNameError
from shendu.models import MODELS, create_model, list_models

SIZES = [(1, 8), (1, 28), (3, 32)]


@pytest.mark.parametrize("name", MODELS.names())
@pytest.mark.parametrize("channels,size", SIZES)
def test_forward_backward_shape_and_finite(name, channels, size, seed):
    model = create_model(name, num_classes=7, in_channels=channels, input_size=size)
    x = torch.randn(3, channels, size, size)
    out = model(x)
    assert out.shape == (3, 7)
    assert torch.isfinite(out).all()
    out.sum().backward()
    grads = [p.grad for p in model.parameters()]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)


@pytest.mark.parametrize("name", MODELS.names())
def test_rebuild_from_recorded_args_gives_same_state_shapes(name):
    kwargs = {"num_classes": 4, "in_channels": 1, "input_size": 28}
    first, second = create_model(name, **kwargs), create_model(name, **kwargs)
    assert {k: v.shape for k, v in first.state_dict().items()} == {k: v.shape for k, v in second.state_dict().items()}


def test_lenet5_matches_the_paper_parameter_count():
    # LeCun et al. 1998 with a fully connected C3: 6·(25+1) + 16·(6·25+1) + 120·(400+1) + 84·121 + 10·85
    expected = 156 + 2416 + 48120 + 10164 + 850
    assert sum(p.numel() for p in create_model("lenet5", input_size=32).parameters()) == expected


def test_mlp_depth_width_and_activation():
    model = create_model("mlp", num_classes=3, in_channels=1, input_size=4, hidden=5, depth=3, activation="gelu")
    linears = [m for m in model.modules() if isinstance(m, torch.nn.Linear)]
    assert [(m.in_features, m.out_features) for m in linears] == [(16, 5), (5, 5), (5, 5), (5, 3)]
    assert any(isinstance(m, torch.nn.GELU) for m in model.modules())


def test_list_models_reports_family_paper_params():
    rows = {row["name"]: row for row in list_models()}
    assert rows["lenet5"]["family"] == "lenet" and rows["lenet5"]["params"] == 61706


def test_unknown_model_and_argument_errors():
    with pytest.raises(UnknownNameError, match="did you mean 'lenet5'"):
        create_model("lenet")
    with pytest.raises(BadInputError, match=r"no argument 'model.args.hiden' — did you mean 'hidden'\?"):
        create_model("mlp", hiden=3)
    with pytest.raises(UnknownNameError, match="unknown activation 'rleu' — did you mean 'relu'"):
        create_model("mlp", activation="rleu")
