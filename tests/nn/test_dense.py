"""Dense layers, blocks and transitions against a float64 functional reference (F.batch_norm in eval
mode, F.conv2d, F.avg_pool2d), and the concatenation that makes a block dense."""
import torch
import torch.nn.functional as F
from torch.testing import assert_close

from shendu.nn.dense import DenseBlock, DenseLayer, Transition
from tests._helpers import randomize_batch_norm


def bn_relu(x, layer):
    d = lambda t: t.detach().double()  # noqa: E731
    return F.relu(F.batch_norm(x, d(layer.running_mean), d(layer.running_var), d(layer.weight), d(layer.bias),
                               training=False, eps=1e-5))


def dense_layer_reference(layer, x):
    """BN-ReLU-Conv(1×1) → BN-ReLU-Conv(3×3, padding 1), the paper's DenseNet-B composite function."""
    x = F.conv2d(bn_relu(x, layer.norm1), layer.conv1.weight.detach().double())
    return F.conv2d(bn_relu(x, layer.norm2), layer.conv2.weight.detach().double(), padding=1)


def test_dense_layer_matches_functional_reference(seed):
    layer = randomize_batch_norm(DenseLayer(24, growth_rate=8, bn_size=4))
    x = torch.randn(2, 24, 6, 6)
    with torch.no_grad():
        ours = layer(x)
    assert ours.shape == (2, 8, 6, 6) and layer.conv1.out_channels == 32  # bottleneck of bn_size·k
    assert_close(ours, dense_layer_reference(layer, x.double()).float(), atol=1e-5, rtol=1e-5)


def test_dense_block_grows_by_k_per_layer_and_concatenates(seed):
    block = randomize_batch_norm(DenseBlock(num_layers=4, in_channels=10, growth_rate=6, bn_size=2))
    x = torch.randn(2, 10, 5, 5)
    with torch.no_grad():
        out = block(x)
    assert out.shape == (2, 10 + 4 * 6, 5, 5) and block.out_channels == 34
    layers = list(block.children())
    assert [layer.norm1.num_features for layer in layers] == [10, 16, 22, 28]  # each sees all before it
    assert torch.equal(out[:, :10], x)  # the block input is a prefix of the output: concatenation
    features = x.double()  # reference: each layer reads everything so far and appends k channels
    for layer in layers:
        features = torch.cat([features, dense_layer_reference(layer, features)], dim=1)
    assert_close(out, features.float(), atol=1e-5, rtol=1e-5)


def test_transition_compresses_and_halves_the_side(seed):
    transition = randomize_batch_norm(Transition(12, 6))
    x = torch.randn(2, 12, 7, 7)
    with torch.no_grad():
        ours = transition(x)
    ref = F.avg_pool2d(F.conv2d(bn_relu(x.double(), transition.norm), transition.conv.weight.detach().double()), 2)
    assert ours.shape == (2, 6, 3, 3)
    assert_close(ours, ref.float(), atol=1e-5, rtol=1e-5)


def test_dropout_acts_in_training_only(seed):
    layer = DenseLayer(8, growth_rate=16, drop_rate=0.5)
    x = torch.randn(2, 8, 4, 4)
    assert (layer.train()(x) == 0).float().mean() > 0.3  # about half dropped (conv2 output has no ReLU)
    with torch.no_grad():
        assert torch.equal(layer.eval()(x), layer(x))
