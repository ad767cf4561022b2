"""The Inception module against an independent reference written with torch.nn.functional ops
(conv2d / batch_norm / relu / max_pool2d / cat on the module's own weights), atol 1e-6, rtol 1e-5."""
import pytest
import torch
import torch.nn.functional as F
from torch.testing import assert_close

from shendu.nn.inception import Inception


def _conv_relu(x: torch.Tensor, block: torch.nn.Module, training: bool) -> torch.Tensor:
    """conv ('same' padding from the kernel's own side) [→ batch norm] → ReLU, with block's tensors."""
    weight = block.conv.weight
    y = F.conv2d(x, weight, block.conv.bias, padding=weight.shape[-1] // 2)
    if hasattr(block, "bn"):
        bn = block.bn
        running = (None, None) if training else (bn.running_mean, bn.running_var)
        y = F.batch_norm(y, *running, bn.weight, bn.bias, training=training, eps=1e-3)
    return F.relu(y)


def inception_reference(x: torch.Tensor, m: Inception, training: bool = False) -> torch.Tensor:
    """Szegedy et al. 2015 Figure 2b: 1×1 | 1×1→3×3 | 1×1→5×5 | 3×3/1 max-pool→1×1, concatenated."""
    b1 = _conv_relu(x, m.branch1x1, training)
    b2 = _conv_relu(_conv_relu(x, m.branch3x3[0], training), m.branch3x3[1], training)
    b3 = _conv_relu(_conv_relu(x, m.branch5x5[0], training), m.branch5x5[1], training)
    b4 = _conv_relu(F.max_pool2d(x, 3, stride=1, padding=1), m.branch_pool[1], training)
    return torch.cat([b1, b2, b3, b4], dim=1)


def _randomize_batch_norm(m: torch.nn.Module) -> None:
    """Non-trivial BN statistics and affine parameters, so eval mode is not close to the identity."""
    for bn in (layer for layer in m.modules() if isinstance(layer, torch.nn.BatchNorm2d)):
        bn.running_mean.uniform_(-0.5, 0.5)
        bn.running_var.uniform_(0.5, 2.0)
        torch.nn.init.uniform_(bn.weight, 0.5, 1.5)
        torch.nn.init.uniform_(bn.bias, -0.2, 0.2)


CONFIGS = [  # (in_channels, ch1x1, ch3x3red, ch3x3, ch5x5red, ch5x5, pool_proj)
    (192, 64, 96, 128, 16, 32, 32),  # the paper's 3a: 64 + 128 + 32 + 32 = 256 channels out
    (5, 3, 4, 6, 2, 7, 1),  # small and uneven, so a swapped branch would change the channel layout
]


@pytest.mark.parametrize("config", CONFIGS)
@pytest.mark.parametrize("five_by_five", [True, False])
def test_inception_matches_the_functional_reference(config, five_by_five, seed):
    m = Inception(*config, five_by_five=five_by_five).eval()
    x = torch.randn(2, config[0], 9, 7)  # odd, non-square: padding mistakes change the output size
    out = m(x)
    assert out.shape == (2, config[1] + config[3] + config[5] + config[6], 9, 7) and m.out_channels == out.shape[1]
    assert_close(out, inception_reference(x, m), atol=1e-6, rtol=1e-5)
    assert m.branch5x5[1].conv.kernel_size == ((5, 5) if five_by_five else (3, 3))
    assert not any(isinstance(layer, torch.nn.BatchNorm2d) for layer in m.modules())  # the paper has no BN


@pytest.mark.parametrize("training", [False, True])
def test_inception_with_batch_norm_matches_the_functional_reference(training, seed):
    m = Inception(*CONFIGS[1], bn=True, five_by_five=False)
    _randomize_batch_norm(m)
    m.train(training)
    x = torch.randn(3, 5, 6, 6)
    assert_close(m(x), inception_reference(x, m, training), atol=1e-6, rtol=1e-5)
    assert all(layer.bias is None for layer in m.modules() if isinstance(layer, torch.nn.Conv2d))  # BN's β instead


def test_the_5x5_branch_costs_25_9ths_of_torchvisions_3x3():
    # A 5×5 conv on the reduced channels has 25/9 the weights of the 3×3 torchvision puts in its place.
    paper, tv = Inception(*CONFIGS[0]), Inception(*CONFIGS[0], five_by_five=False)
    count = lambda m: sum(p.numel() for p in m.parameters())  # noqa: E731
    assert count(paper) - count(tv) == (25 - 9) * 16 * 32  # 3a: #5×5 reduce 16, #5×5 32
