"""AlexNet: the torchvision single-tower count derived layer by layer, equivalence with torchvision's
network (LRN off), the paper's layer order, and the small-input stem."""
import pytest
import torch
from torch.testing import assert_close

from shendu.errors import BadInputError
from shendu.models import create_model


def _params(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def test_parameter_count_is_torchvisions_single_tower_alexnet():
    # Krizhevsky 2014 single-tower widths as in torchvision: (kernel, in, out) per conv, (in, out) per FC.
    convs = [(11, 3, 64), (5, 64, 192), (3, 192, 384), (3, 384, 256), (3, 256, 256)]
    fcs = [(256 * 6 * 6, 4096), (4096, 4096), (4096, 1000)]
    expected = sum(k * k * cin * cout + cout for k, cin, cout in convs) + sum(i * o + o for i, o in fcs)
    assert expected == 61_100_840  # the figure the [zoo] issue and torchvision state
    with torch.device("meta"):
        with_lrn, without_lrn = create_model("alexnet", 1000, 3, 224), create_model("alexnet", 1000, 3, 224, lrn=False)
    assert _params(with_lrn) == _params(without_lrn) == expected  # LRN has no parameters


def test_output_equals_torchvision_alexnet_with_its_weights(seed):
    torchvision = pytest.importorskip("torchvision")
    reference = torchvision.models.alexnet(weights=None).eval()
    ours = create_model("alexnet", num_classes=1000, in_channels=3, input_size=224, lrn=False).eval()
    # Same layers in the same order; ours are named (features.conv1) where torchvision's are numbered.
    pairs = list(zip(reference.state_dict().items(), ours.state_dict()))
    assert len(pairs) == len(ours.state_dict()) == len(reference.state_dict())
    assert all(value.shape == ours.state_dict()[key].shape for (_, value), key in pairs)
    assert all(theirs.split(".")[-1] == key.split(".")[-1] for (theirs, _), key in pairs)  # weight↔weight
    ours.load_state_dict({key: value for (_, value), key in pairs})
    x = torch.randn(2, 3, 224, 224)
    with torch.no_grad():
        assert_close(ours.features(x), reference.features(x), atol=1e-5, rtol=0)  # (B, 256, 6, 6), O(1) values
        assert_close(ours(x), reference(x), atol=1e-5, rtol=0)
        with_lrn = create_model("alexnet", 1000, 3, 224, lrn=True).eval()
        with_lrn.load_state_dict(ours.state_dict())
        assert not torch.allclose(with_lrn(x), reference(x), atol=1e-5)  # LRN on changes the network


def test_layer_order_follows_the_paper():
    model = create_model("alexnet", 1000, 3, 224)
    # §3.5: LRN after the ReLU of conv1 and conv2, overlapping max-pool after both LRNs and after conv5.
    assert list(model.features._modules) == [
        "conv1", "relu1", "norm1", "pool1", "conv2", "relu2", "norm2", "pool2",
        "conv3", "relu3", "conv4", "relu4", "conv5", "relu5", "pool5",
    ]
    pools = [m for m in model.modules() if isinstance(m, torch.nn.MaxPool2d)]
    assert all((p.kernel_size, p.stride) == (3, 2) for p in pools)  # overlapping: window 3 > stride 2
    assert [m.p for m in model.modules() if isinstance(m, torch.nn.Dropout)] == [0.5, 0.5]
    assert model.features.conv1.kernel_size == (11, 11) and model.features.conv1.stride == (4, 4)
    assert "norm1" not in create_model("alexnet", 1000, 3, 224, lrn=False).features._modules


@pytest.mark.parametrize("size,side", [(28, 6), (32, 7), (8, 1), (7, 1)])
def test_small_inputs_use_a_stride_1_stem(size, side):
    model = create_model("alexnet", num_classes=10, in_channels=1, input_size=size)
    assert model.features.conv1.stride == (1, 1) and "pool5" not in model.features._modules
    assert "5×5 stride-1" in model.stem_note
    with torch.no_grad():
        assert model.features(torch.randn(1, 1, size, size)).shape == (1, 256, side, side)
        assert model(torch.randn(1, 1, size, size)).shape == (1, 10)
    assert model.classifier.fc6.in_features == 256 * min(6, side) ** 2


def test_too_small_input_says_the_minimum():
    with pytest.raises(BadInputError, match="alexnet needs input_size >= 7 pixels, received 6"):
        create_model("alexnet", input_size=6)
