"""The experiment config rejects bad input with the message a user needs (key path, received, valid)."""
import pytest

from shendu.config import ExperimentConfig
from shendu.errors import ConfigError


def _error(raw=None, overrides=None, tmp_path=None) -> str:
    with pytest.raises(ConfigError) as info:
        if overrides is not None:
            ExperimentConfig.load(None, overrides)
        else:
            ExperimentConfig.from_dict(raw)
    return str(info.value)


def test_defaults_are_valid_and_round_trip():
    config = ExperimentConfig.load()
    assert config.data.name == "digits" and config.model.name == "lenet5"
    assert ExperimentConfig.from_dict(config.to_dict()) == config


def test_unknown_key_gives_did_you_mean():
    message = _error({"optim": {"lrr": 0.1}})
    assert "unknown key 'optim.lrr' — did you mean 'optim.lr'?" in message
    assert "(valid: name, lr, momentum, nesterov," in message and "weight_decay" in message


def test_unknown_section_gives_did_you_mean():
    assert "unknown key 'trian' — did you mean 'train'?" in _error({"trian": {"epochs": 1}})


def test_wrong_type_names_path_and_received_value():
    message = _error({"train": {"epochs": "many"}})
    assert "train.epochs: expected an integer, received a string 'many'" in message


def test_out_of_range_value():
    message = _error({"optim": {"lr": -1}})
    assert "optim.lr: input should be greater than 0, received -1" in message


def test_every_problem_reported_at_once():
    message = _error({"optim": {"lr": 0}, "train": {"batch_size": 0}})
    assert "optim.lr" in message and "train.batch_size" in message


def test_unknown_optimizer_lists_valid_ones():
    message = _error({"optim": {"name": "adamm"}})
    assert "optim.name: unknown value 'adamm' — did you mean 'adam'?" in message


def test_unknown_model_and_dataset_names():
    message = _error({"model": {"name": "lenet"}, "data": {"name": "mnsit"}})
    assert "model.name: unknown value 'lenet' — did you mean 'lenet5'?" in message
    assert "data.name: unknown value 'mnsit' — did you mean 'mnist'?" in message


def test_dotted_overrides_parse_values_as_yaml():
    config = ExperimentConfig.load(None, ["optim.lr=0.05", "train.epochs=3", "model.args.hidden=32",
                                          "model.name=mlp"])
    assert config.optim.lr == 0.05 and config.train.epochs == 3 and config.model.args == {"hidden": 32}


def test_override_without_equals_sign():
    assert "expected KEY=VALUE such as optim.lr=0.05" in _error(overrides=["optim.lr"])


def test_override_into_a_value():
    assert "optim.lr is a value (0.1), not a section" in _error(overrides=["optim.lr=0.1", "optim.lr.x=1"])


def test_yaml_file_errors(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("train:\n  epochs: [1,\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"not valid YAML at line \d+"):
        ExperimentConfig.load(bad)
    with pytest.raises(ConfigError, match="config file not found"):
        ExperimentConfig.load(tmp_path / "missing.yaml")
    scalar = tmp_path / "scalar.yaml"
    scalar.write_text("42\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="expected a mapping of sections"):
        ExperimentConfig.load(scalar)


def test_section_given_as_scalar():
    assert "optim: expected a section (mapping), received a number 0.1" in _error({"optim": 0.1})


def test_bad_device():
    assert "train.device: expected auto, cpu, cuda, cuda:N or mps, received 'gpu'" in _error(
        {"train": {"device": "gpu"}})


@pytest.mark.parametrize("path", ["examples/digits-lenet.yaml", "examples/mnist-lenet.yaml",
                                  "examples/fashion-mlp.yaml"])
def test_examples_are_valid(path):
    from tests.conftest import REPO

    ExperimentConfig.load(REPO / path)


def test_demo_config_is_the_example():
    from importlib import resources

    from tests.conftest import REPO

    shipped = (resources.files("shendu.configs") / "digits-lenet.yaml").read_text(encoding="utf-8")
    assert shipped == (REPO / "examples" / "digits-lenet.yaml").read_text(encoding="utf-8")
