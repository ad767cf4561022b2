"""ResNet: parameter counts derived from the paper's Table 1 (ImageNet, equal to torchvision's) and
Table 6 (CIFAR, option A), key-by-key equality with torchvision, output equality with its weights,
and the small-input stem."""
import pytest
import torch
from torch.testing import assert_close

from shendu.errors import BadInputError
from shendu.models import create_model

IMAGENET = ["resnet18", "resnet34", "resnet50", "resnet101", "resnet152"]


def _params(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def _basic(cin: int, c: int, stride: int) -> int:
    """Two 3×3 convs (no bias) each with BN γ, β; a 1×1 projection + BN where the shape changes (option B)."""
    projection = cin * c + 2 * c if stride != 1 or cin != c else 0
    return 9 * cin * c + 2 * c + 9 * c * c + 2 * c + projection


def _bottleneck(cin: int, c: int, stride: int) -> int:
    """1×1 (cin→c), 3×3 (c→c), 1×1 (c→4c), each with BN; projection cin→4c + BN where the shape changes."""
    projection = cin * 4 * c + 8 * c if stride != 1 or cin != 4 * c else 0
    return cin * c + 2 * c + 9 * c * c + 2 * c + c * 4 * c + 8 * c + projection


def _imagenet_count(block, expansion: int, layers: tuple, classes: int = 1000) -> int:
    """Table 1: 7×7 conv 64 + BN, stages of 64/128/256/512 (stride 2 from stage 2), FC."""
    total, cin = 7 * 7 * 3 * 64 + 2 * 64, 64
    for c, blocks, stride in zip((64, 128, 256, 512), layers, (1, 2, 2, 2)):
        for i in range(blocks):
            total += block(cin, c, stride if i == 0 else 1)
            cin = c * expansion
    return total + cin * classes + classes


@pytest.mark.parametrize("name,block,expansion,layers,torchvision_count", [
    ("resnet18", _basic, 1, (2, 2, 2, 2), 11_689_512),
    ("resnet50", _bottleneck, 4, (3, 4, 6, 3), 25_557_032),
    ("resnet152", _bottleneck, 4, (3, 8, 36, 3), 60_192_808),
])
def test_imagenet_counts_from_table_1_equal_torchvision(name, block, expansion, layers, torchvision_count):
    assert _imagenet_count(block, expansion, layers) == torchvision_count  # the [zoo] issue's numbers
    with torch.device("meta"):
        assert _params(create_model(name, num_classes=1000, in_channels=3, input_size=224)) == torchvision_count


def _cifar_count(n: int, option: str = "A", classes: int = 10) -> int:
    """§4.2: 3×3 conv 16 + BN, 3 stages of n basic blocks (16, 32, 64), FC; option A adds no parameters."""
    total, cin = 9 * 3 * 16 + 2 * 16, 16
    for c, stride in zip((16, 32, 64), (1, 2, 2)):
        for i in range(n):
            block = _basic(cin, c, stride if i == 0 else 1)
            if option == "A" and (cin != c or i == 0 and stride != 1):
                block -= cin * c + 2 * c  # zero-padding identity instead of the projection
            total, cin = total + block, c
    return total + 64 * classes + classes


@pytest.mark.parametrize("name,n,table_6", [("resnet20", 3, 0.27), ("resnet32", 5, 0.46), ("resnet56", 9, 0.85)])
def test_cifar_counts_match_table_6_with_option_a(name, n, table_6):
    expected = _cifar_count(n)
    assert round(expected / 1e6, 2) == table_6  # Table 6 reports millions to two decimals
    model = create_model(name, num_classes=10, in_channels=3, input_size=32)
    assert _params(model) == expected
    weight_layers = [m for m in model.modules() if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear))]
    assert len(weight_layers) == 6 * n + 2  # the paper's depth: no projection convs with option A
    projected = create_model(name, num_classes=10, in_channels=3, input_size=32, shortcut="B")
    assert _params(projected) == expected + (16 * 32 + 2 * 32) + (32 * 64 + 2 * 64)  # two projections


@pytest.mark.parametrize("name", ["resnet18", "resnet50"])
def test_output_equals_torchvision_with_its_weights(name, seed):
    torchvision = pytest.importorskip("torchvision")
    reference = getattr(torchvision.models, name)(weights=None).eval()
    with torch.no_grad():
        for layer in reference.modules():  # non-trivial BN statistics so eval-mode BN is really compared
            if isinstance(layer, torch.nn.BatchNorm2d):
                layer.running_mean.uniform_(-0.5, 0.5), layer.running_var.uniform_(0.5, 2.0)
                layer.weight.uniform_(0.5, 1.5), layer.bias.uniform_(-0.5, 0.5)
    ours = create_model(name, num_classes=1000, in_channels=3, input_size=64).eval()  # 64 px: ImageNet stem
    ours.load_state_dict(reference.state_dict())  # strict: same keys, same shapes
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        assert_close(ours(x), reference(x), atol=1e-5, rtol=1e-4)


def test_small_inputs_get_a_3x3_stride_1_stem_without_max_pool():
    small = create_model("resnet18", num_classes=10, in_channels=3, input_size=32)
    assert small.conv1.kernel_size == (3, 3) and small.conv1.stride == (1, 1)
    assert isinstance(small.maxpool, torch.nn.Identity) and "no max-pool" in small.stem_note
    seen = {}
    small.layer4.register_forward_hook(lambda module, inputs, output: seen.update(shape=output.shape))
    with torch.no_grad():
        small.eval()(torch.randn(1, 3, 32, 32))
    assert seen["shape"] == (1, 512, 4, 4)  # like 7×7 at 224 px, instead of 1×1 through the ImageNet stem
    with torch.device("meta"):
        large = create_model("resnet18", num_classes=10, in_channels=3, input_size=64)
    assert large.conv1.kernel_size == (7, 7) and large.conv1.stride == (2, 2)
    assert isinstance(large.maxpool, torch.nn.MaxPool2d) and "7×7" in large.stem_note


def test_he_initialization_and_batch_norm_identity(seed):
    model = create_model("resnet56", num_classes=10, in_channels=3, input_size=32)
    conv = model.layer3[4].conv2  # 64 → 64, 3×3: He et al. 2015 std √(2 / fan_out) = √(2 / 576)
    assert abs(conv.weight.std().item() / (2 / 576) ** 0.5 - 1) < 0.05
    norms = [m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert all(torch.equal(m.weight, torch.ones_like(m.weight)) and not m.bias.any() for m in norms)


def test_bad_inputs_say_what_to_do():
    with pytest.raises(BadInputError, match=r"resnet needs input_size >= 8 pixels .* received 7"):
        create_model("resnet18", input_size=7)
    with pytest.raises(BadInputError, match=r"resnet20 needs input_size >= 8 pixels"):
        create_model("resnet20", input_size=4)
    with pytest.raises(BadInputError, match=r"received 'C'"):
        create_model("resnet20", shortcut="C")
