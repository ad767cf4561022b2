"""Declarative net specs: the example nets, fidelity to hand-written references, every compile error by
message, the `net_spec` model (config, freezing, training on digits)."""
import json
import math

import pytest
import torch
import torch.nn.functional as F
import yaml
from torch.testing import assert_close

import shendu.models.net_spec  # noqa: F401  (registers "net_spec" until shendu.models imports it)
from shendu.errors import BadInputError
from shendu.models import create_model
from shendu.models.net_spec import LENET5_SPEC, _freeze
from shendu.nn.spec import SpecError, compile_spec, load_spec
from tests.conftest import REPO

NETS = REPO / "examples" / "nets"
EXAMPLES = ["lenet", "small_resnet", "inception_block"]


def build(spec, shape=(1, 8, 8), num_classes=10):
    return compile_spec(spec, shape, {"num_classes": num_classes})


def count(model):
    return sum(p.numel() for p in model.parameters())


# -- the example nets -------------------------------------------------------------------------------
@pytest.mark.parametrize("example", EXAMPLES)
@pytest.mark.parametrize("shape", [(1, 28, 28), (3, 32, 32)])
def test_example_specs_compile_and_train_a_step(example, shape, seed):
    net = build(NETS / f"{example}.yaml", shape, num_classes=7)
    out = net(torch.randn(2, *shape))
    assert out.shape == (2, 7) and torch.isfinite(out).all()
    F.cross_entropy(out, torch.tensor([0, 6])).backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in net.parameters())
    assert net.shapes["x"] == (1, *shape) and net.shapes[net.output_name] == (1, 7)


def test_lenet_spec_has_the_papers_parameter_count_and_is_the_builtin_default():
    # LeCun et al. 1998 with a fully connected C3: C1 6·(25+1), C3 16·(6·25+1), C5 120·(400+1), F6 84·(120+1),
    # output 10·(84+1).
    expected = 6 * 26 + 16 * 151 + 120 * 401 + 84 * 121 + 10 * 85
    assert expected == 61_706
    assert count(build(NETS / "lenet.yaml", (1, 32, 32))) == expected
    assert count(build(NETS / "lenet.yaml", (1, 28, 28))) == expected  # pad_to keeps the 32×32 field
    assert load_spec(NETS / "lenet.yaml") == LENET5_SPEC  # the file and net_spec's default are one net
    assert count(create_model("net_spec")) == expected


@pytest.mark.parametrize("size", [28, 32])
def test_lenet_spec_computes_exactly_what_the_lenet5_model_computes(size, seed):
    # Reference: shendu's hand-written lenet5 (pads 28 px inputs by 2 in C1). Same weights, same outputs.
    reference = create_model("lenet5", input_size=size).eval()
    net = build(NETS / "lenet.yaml", (1, size, size)).eval()
    with torch.no_grad():
        for ours, theirs in zip(net.parameters(), reference.parameters(), strict=True):
            ours.copy_(theirs)
    x = torch.randn(4, 1, size, size)
    assert_close(net(x), reference(x), atol=1e-6, rtol=1e-5)


def test_small_resnet_matches_a_functional_reference_and_the_derived_count(seed):
    net = build(NETS / "small_resnet.yaml", (3, 32, 32)).eval()
    convs = 3 * 16 * 9 + 2 * 16 * 16 * 9 + 16 * 32 * 9 + 32 * 32 * 9 + 16 * 32  # no conv bias: BN follows
    norms = 2 * (16 + 16 + 16 + 32 + 32 + 32)  # γ and β of six batch norms
    assert count(net) == convs + norms + 32 * 10 + 10
    L = net.layers  # noqa: N806

    def bn(x, name):  # eval mode: running statistics
        m = L[name]
        return F.batch_norm(x, m.running_mean, m.running_var, m.weight, m.bias, False, 0.0, m.eps)

    def conv(x, name, stride=1, padding=1):
        return F.conv2d(x, L[name].weight, None, stride, padding)

    x = torch.randn(2, 3, 32, 32)
    stem = F.relu(bn(conv(x, "stem_conv"), "stem_bn"))
    b1 = F.relu(stem + bn(conv(F.relu(bn(conv(stem, "b1_conv1"), "b1_bn1")), "b1_conv2"), "b1_bn2"))
    shortcut = bn(conv(b1, "b2_proj", 2, 0), "b2_proj_bn")  # the projection: 1×1, stride 2
    b2 = F.relu(shortcut + bn(conv(F.relu(bn(conv(b1, "b2_conv1", 2), "b2_bn1")), "b2_conv2"), "b2_bn2"))
    expected = F.linear(b2.mean((2, 3)), L["logits"].weight, L["logits"].bias)
    assert_close(net(x), expected, atol=1e-5, rtol=1e-5)


def test_inception_block_concatenates_its_four_branches(seed):
    net = build(NETS / "inception_block.yaml", (3, 32, 32)).eval()
    L = net.layers  # noqa: N806

    def conv(x, name, padding=0):
        return F.relu(F.conv2d(x, L[name].weight, L[name].bias, padding=padding))

    x = torch.randn(2, 3, 32, 32)
    stem = conv(x, "stem_conv", 1)
    branches = [conv(stem, "b1_conv"), conv(conv(stem, "b2_reduce"), "b2_conv", 1),
                conv(conv(stem, "b3_reduce"), "b3_conv", 2), conv(F.max_pool2d(stem, 3, 1, 1), "b4_conv")]
    assert [b.shape[1] for b in branches] == [16, 32, 8, 8]  # inception (3a)'s 64/128/32/32, divided by 4
    expected = F.linear(torch.cat(branches, 1).mean((2, 3)), L["logits"].weight, L["logits"].bias)
    assert_close(net(x), expected, atol=1e-5, rtol=1e-5)
    assert net.shapes["inception"] == (1, 64, 32, 32)


def test_layers_listed_out_of_order_run_in_topological_order():
    spec = {"layers": [{"name": "out", "type": "linear", "inputs": ["flat"], "out_features": 3},
                       {"name": "flat", "type": "flatten", "inputs": ["x"]}], "output": "out"}
    net = build(spec, (2, 3, 3))
    assert [s.name for s in net.steps] == ["flat", "out"] and net(torch.randn(5, 2, 3, 3)).shape == (5, 3)


def test_defaults_names_inferred_params_and_fx_tracing():
    net = build({"layers": [{"type": "conv2d", "out_channels": 4, "kernel_size": 3}, {"type": "relu"},
                            {"type": "batch_norm2d"}, {"type": "flatten"}, {"type": "linear", "out_features": 2}]},
                (3, 5, 5))
    assert [s.name for s in net.steps] == ["conv2d_1", "relu_1", "batch_norm2d_1", "flatten_1", "linear_1"]
    assert net.steps[0].params["in_channels"] == 3 and net.steps[2].params["num_features"] == 4
    assert net.steps[4].params["in_features"] == 4 * 3 * 3
    x = torch.randn(2, 3, 5, 5)
    assert_close(torch.fx.symbolic_trace(net)(x), net(x))  # `shendu zoo show` exports specs through torch.fx


def test_json_spec_and_meta_device(tmp_path):
    path = tmp_path / "lenet.json"
    path.write_text(json.dumps(LENET5_SPEC))
    assert count(create_model("net_spec", spec=str(path))) == 61_706
    with torch.device("meta"):  # what list_models() does: shapes only
        assert count(create_model("net_spec", spec=str(path), input_size=224)) > 61_706


# -- errors name the layer --------------------------------------------------------------------------
def conv(name, out=16, **extra):
    return {"name": name, "type": "conv2d", "out_channels": out, "kernel_size": 3, "padding": 1, **extra}


HEAD = [{"name": "flat", "type": "flatten"}, {"name": "logits", "type": "linear", "out_features": 2}]

ERRORS = {
    "unknown type": ([{"name": "c1", "type": "conv2"}],
                     r"layer 'c1': unknown layer type 'conv2' — did you mean 'conv2d'.*\(valid: .*linear"),
    "unknown param": ([{"name": "c1", "type": "conv2d", "out_channels": 4, "kernel": 3}],
                      r"layer 'c1': unknown param 'kernel' for conv2d — did you mean 'kernel_size'\? "
                      r"\(valid: out_channels, kernel_size, stride.*; inferred from the input: in_channels\)"),
    "missing param": ([{"name": "fc", "type": "linear"}], r"layer 'fc': linear needs 'out_features'"),
    "dangling input": ([conv("c1"), conv("c2"), {"name": "add1", "type": "add", "inputs": ["c1", "c9"]}] + HEAD,
                       r"layer 'add1': input 'c9' is not produced by any layer or net input .*"
                       r"\(known: x, c1, c2, add1, flat, logits\)"),
    "shape mismatch": ([conv("c1"), conv("c2", 32), {"name": "add1", "type": "add", "inputs": ["c1", "c2"]}] + HEAD,
                       r"layer 'add1': inputs have different shapes c1 \(1, 16, 8, 8\) vs c2 \(1, 32, 8, 8\)"),
    "concat mismatch": ([conv("c1"), conv("c2", stride=2), {"name": "cat", "type": "concat", "inputs": ["c1", "c2"]}]
                        + HEAD, r"layer 'cat': inputs differ outside dim 1: c1 \(1, 16, 8, 8\) vs c2 \(1, 16, 4, 4\)"),
    "layer fails": ([{"name": "big", "type": "conv2d", "out_channels": 4, "kernel_size": 9}] + HEAD,
                    r"layer 'big': conv2d failed on its input x \(1, 1, 8, 8\): .*[Kk]ernel size"),
    "bad value": ([{"name": "c1", "type": "conv2d", "out_channels": -4, "kernel_size": 3}] + HEAD,
                  r"layer 'c1': conv2d could not be built with .*'out_channels': -4"),
    "contradicted inference": ([{"name": "c1", "type": "conv2d", "in_channels": 3, "out_channels": 4, "kernel_size": 3}]
                               + HEAD, r"layer 'c1': in_channels is 3 but input x \(1, 1, 8, 8\) gives 1; leave "),
    "duplicate output": ([conv("c1"), conv("c2", outputs=["c1"])] + HEAD,
                         r"layer 'c2': output 'c1' is already produced by layer 'c1'; tensor names must be unique"),
    "duplicate name": ([conv("c1"), conv("c1")] + HEAD, r"layer #2: name 'c1' is already used by layer #1"),
    "cycle": ([conv("a", inputs=["b"]), conv("b", inputs=["a"]), {"name": "add1", "type": "add", "inputs": ["x", "b"]}]
              + HEAD, r"layer 'a': layers form a cycle a ← b ← a"),
    "unused": ([conv("c1"), conv("dead", inputs=["x"]), {"name": "flat", "type": "flatten", "inputs": ["c1"]}],
               r"layer 'dead': its output 'dead' is never used and is not the net output 'flat'"),
    "two inputs to conv": ([conv("c1"), conv("c2", inputs=["x", "c1"])] + HEAD,
                           r"layer 'c2': conv2d takes 1 input, received 2 \(x \(1, 1, 8, 8\), c1 \(1, 16, 8, 8\)\)"),
    "add of one": ([conv("c1"), {"name": "add1", "type": "add"}] + HEAD,
                   r"layer 'add1': add merges 2 or more inputs, received 1 \(c1 \(1, 16, 8, 8\)\)"),
    "unknown variable": ([{"name": "fc", "type": "linear", "out_features": "$num_clases"}],
                         r"layer 'fc': unknown variable '\$num_clases' — did you mean '\$num_classes'\?"),
}


@pytest.mark.parametrize("case", ERRORS)
def test_bad_specs_fail_with_a_message_naming_the_layer(case):
    layers, message = ERRORS[case]
    with pytest.raises(SpecError, match=message):
        build({"layers": layers})


def test_spec_level_errors(tmp_path):
    with pytest.raises(SpecError, match=r"net spec 'output': 'logit' is not produced by any layer — did you mean "
                                        r"'logits'\? \(known: x, flat, logits\)"):
        build({"layers": HEAD, "output": "logit"})
    with pytest.raises(SpecError, match=r"unknown top-level key 'layer' — did you mean 'layers'"):
        build({"layer": HEAD})
    with pytest.raises(SpecError, match=r"'layers' must be a non-empty list"):
        build({"layers": []})
    with pytest.raises(SpecError, match=r"net spec file not found: .*nope.yaml"):
        build(tmp_path / "nope.yaml")
    (tmp_path / "bad.yaml").write_text("layers: [{type: relu}\n")
    with pytest.raises(SpecError, match=r"bad.yaml is not valid YAML"):
        build(tmp_path / "bad.yaml")
    assert issubclass(SpecError, BadInputError)  # the CLI reports it as a user error (exit code 2)


# -- the net_spec model -----------------------------------------------------------------------------
def test_freeze_replaces_a_spec_path_by_the_spec():
    path = NETS / "small_resnet.yaml"
    frozen = _freeze({"spec": str(path)})
    assert frozen == {"spec": yaml.safe_load(path.read_text())}
    json.dumps(frozen)  # a package stores it as JSON
    a, b = create_model("net_spec", spec=str(path)), create_model("net_spec", **frozen)
    assert {k: v.shape for k, v in a.state_dict().items()} == {k: v.shape for k, v in b.state_dict().items()}
    assert _freeze({}) == {}


def test_example_config_names_the_lenet_spec(monkeypatch):
    from shendu.config import ExperimentConfig

    monkeypatch.chdir(REPO)  # the spec path in the example is relative to the repository root
    config = ExperimentConfig.load(REPO / "examples" / "spec-lenet.yaml")
    assert config.model.name == "net_spec" and config.data.name == "digits"
    assert count(create_model("net_spec", input_size=8, **config.model.args)) == 61_706


def test_spec_lenet_trains_one_epoch_on_digits():
    from shendu.train import train

    model = {"name": "net_spec", "args": {"spec": str(NETS / "lenet.yaml")}}
    result = train({"data": {"name": "digits"}, "model": model, "optim": {"lr": 0.003},
                    "train": {"epochs": 1, "batch_size": 32}}, progress=False)
    assert result.status == "completed"
    assert result.metrics["val_loss"] < math.log(10)  # better than a uniform guess over the 10 digits
