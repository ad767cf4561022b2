"""GoogLeNet: parameter counts derived from the paper's Table 1, equivalence of `googlenet_tv` with
torchvision's network (its state dict loaded into ours), the paper's layout, training/eval outputs and
the small-input stem."""
import re

import pytest
import torch
from torch.testing import assert_close

from shendu.errors import BadInputError
from shendu.models import create_model
from shendu.models.googlenet import GoogLeNetOutputs

# Szegedy et al. 2015, Table 1, retyped: the stem's convolutions as (kernel, in, out) — conv 7×7/2, then the
# "conv 3×3/1" row with its #3×3 reduce of 64 — and each Inception row as
# (#1×1, #3×3 reduce, #3×3, #5×5 reduce, #5×5, pool proj) with the table's output depth.
STEM = [(7, 3, 64), (1, 64, 64), (3, 64, 192)]
INCEPTION_ROWS = [  # 3a, 3b, 4a, 4b, 4c, 4d, 4e, 5a, 5b
    ((64, 96, 128, 16, 32, 32), 256), ((128, 128, 192, 32, 96, 64), 480),
    ((192, 96, 208, 16, 48, 64), 512), ((160, 112, 224, 24, 64, 64), 512), ((128, 128, 256, 24, 64, 64), 512),
    ((112, 144, 288, 32, 64, 64), 528), ((256, 160, 320, 32, 128, 128), 832),
    ((256, 160, 320, 32, 128, 128), 832), ((384, 192, 384, 48, 128, 128), 1024),
]


def _conv(k: int, cin: int, cout: int, bn: bool) -> int:
    """k·k·cin·cout weights, plus a bias per output — or, with BN, no bias but BN's γ and β per output."""
    return k * k * cin * cout + (2 * cout if bn else cout)


def table1_params(five: int = 5, bn: bool = False, aux: bool = True, classes: int = 1000) -> int:
    """Parameters of GoogLeNet summed over Table 1's rows, plus (with `aux`) the §5 auxiliary heads."""
    total, cin = sum(_conv(k, i, o, bn) for k, i, o in STEM), 192
    for (c1, r3, c3, r5, c5, proj), depth in INCEPTION_ROWS:
        assert c1 + c3 + c5 + proj == depth  # the table's depth column is the concatenation of the branches
        total += _conv(1, cin, c1, bn) + _conv(1, cin, r3, bn) + _conv(3, r3, c3, bn)
        total += _conv(1, cin, r5, bn) + _conv(five, r5, c5, bn) + _conv(1, cin, proj, bn)
        cin = depth
    total += 1024 * classes + classes  # "linear" after the 7×7 average pool
    if aux:  # after 4a (512 channels) and 4d (528): 1×1 conv 128, FC 1024 on the 4×4×128 map, FC classes
        total += sum(_conv(1, c, 128, bn) + 4 * 4 * 128 * 1024 + 1024 + 1024 * classes + classes for c in (512, 528))
    return total


def _params(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def _build(name: str, **args) -> torch.nn.Module:
    with torch.device("meta"):  # shapes only
        return create_model(name, num_classes=1000, in_channels=3, input_size=224, **args)


def test_googlenet_parameter_count_is_table1s_including_the_auxiliary_heads():
    with_aux, without_aux = table1_params(aux=True), table1_params(aux=False)
    assert (with_aux, without_aux) == (13_378_280, 6_998_552)  # the figures the module docstring states
    assert _params(_build("googlenet")) == with_aux  # the default, what list_models() reports
    assert _params(_build("googlenet", aux_logits=False)) == without_aux
    assert _params(_build("googlenet", lrn=False)) == with_aux  # LRN has no parameters


def test_googlenet_tv_parameter_count_is_torchvisions_6_624_904_without_auxiliary_heads():
    torchvision = pytest.importorskip("torchvision")
    # torchvision's variant: 3×3 in the "5×5" branch, BN instead of conv biases. 6,624,904 is the count of
    # GoogLeNet_Weights.IMAGENET1K_V1, whose model has no auxiliary heads.
    assert table1_params(five=3, bn=True, aux=False) == 6_624_904
    assert _params(_build("googlenet_tv")) == 6_624_904
    with torch.device("meta"):
        reference = torchvision.models.googlenet(weights=None, aux_logits=True, init_weights=False)
    assert _params(_build("googlenet_tv", aux_logits=True)) == table1_params(five=3, bn=True) == _params(reference)


# torchvision's names → ours (conv2/conv3 are the paper's "3×3 reduce" and "3×3" of the stem).
RENAMES = [(r"^conv1\.", "stem.conv1."), (r"^conv2\.", "stem.conv2_reduce."), (r"^conv3\.", "stem.conv2."),
           (r"\.branch1\.", ".branch1x1."), (r"\.branch2\.", ".branch3x3."), (r"\.branch3\.", ".branch5x5."),
           (r"\.branch4\.", ".branch_pool.")]


def _load_torchvision_weights(reference: torch.nn.Module, ours: torch.nn.Module) -> None:
    state = {}
    for key, value in reference.state_dict().items():
        for pattern, replacement in RENAMES:
            key = re.sub(pattern, replacement, key)
        state[key] = value
    ours.load_state_dict(state)  # strict: every tensor of either network has its counterpart


def _scale_up(model: torch.nn.Module) -> None:
    """torchvision's N(0, 0.01) init leaves eval-mode outputs near 1e-9, which any atol would accept:
    He-initialize the convolutions and give BN non-trivial statistics so the outputs are O(1)."""
    for layer in model.modules():
        if isinstance(layer, torch.nn.Conv2d):
            torch.nn.init.kaiming_normal_(layer.weight, nonlinearity="relu")
        elif isinstance(layer, torch.nn.BatchNorm2d):
            layer.running_mean.uniform_(-0.1, 0.1)
            layer.running_var.uniform_(0.5, 1.5)
            torch.nn.init.uniform_(layer.weight, 0.8, 1.2)
            torch.nn.init.uniform_(layer.bias, -0.1, 0.1)


def test_googlenet_tv_equals_torchvision_googlenet_in_eval_mode(seed):
    torchvision = pytest.importorskip("torchvision")
    reference = torchvision.models.googlenet(weights=None, aux_logits=False, init_weights=True, transform_input=False)
    _scale_up(reference)
    ours = create_model("googlenet_tv", num_classes=1000, in_channels=3, input_size=224)
    _load_torchvision_weights(reference, ours)
    x = torch.randn(1, 3, 224, 224)
    with torch.no_grad():
        expected, out = reference.eval()(x), ours.eval()(x)
    assert expected.abs().max() > 0.1  # a comparison at the scale of the outputs, not of rounding noise
    assert_close(out, expected, atol=1e-5, rtol=1e-5)


def test_googlenet_tv_with_auxiliary_heads_equals_torchvision_in_training_mode(seed):
    torchvision = pytest.importorskip("torchvision")
    reference = torchvision.models.googlenet(weights=None, aux_logits=True, init_weights=True, transform_input=False)
    ours = create_model("googlenet_tv", num_classes=10, in_channels=3, input_size=96, aux_logits=True)
    reference.fc, reference.aux1.fc2, reference.aux2.fc2 = ours.fc, ours.aux1.fc2, ours.aux2.fc2  # 10 classes
    _load_torchvision_weights(reference, ours)
    x = torch.randn(2, 3, 96, 96)  # 4a sees 6×6: the auxiliary heads really pool
    with torch.no_grad():  # same seed → same dropout masks, drawn in the same order (aux1, aux2, main)
        torch.manual_seed(1)
        expected = reference.train()(x)
        torch.manual_seed(1)
        out = ours.train()(x)
    assert isinstance(out, GoogLeNetOutputs)
    # torchvision orders its tuple (logits, aux_logits2, aux_logits1); ours is (logits, aux1, aux2).
    for mine, theirs in [(out.logits, expected.logits), (out.aux1, expected.aux_logits1),
                         (out.aux2, expected.aux_logits2)]:
        assert theirs.abs().max() > 0.1
        assert_close(mine, theirs, atol=1e-5, rtol=1e-5)


def _sides(model: torch.nn.Module, x: torch.Tensor) -> dict[str, int]:
    """Side of the map entering 3a, 4a and 5a, and of the first auxiliary head's pooled map."""
    seen: dict[str, int] = {}

    def record(key: str, tensor: torch.Tensor) -> None:
        seen[key] = tensor.shape[-1]

    hooks = [getattr(model, f"inception{key}").register_forward_pre_hook(
        lambda m, inputs, key=key: record(key, inputs[0])) for key in ("3a", "4a", "5a")]
    hooks.append(model.aux1.pool.register_forward_hook(lambda m, inputs, out: record("aux", out)))
    with torch.no_grad():
        out = model.train()(x)
    for hook in hooks:
        hook.remove()
    assert [o.shape for o in out] == [(x.shape[0], model.fc.out_features)] * 3
    return seen


def test_googlenet_follows_the_papers_layout():
    model = create_model("googlenet", num_classes=1000, in_channels=3, input_size=224)
    assert list(model.stem._modules) == ["conv1", "pool1", "norm1", "conv2_reduce", "conv2", "norm2", "pool2"]
    assert model.stem.conv1.conv.kernel_size == (7, 7) and model.stem.conv1.conv.stride == (2, 2)
    assert 5 * model.stem.norm1.alpha == pytest.approx(1e-4) and model.stem.norm1.k == 1.0  # Caffe's constants
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in model.modules())
    fives = [m.branch5x5[1].conv.kernel_size for m in model.modules() if hasattr(m, "branch5x5")]
    assert fives == [(5, 5)] * 9
    pools = [m for name, m in model.named_modules() if isinstance(m, torch.nn.MaxPool2d) and "branch" not in name]
    assert [(p.kernel_size, p.stride) for p in pools] == [(3, 2)] * 4
    assert [m.p for m in model.modules() if isinstance(m, torch.nn.Dropout)] == [0.7, 0.7, 0.4]  # aux1, aux2, main
    aux_pool = model.aux1.pool
    assert isinstance(aux_pool, torch.nn.AvgPool2d) and (aux_pool.kernel_size, aux_pool.stride) == (5, 3)
    # Table 1's output sizes: 28×28 at 3a, 14×14 at 4a (pooled 5×5/3 to 4×4 by the aux head), 7×7 at 5a.
    assert _sides(model, torch.randn(1, 3, 224, 224)) == {"3a": 28, "4a": 14, "5a": 7, "aux": 4}


def test_training_mode_returns_main_and_auxiliary_logits_eval_mode_the_main_ones(seed):
    model = create_model("googlenet", num_classes=10, in_channels=3, input_size=8)
    x = torch.randn(2, 3, 8, 8)
    out = model.train()(x)
    assert isinstance(out, GoogLeNetOutputs) and out._fields == ("logits", "aux1", "aux2")
    assert all(o.shape == (2, 10) for o in out)
    # What the trainer does (paper §5): main loss + 0.3 × each auxiliary loss; every head gets gradients.
    y = torch.tensor([1, 2])
    loss_fn = torch.nn.functional.cross_entropy
    (loss_fn(out.logits, y) + 0.3 * (loss_fn(out.aux1, y) + loss_fn(out.aux2, y))).backward()
    assert model.aux1.fc2.weight.grad is not None and model.aux2.fc2.weight.grad is not None
    with torch.no_grad():
        assert model.eval()(x).shape == (2, 10)
    plain = create_model("googlenet", num_classes=10, in_channels=3, input_size=8, aux_logits=False)
    assert plain.aux1 is None and plain.train()(x).shape == (2, 10)


@pytest.mark.parametrize("size,sides,paper_pool", [
    (8, {"3a": 8, "4a": 4, "5a": 2, "aux": 4}, False),  # the smallest input: 4a sees 4×4
    (28, {"3a": 28, "4a": 14, "5a": 7, "aux": 4}, True),  # 4a and 5a at 224 px's sides
    (32, {"3a": 32, "4a": 16, "5a": 8, "aux": 4}, True),
])
def test_small_inputs_use_a_stride_1_stem_and_keep_the_inception_stack(size, sides, paper_pool):
    model = create_model("googlenet", num_classes=10, in_channels=1, input_size=size)
    assert list(model.stem._modules) == ["conv1", "norm1", "conv2_reduce", "conv2", "norm2"]  # no stem pools
    assert model.stem.conv1.conv.kernel_size == (3, 3) and model.stem.conv1.conv.stride == (1, 1)
    assert "3×3 stride 1" in model.stem_note
    assert isinstance(model.aux1.pool, torch.nn.AvgPool2d) is paper_pool  # the paper's 5×5/3 where it gives 4×4
    assert _sides(model, torch.randn(1, 1, size, size)) == sides


@pytest.mark.parametrize("size,sides", [(64, (8, 4, 2)), (100, (12, 6, 3)), (256, (32, 16, 8))])
def test_imagenet_stem_from_64_px_and_auxiliary_heads_at_any_size(size, sides):
    model = create_model("googlenet", num_classes=10, in_channels=3, input_size=size)
    assert "7×7 stride 2" in model.stem_note
    assert _sides(model, torch.randn(1, 3, size, size)) == dict(zip(["3a", "4a", "5a"], sides), aux=4)


def test_googlenet_tv_small_input_and_torchvision_layout():
    model = create_model("googlenet_tv", num_classes=10, in_channels=1, input_size=28, aux_logits=True)
    assert model.pool4.kernel_size == 2 and isinstance(model.aux1.pool, torch.nn.AdaptiveAvgPool2d)
    assert model.inception3a.branch5x5[1].conv.kernel_size == (3, 3) and "norm1" not in model.stem._modules
    assert _sides(model, torch.randn(2, 1, 28, 28)) == {"3a": 28, "4a": 14, "5a": 7, "aux": 4}


def test_too_small_input_says_the_minimum():
    with pytest.raises(BadInputError, match="googlenet needs input_size >= 8 pixels .* received 7"):
        create_model("googlenet", input_size=7)
