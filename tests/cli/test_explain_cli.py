"""`shendu explain TOPIC`: every topic renders in both languages, and its JSON carries the worked numbers."""
import json

import pytest

from shendu.cli import main
from shendu.cli.explain import TOPICS


def _json_last_line(capsys) -> dict:
    return json.loads(capsys.readouterr().out.strip().splitlines()[-1])


@pytest.mark.parametrize("topic", TOPICS)
@pytest.mark.parametrize("language", ["en", "zh"])
def test_every_topic_renders(topic: str, language: str, capsys) -> None:
    assert main(["explain", topic, "--lang", language]) == 0
    out = capsys.readouterr().out
    assert len(out.splitlines()) > 5
    has_chinese = any("\u4e00" <= ch <= "\u9fff" for ch in out)
    assert has_chinese == (language == "zh")


def test_conv_json_has_the_course_numbers(capsys) -> None:
    assert main(["explain", "conv", "--lang", "en", "--json"]) == 0
    data = _json_last_line(capsys)
    assert data["feature_match"] == 1.0
    assert data["stride1_kernel1"][0][:2] == [3, -1] and data["stride2_kernel1"][0][:2] == [3, -3]


def test_perceptron_json_says_xor_fails_and_mlp_learns_it(capsys) -> None:
    assert main(["explain", "perceptron", "--json"]) == 0
    data = _json_last_line(capsys)
    assert data["and"]["converged"] and not data["xor"]["converged"]
    assert data["xor_mlp"]["predicted"] == [0, 1, 1, 0]


def test_unknown_topic_and_language_exit_2(capsys) -> None:
    assert main(["explain", "convolution"]) == 2
    assert "did you mean 'conv'" in capsys.readouterr().err
    assert main(["explain", "conv", "--lang", "fr"]) == 2
