"""DenseNet: the DenseNet-121 count derived from the paper's Table 1 (equal to torchvision's), key-by-key
equality with torchvision, output equality with its weights, and the small-input stem."""
import pytest
import torch
from torch.testing import assert_close

from shendu.errors import BadInputError
from shendu.models import create_model


def _densenet_count(blocks: tuple, k: int = 32, bn_size: int = 4, classes: int = 1000) -> int:
    """Table 1 with k = 32, θ = 0.5: 7×7 conv 2k + BN; per layer BN, 1×1 conv to 4k, BN, 3×3 conv to k;
    transitions BN + 1×1 conv halving the channels; final BN; FC."""
    c = 2 * k
    total = 7 * 7 * 3 * c + 2 * c
    for i, layers in enumerate(blocks):
        for j in range(layers):
            cin = c + j * k
            total += 2 * cin + cin * bn_size * k + 2 * bn_size * k + 9 * bn_size * k * k
        c += layers * k
        if i < len(blocks) - 1:
            total += 2 * c + c * (c // 2)
            c //= 2
    return total + 2 * c + c * classes + classes


def test_densenet121_count_from_table_1_equals_torchvision():
    assert _densenet_count((6, 12, 24, 16)) == 7_978_856  # torchvision's and the [zoo] issue's number
    with torch.device("meta"):
        model = create_model("densenet121", num_classes=1000, in_channels=3, input_size=224)
    assert sum(p.numel() for p in model.parameters()) == 7_978_856
    assert model.classifier.in_features == 1024  # 64 + 6·32 → 128 + 12·32 → 256 + 24·32 → 512 + 16·32


@pytest.mark.parametrize("name,blocks,depth", [("densenet121", (6, 12, 24, 16), 121),
                                               ("densenet169", (6, 12, 32, 32), 169)])
def test_the_number_in_the_name_counts_weight_layers(name, blocks, depth):
    with torch.device("meta"):
        model = create_model(name, num_classes=1000, in_channels=3, input_size=224)
    assert sum(p.numel() for p in model.parameters()) == _densenet_count(blocks)
    weight_layers = [m for m in model.modules() if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear))]
    assert len(weight_layers) == depth == 2 * sum(blocks) + 1 + 3 + 1  # stem, transitions, classifier


def test_densenet121_output_equals_torchvision_with_its_weights(seed):
    torchvision = pytest.importorskip("torchvision")
    reference = torchvision.models.densenet121(weights=None).eval()
    with torch.no_grad():
        for layer in reference.modules():  # non-trivial BN statistics so eval-mode BN is really compared
            if isinstance(layer, torch.nn.BatchNorm2d):
                layer.running_mean.uniform_(-0.5, 0.5), layer.running_var.uniform_(0.5, 2.0)
                layer.weight.uniform_(0.5, 1.5), layer.bias.uniform_(-0.5, 0.5)
    ours = create_model("densenet121", num_classes=1000, in_channels=3, input_size=64).eval()  # ImageNet stem
    ours.load_state_dict(reference.state_dict())  # strict: same keys, same shapes
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        assert_close(ours(x), reference(x), atol=1e-5, rtol=0)


def test_small_inputs_get_a_3x3_stride_1_stem_without_max_pool():
    small = create_model("densenet121", num_classes=10, in_channels=3, input_size=32)
    stem = small.features
    assert stem.conv0.kernel_size == (3, 3) and stem.conv0.stride == (1, 1) and stem.conv0.out_channels == 64
    assert isinstance(stem.pool0, torch.nn.Identity) and "no max-pool" in small.stem_note
    seen = {}
    stem.denseblock4.register_forward_hook(lambda module, inputs, output: seen.update(shape=output.shape))
    with torch.no_grad():
        assert small.eval()(torch.randn(1, 3, 32, 32)).shape == (1, 10)
    assert seen["shape"] == (1, 1024, 4, 4)  # like 7×7 at 224 px
    with torch.device("meta"):
        large = create_model("densenet121", num_classes=10, in_channels=3, input_size=64)
    assert large.features.conv0.kernel_size == (7, 7) and isinstance(large.features.pool0, torch.nn.MaxPool2d)


def test_too_small_input_says_the_minimum():
    with pytest.raises(BadInputError, match=r"densenet needs input_size >= 8 pixels .* received 7"):
        create_model("densenet121", input_size=7)
