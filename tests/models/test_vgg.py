"""VGG: the VGG-16 count derived from the paper's configuration D, per-layer equality with torchvision
for all eight variants, output equality with torchvision's weights, and the small-input head."""
import pytest
import torch
from torch.testing import assert_close

from shendu.errors import BadInputError
from shendu.models import create_model

NAMES = ["vgg11", "vgg13", "vgg16", "vgg19", "vgg11_bn", "vgg13_bn", "vgg16_bn", "vgg19_bn"]


def test_vgg16_parameter_count_from_configuration_d():
    # Simonyan & Zisserman 2015, Table 1, column D: thirteen 3×3 convolutions, then FC-4096, FC-4096, FC-1000.
    widths = [64, 64, 128, 128, 256, 256, 256, 512, 512, 512, 512, 512, 512]
    convs = sum(3 * 3 * cin * cout + cout for cin, cout in zip([3] + widths[:-1], widths))
    fcs = sum(i * o + o for i, o in [(512 * 7 * 7, 4096), (4096, 4096), (4096, 1000)])
    assert convs + fcs == 138_357_544  # the count torchvision and the [zoo] issue give
    with torch.device("meta"):
        assert sum(p.numel() for p in create_model("vgg16", 1000, 3, 224).parameters()) == convs + fcs


@pytest.mark.parametrize("name", ["vgg11", "vgg11_bn"])
def test_output_equals_torchvision_with_its_weights(name, seed):
    torchvision = pytest.importorskip("torchvision")
    reference = getattr(torchvision.models, name)(weights=None).eval()
    for layer in reference.modules():  # non-trivial BN statistics so eval-mode BN is really compared
        if isinstance(layer, torch.nn.BatchNorm2d):
            layer.running_mean.uniform_(-0.5, 0.5), layer.running_var.uniform_(0.5, 2.0)
            layer.weight.data.uniform_(0.5, 1.5), layer.bias.data.uniform_(-0.5, 0.5)
    ours = create_model(name, num_classes=1000, in_channels=3, input_size=224).eval()
    ours.load_state_dict(reference.state_dict())  # strict: same keys, same shapes
    x = torch.randn(1, 3, 224, 224)
    with torch.no_grad():
        assert_close(ours(x), reference(x), atol=1e-5, rtol=0)


@pytest.mark.parametrize("name,weight_layers", [("vgg11", 11), ("vgg13", 13), ("vgg16", 16), ("vgg19", 19)])
def test_the_number_in_the_name_counts_weight_layers(name, weight_layers):
    with torch.device("meta"):
        model = create_model(name, 1000, 3, 224)
    convs = [m for m in model.modules() if isinstance(m, torch.nn.Conv2d)]
    linears = [m for m in model.modules() if isinstance(m, torch.nn.Linear)]
    assert len(convs) + len(linears) == weight_layers and len(linears) == 3
    assert all(c.kernel_size == (3, 3) and c.stride == (1, 1) for c in convs)
    assert sum(isinstance(m, torch.nn.MaxPool2d) for m in model.modules()) == 5
    with torch.device("meta"):
        bn = create_model(f"{name}_bn", 1000, 3, 224)
    assert sum(isinstance(m, torch.nn.BatchNorm2d) for m in bn.modules()) == len(convs)


def test_small_inputs_get_a_global_pool_and_one_linear_layer():
    model = create_model("vgg16", num_classes=10, in_channels=3, input_size=32)
    linears = [m for m in model.modules() if isinstance(m, torch.nn.Linear)]
    assert [(m.in_features, m.out_features) for m in linears] == [(512, 10)]
    assert "global average pool" in model.stem_note
    with torch.no_grad():
        assert model(torch.randn(2, 3, 32, 32)).shape == (2, 10)
    with torch.device("meta"):
        mid = create_model("vgg16", num_classes=10, in_channels=3, input_size=96)
    assert mid.classifier[0].in_features == 512 * 3 * 3  # 96 px: a 3×3 map read by the paper's head


def test_too_small_input_says_the_minimum():
    with pytest.raises(BadInputError, match="vgg needs input_size >= 32 pixels .* received 31"):
        create_model("vgg11", input_size=31)
