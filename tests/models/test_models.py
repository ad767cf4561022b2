"""Every registered model: forward + backward, output shape, no NaN, config round-trip (house style 8)."""
import pytest
import torch

from shendu.errors import BadInputError, UnknownNameError
from shendu.models import MODELS, create_model, list_models

SIZES = [(1, 8), (1, 28), (3, 32)]
IMAGE_MODELS = [n for n in MODELS.names() if MODELS.meta(n).get("modality", "image") == "image"]
TEXT_MODELS = [n for n in MODELS.names() if MODELS.meta(n).get("modality") == "text"]
# Networks above ~20M parameters (ResNet-101/152, VGG, AlexNet, DenseNet-169…) run at full width even on
# small inputs; their 28/32 px cases take tens of seconds on 2 cores, so only the smallest size is in the
# fast suite and the rest run with the slow tests.
HEAVY = {row["name"] for row in list_models() if row["params"] > 20_000_000 or row["family"] == "densenet"}


def _cases():
    for name in IMAGE_MODELS:
        for channels, size in SIZES:
            slow = name in HEAVY and size > 8
            yield pytest.param(name, channels, size, marks=[pytest.mark.slow] if slow else [],
                               id=f"{name}-{channels}x{size}")


def _image_case(name: str, channels: int, size: int) -> tuple[dict, torch.Tensor]:
    size = max(size, MODELS.meta(name).get("min_size", 1))  # e.g. VGG's five poolings need 32 px
    return {"num_classes": 7, "in_channels": channels, "input_size": size}, torch.randn(2, channels, size, size)


def _logits(out):
    """Models with auxiliary heads (GoogLeNet) return (main, aux…) in training mode."""
    return out[0] if isinstance(out, (tuple, list)) else out


@pytest.mark.parametrize("name,channels,size", list(_cases()))
def test_forward_backward_shape_and_finite(name, channels, size, seed):
    kwargs, x = _image_case(name, channels, size)
    model = create_model(name, **kwargs)
    out = model(x)
    total = sum(o.sum() for o in out) if isinstance(out, (tuple, list)) else out.sum()
    assert _logits(out).shape == (2, 7)
    assert torch.isfinite(_logits(out)).all()
    total.backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in model.parameters() if p.requires_grad)
    model.eval()
    with torch.no_grad():
        assert model(x).shape == (2, 7)  # eval mode: main logits only


@pytest.mark.parametrize("name", TEXT_MODELS)
def test_text_models_forward_backward(name, seed):
    model = create_model(name, num_classes=3, vocab_size=50)
    tokens = torch.randint(1, 50, (4, 12))  # (B, L) token ids; 0 is padding
    out = model(tokens)
    assert _logits(out).shape == (4, 3) and torch.isfinite(_logits(out)).all()
    _logits(out).sum().backward()


@pytest.mark.parametrize("name", MODELS.names())
def test_config_round_trip_rebuilds_the_same_architecture(name):
    from shendu.config import ExperimentConfig

    config = ExperimentConfig.from_dict({"model": {"name": name}})
    assert ExperimentConfig.from_dict(config.to_dict()) == config
    if MODELS.meta(name).get("modality") == "text":
        kwargs = {"num_classes": 4, "vocab_size": 30}
    else:
        kwargs = _image_case(name, 1, 28)[0]
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
