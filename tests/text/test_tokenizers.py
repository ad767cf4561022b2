"""Tokenizers: the course's sentence, each tokenizer on hand-checked examples, options and their errors,
and determinism across processes (the vocabulary and the ids must not depend on Python's hash salt)."""
from __future__ import annotations

import json
import logging
import os
import subprocess
import sys

import jieba
import pytest

from shendu.config import ExperimentConfig
from shendu.errors import BadInputError, UnknownNameError
from shendu.text import TextPipeline, build_tokenizer
from shendu.text._tokenizers import _jieba, tokenizer_from_dict

COURSE = "今天天气很好。"


def test_jieba_keeps_its_own_dictionary_by_default():
    """shendu's decision: jieba's dictionary unchanged, so the course sentence splits as jieba splits it."""
    assert build_tokenizer("jieba")(COURSE) == ["今天天气", "很", "好", "。"]


def test_the_course_segmentation_is_one_setting_away_and_leaves_global_jieba_alone():
    tokenizer = build_tokenizer("jieba", user_words=["很好"], del_words=["今天天气"])
    assert tokenizer(COURSE) == ["今天", "天气", "很好", "。"]
    assert jieba.lcut(COURSE) == ["今天天气", "很", "好", "。"]  # the process-wide jieba is untouched
    assert build_tokenizer("jieba")(COURSE) == ["今天天气", "很", "好", "。"]


def test_the_course_segmentation_through_the_config():
    config = ExperimentConfig.from_dict({"data": {"name": "chnsenticorp", "text": {
        "tokenizer": "jieba", "user_words": ["很好"], "del_words": ["今天天气"]}}, "model": {"name": "textcnn"}})
    text = config.data.text
    pipeline = TextPipeline.fit([COURSE], tokenizer=text.tokenizer, **text.tokenizer_options())
    assert pipeline.tokenize(COURSE) == ["今天", "天气", "很好", "。"]
    rebuilt = TextPipeline.from_dict(json.loads(json.dumps(pipeline.to_dict())))
    assert rebuilt.tokenize(COURSE) == ["今天", "天气", "很好", "。"]  # the words travel with the package


def test_jieba_caches_under_shendu_home_and_logs_only_warnings(shendu_home):
    _jieba.cache_clear()
    build_tokenizer("jieba")(COURSE)
    assert (shendu_home / "cache" / "jieba" / "jieba.cache").is_file()
    assert logging.getLogger("jieba").level == logging.WARNING


@pytest.mark.parametrize(("name", "options", "text", "tokens"), [
    ("whitespace", {}, "the rock is  destined\tto be", ["the", "rock", "is", "destined", "to", "be"]),
    ("char", {}, "很 好 !", ["很", "好", "!"]),
    ("regex", {}, "It's a 21st-century film, isn't it?", ["It's", "a", "21st", "-", "century", "film", ",", "isn't",
                                                          "it", "?"]),
    ("regex", {"pattern": r"\d+"}, "3 cats and 12 dogs", ["3", "12"]),
    ("jieba", {"hmm": False}, "房间很干净", ["房间", "很", "干净"]),
])
def test_tokenizers_on_hand_checked_examples(name, options, text, tokens):
    assert build_tokenizer(name, **options)(text) == tokens


def test_lowercasing_happens_before_tokenizing():
    texts = ["The Rock IS great"]
    assert TextPipeline.fit(texts, tokenizer="whitespace").tokenize(texts[0]) == ["the", "rock", "is", "great"]
    assert TextPipeline.fit(texts, tokenizer="whitespace", lowercase=False).tokenize(texts[0])[0] == "The"


def test_tokenizer_errors_say_what_to_do():
    with pytest.raises(UnknownNameError, match="did you mean 'jieba'"):
        build_tokenizer("jeiba")
    with pytest.raises(BadInputError, match=r"tokenizer 'char' takes no option 'pattern' \(its options: none\)"):
        build_tokenizer("char", pattern=r"\w+")
    with pytest.raises(BadInputError, match="capturing groups; write"):
        build_tokenizer("regex", pattern=r"(\w)+")
    with pytest.raises(BadInputError, match="not a valid regular expression"):
        build_tokenizer("regex", pattern="[")
    with pytest.raises(BadInputError, match="expected 'word', 'word freq' or 'word freq tag'"):
        build_tokenizer("jieba", user_words=["很好 often"])


def test_state_round_trips_for_every_tokenizer():
    for name, options in (("whitespace", {}), ("char", {}), ("regex", {"pattern": r"\w+"}),
                          ("jieba", {"user_words": ["很好 50"], "del_words": ["今天天气"], "hmm": False})):
        tokenizer = build_tokenizer(name, **options)
        again = tokenizer_from_dict(json.loads(json.dumps(tokenizer.to_dict())))
        assert again.to_dict() == tokenizer.to_dict() and again(COURSE + " ok") == tokenizer(COURSE + " ok")


_IDS = """
import json, sys
from shendu.text import TextPipeline
texts = ["这家酒店的服务很好", "房间太小了，隔音很差", "服务一般，早餐很好", "good film , bad ending"]
pipeline = TextPipeline.fit(texts[::-1] if sys.argv[1] == "reversed" else texts, tokenizer="jieba")
print(json.dumps(pipeline.encode(texts).tolist()))
"""


def test_ids_are_the_same_in_another_process_and_for_another_text_order(shendu_home):
    """Vocabulary order is (frequency, token), never insertion or hash order."""
    runs = []
    for seed, order in (("1", "forward"), ("2", "reversed")):
        env = {**os.environ, "PYTHONHASHSEED": seed, "SHENDU_HOME": str(shendu_home)}
        out = subprocess.run([sys.executable, "-c", _IDS, order], capture_output=True, text=True, env=env,
                             check=True)
        runs.append(json.loads(out.stdout))
    assert runs[0] == runs[1]
    assert len(runs[0]) == 4 and all(row[0] > 1 for row in runs[0])  # known words, not <pad>/<unk>
