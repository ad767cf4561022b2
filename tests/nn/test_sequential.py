"""`Sequential` and the functional `Graph`: Keras-like front ends that write a net spec and compile it with
the one spec compiler (same inference, same errors)."""
import pytest
import torch
import torch.nn.functional as F
import yaml
from torch.testing import assert_close

from shendu.errors import BadInputError
from shendu.nn.sequential import (Add, AdaptiveAvgPool2d, AvgPool2d, Concat, Conv2d, Flatten, Graph, Input, Layer,
                                  Linear, MaxPool2d, PadTo, ReLU, Sequential, Tanh)
from shendu.nn.spec import SpecError, compile_spec


def count(model):
    return sum(p.numel() for p in model.parameters())


def lenet_layers():
    return [PadTo(32), Conv2d(6, 5), Tanh(), AvgPool2d(2), Conv2d(16, 5), Tanh(), AvgPool2d(2), Flatten(),
            Linear(120), Tanh(), Linear(84), Tanh(), Linear("$num_classes")]


def test_sequential_lenet_has_the_papers_parameter_count():
    # LeCun et al. 1998: 6·(25+1) + 16·(6·25+1) + 120·(400+1) + 84·(120+1) + 10·(84+1)
    model = Sequential(lenet_layers(), input_shape=(1, 32, 32), variables={"num_classes": 10})
    assert count(model) == 6 * 26 + 16 * 151 + 120 * 401 + 84 * 121 + 10 * 85 == 61_706
    assert model(torch.randn(2, 1, 32, 32)).shape == (2, 10)


def test_positional_args_follow_the_layer_params_skipping_inferred_ones():
    assert Conv2d(6, 5, stride=2).params == {"out_channels": 6, "kernel_size": 5, "stride": 2}
    assert Linear(10).params == {"out_features": 10}
    assert MaxPool2d(3, 2).params == {"kernel_size": 3, "stride": 2}  # overlapping pooling


def test_layers_dicts_and_names_mix_and_give_the_same_net_as_the_spec(seed):
    items = [{"type": "conv2d", "out_channels": 6, "kernel_size": 3}, "relu", MaxPool2d(2), "flatten", Linear(4)]
    model = Sequential(items, input_shape=(3, 10, 10))
    spec_net = compile_spec(yaml.safe_load(yaml.safe_dump(model.spec)), (3, 10, 10))  # the spec is plain data
    spec_net.load_state_dict(model.net.state_dict())
    x = torch.randn(2, 3, 10, 10)
    assert_close(model(x), spec_net(x))
    assert [s.name for s in model.net.steps] == ["conv2d_1", "relu_1", "max_pool2d_1", "flatten_1", "linear_1"]
    assert model.net.steps[-1].params["in_features"] == 6 * 4 * 4  # inferred: 10 → 8 (conv 3) → 4 (pool 2)


def test_lazy_build_on_first_call_or_explicit_build():
    model = Sequential([Conv2d(4, 3), ReLU(), Flatten(), Linear(2)])
    assert model.net is None and count(model) == 0  # no parameters until the input shape is known
    out = model(torch.randn(5, 1, 6, 6))
    assert out.shape == (5, 2) and count(model) == (4 * 9 + 4) + (4 * 16 * 2 + 2)
    rebuilt = Sequential([Conv2d(4, 3), ReLU(), Flatten(), Linear(2)]).build((3, 6, 6))
    assert rebuilt.net.steps[0].params["in_channels"] == 3


def test_sequential_errors():
    with pytest.raises(SpecError, match=r"unknown layer type 'conv' — did you mean 'conv2d' or 'conv1d'"):
        Layer("conv")
    with pytest.raises(SpecError, match=r"unknown param 'kernel' for conv2d — did you mean 'kernel_size'"):
        Conv2d(6, kernel=5)
    with pytest.raises(SpecError, match=r"linear needs 'out_features'"):
        Linear()
    with pytest.raises(BadInputError, match=r"takes at most 1 positional params \(p\), received 2"):
        Layer("dropout", 0.1, 0.2)
    with pytest.raises(BadInputError, match=r"kernel_size given both by position and by name"):
        Conv2d(6, 5, kernel_size=3)
    with pytest.raises(BadInputError, match=r"inputs are not allowed .*use a net spec or Graph"):
        Sequential([{"type": "relu", "inputs": ["x"]}])
    with pytest.raises(BadInputError, match=r"expected a Layer such as Conv2d"):
        Sequential([torch.nn.ReLU()])
    model = Sequential([Flatten(), Conv2d(4, 3)])
    with pytest.raises(SpecError, match=r"layer 'conv2d_1': conv2d failed on its input flatten_1 \(1, 36\)"):
        model.build((1, 6, 6))


def test_graph_residual_and_concat_match_a_functional_reference(seed):
    x = Input()
    a = ReLU()(Conv2d(8, 3, padding=1, name="stem")(x))
    b = Conv2d(8, 3, padding=1, name="body")(a)
    merged = Concat(name="cat")(Add(name="sum")(a, b), a)  # (B, 16, H, W)
    y = Linear(3, name="head")(Flatten()(AdaptiveAvgPool2d(1)(merged)))
    model = Graph(x, y, input_shape=(2, 9, 9))
    assert model.net.shapes["cat"] == (1, 16, 9, 9)
    L = model.net.layers  # noqa: N806
    inp = torch.randn(3, 2, 9, 9)
    ra = F.relu(F.conv2d(inp, L["stem"].weight, L["stem"].bias, padding=1))
    rb = F.conv2d(ra, L["body"].weight, L["body"].bias, padding=1)
    expected = F.linear(torch.cat([ra + rb, ra], 1).mean((2, 3)), L["head"].weight, L["head"].bias)
    assert_close(model(inp), expected, atol=1e-5, rtol=1e-5)


def test_graph_errors():
    x = Input()
    relu = ReLU()
    relu(x)
    with pytest.raises(BadInputError, match=r"was already called; a Layer describes one layer"):
        relu(x)
    with pytest.raises(BadInputError, match=r"computed from the graph's input 'x' only \(other inputs: \['y'\]"):
        Graph(x, ReLU()(Input("y")))
    with pytest.raises(SpecError, match=r"layer 'add_1': inputs have different shapes"):
        Graph(x, Add()(x, Conv2d(4, 1)(x)), input_shape=(1, 4, 4))
