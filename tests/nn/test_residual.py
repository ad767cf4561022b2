"""Residual blocks against an independent float64 reference written with torch's functional ops
(F.conv2d, F.batch_norm in eval mode, the addition, ReLU), the shortcut options, and v1.5 stride placement."""
import pytest
import torch
import torch.nn.functional as F
from torch.testing import assert_close

from shendu.errors import BadInputError
from shendu.nn.residual import BasicBlock, Bottleneck
from tests._helpers import randomize_batch_norm


def bn(x, layer):
    d = lambda t: t.detach().double()  # noqa: E731
    return F.batch_norm(x, d(layer.running_mean), d(layer.running_var), d(layer.weight), d(layer.bias),
                        training=False, eps=1e-5)


def conv(x, layer, stride=1, padding=0):
    return F.conv2d(x, layer.weight.detach().double(), stride=stride, padding=padding)


def shortcut_reference(block, x, stride, out_channels, option):
    """Identity; option A: subsample + zero channels appended; option B: 1×1 stride-s conv + BN."""
    if stride == 1 and x.shape[1] == out_channels:
        return x
    if option == "A":
        kept = x[:, :, ::stride, ::stride]
        zeros = torch.zeros(x.shape[0], out_channels - x.shape[1], *kept.shape[2:], dtype=x.dtype)
        return torch.cat([kept, zeros], dim=1)
    return bn(conv(x, block.downsample[0], stride), block.downsample[1])


def basic_reference(block, x, stride, channels, option):
    out = F.relu(bn(conv(x, block.conv1, stride, 1), block.bn1))
    out = bn(conv(out, block.conv2, 1, 1), block.bn2)
    return F.relu(out + shortcut_reference(block, x, stride, channels, option))


def bottleneck_reference(block, x, stride, channels, option):
    out = F.relu(bn(conv(x, block.conv1), block.bn1))
    out = F.relu(bn(conv(out, block.conv2, stride, 1), block.bn2))  # v1.5: the stride is on the 3×3
    out = bn(conv(out, block.conv3), block.bn3)
    return F.relu(out + shortcut_reference(block, x, stride, 4 * channels, option))


BASIC_CASES = [(16, 16, 1, "B"), (16, 32, 2, "B"), (16, 32, 2, "A"), (8, 16, 1, "A"), (16, 16, 1, "A")]
BOTTLENECK_CASES = [(64, 16, 1, "B"), (32, 16, 1, "B"), (64, 32, 2, "B"), (32, 16, 2, "A")]


@pytest.mark.parametrize("cin,channels,stride,option", BASIC_CASES)
def test_basic_block_matches_functional_reference(cin, channels, stride, option, seed):
    block = randomize_batch_norm(BasicBlock(cin, channels, stride, shortcut=option))
    x = torch.randn(2, cin, 9, 9)  # odd side: the stride-2 subsampling must match the conv's ⌈9/2⌉ = 5
    with torch.no_grad():
        ours = block(x)
    ref = basic_reference(block, x.double(), stride, channels, option)
    assert ours.shape == (2, channels, 9 if stride == 1 else 5, 9 if stride == 1 else 5)
    assert_close(ours, ref.float(), atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("cin,channels,stride,option", BOTTLENECK_CASES)
def test_bottleneck_matches_functional_reference(cin, channels, stride, option, seed):
    block = randomize_batch_norm(Bottleneck(cin, channels, stride, shortcut=option))
    x = torch.randn(2, cin, 8, 8)
    with torch.no_grad():
        ours = block(x)
    ref = bottleneck_reference(block, x.double(), stride, channels, option)
    assert ours.shape == (2, 4 * channels, 8 // stride, 8 // stride)
    assert_close(ours, ref.float(), atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("block_class,cin,channels,stride,option", [
    (BasicBlock, 16, 16, 1, "B"), (BasicBlock, 16, 32, 2, "B"), (BasicBlock, 16, 32, 2, "A"),
    (Bottleneck, 64, 16, 1, "B"), (Bottleneck, 64, 32, 2, "B"),
])
def test_zeroing_the_last_bn_leaves_relu_of_the_shortcut(block_class, cin, channels, stride, option, seed):
    block = randomize_batch_norm(block_class(cin, channels, stride, shortcut=option))
    last_bn = block.bn3 if block_class is Bottleneck else block.bn2
    with torch.no_grad():
        last_bn.weight.zero_(), last_bn.bias.zero_()  # the residual branch F(x) is now exactly 0
        x = torch.randn(2, cin, 8, 8)
        out_channels = channels * block_class.expansion
        expected = F.relu(shortcut_reference(block, x.double(), stride, out_channels, option)).float()
        assert_close(block(x), expected, atol=1e-5, rtol=1e-5)
        assert block(x).abs().sum() > 0  # the shortcut really carries the signal through


def test_shortcut_options_a_is_parameter_free_b_projects():
    a, b = BasicBlock(16, 32, 2, shortcut="A"), BasicBlock(16, 32, 2, shortcut="B")
    assert list(a.downsample.parameters()) == []
    assert sum(p.numel() for p in b.downsample.parameters()) == 16 * 32 + 2 * 32  # 1×1 conv + BN γ, β
    same = BasicBlock(16, 16, 1, shortcut="B")
    assert isinstance(same.downsample, torch.nn.Identity)  # projections only where the shape changes


def test_bottleneck_puts_the_stride_on_the_3x3_like_torchvision_v1_5():
    block = Bottleneck(64, 32, stride=2)
    assert block.conv1.stride == (1, 1) and block.conv2.stride == (2, 2) and block.conv3.stride == (1, 1)
    assert (block.conv1.kernel_size, block.conv2.kernel_size, block.conv3.kernel_size) == ((1, 1), (3, 3), (1, 1))
    assert block.conv3.out_channels == 128 and block.downsample[0].stride == (2, 2)


def test_bad_shortcut_option_names_the_valid_ones():
    with pytest.raises(BadInputError, match=r"expected 'A' \(zero-padding\) or 'B' \(projection\), received 'C'"):
        BasicBlock(16, 32, 2, shortcut="C")
    with pytest.raises(BadInputError, match="use shortcut='B'"):
        BasicBlock(32, 16, 1, shortcut="A")
