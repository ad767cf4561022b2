"""A generative config never trains the default supervised model by accident: the supervised Trainer and
`shendu train --cv` refuse it with a clear message (exit code 2), `shendu train` routes it to shendu.generative."""
from __future__ import annotations

import pytest

from shendu.cli import main
from shendu.config import ExperimentConfig
from shendu.errors import BadInputError
from shendu.train import Trainer

GENERATIVE = {"data": {"name": "digits"}, "train": {"epochs": 1},
              "generative": {"kind": "autoencoder", "args": {"sizes": [64, 16]}}}


def test_supervised_trainer_refuses_a_generative_config() -> None:
    with pytest.raises(BadInputError, match="generative section"):
        Trainer(ExperimentConfig.from_dict(GENERATIVE), progress=False)


def test_cross_validation_refuses_a_generative_config(tmp_path, capsys) -> None:
    import yaml

    path = tmp_path / "ae.yaml"
    path.write_text(yaml.safe_dump(GENERATIVE))
    assert main(["train", str(path), "--cv", "2"]) == 2
    assert "generative section" in capsys.readouterr().err
