"""TextPipeline: encoding shapes, truncation, padding, the automatic tokenizer and the JSON round trip."""
from __future__ import annotations

import json

import pytest
import torch

from shendu.errors import BadInputError
from shendu.text import TextPipeline, resolve_tokenizer


@pytest.fixture
def pipeline() -> TextPipeline:
    return TextPipeline.fit(["a b c", "a b", "a d e f g"], tokenizer="whitespace", max_len=4)


def test_encode_pads_to_the_longest_and_cuts_at_max_len(pipeline):
    ids = pipeline.encode(["a b", "a d e f g h", "zz"])
    # vocabulary: a ×3, b ×2, then c d e f g ×1 → ids 2, 3, 4..8
    assert ids.dtype == torch.int64
    assert ids.tolist() == [[2, 3, 0, 0], [2, 5, 6, 7], [1, 0, 0, 0]]  # h is cut; zz is <unk>


def test_width_is_the_longest_text_and_never_zero(pipeline):
    assert pipeline.encode(["a"]).shape == (1, 1)
    assert pipeline.encode("").tolist() == [[0]]  # an empty text is one padding token
    assert pipeline.encode(["a", "a b c"]).shape == (2, 3)


def test_round_trip_through_json_encodes_identically(pipeline):
    again = TextPipeline.from_dict(json.loads(json.dumps(pipeline.to_dict())))
    texts = ["a b c d e f", "b", "g f e"]
    assert torch.equal(again.encode(texts), pipeline.encode(texts))
    assert again.vocab == pipeline.vocab and again.max_len == 4


def test_coverage_counts_unknown_truncated_and_empty(pipeline):
    tokens = pipeline.tokenize_all(["a zz", "a b c d e", ""])
    coverage = pipeline.coverage(tokens)
    assert coverage == {"unknown_tokens": pytest.approx(1 / 7), "truncated_texts": pytest.approx(1 / 3),
                        "empty_texts": pytest.approx(1 / 3)}


def test_auto_tokenizer_follows_the_language_or_the_texts():
    assert resolve_tokenizer("auto", "zh") == "jieba" and resolve_tokenizer("auto", "en") == "regex"
    assert resolve_tokenizer("auto", None, ["这家酒店很好 ok", "房间太小"]) == "jieba"
    assert resolve_tokenizer("auto", None, ["a fine film", "bad 酒店"]) == "regex"
    assert resolve_tokenizer("char", "en") == "char"


def test_bad_inputs_are_refused(pipeline):
    with pytest.raises(BadInputError, match="expected a text"):
        pipeline.encode([b"bytes"])
    with pytest.raises(BadInputError, match="max_len: expected a positive number"):
        TextPipeline.fit(["a"], tokenizer="char", max_len=0)
    with pytest.raises(BadInputError, match="expected kind 'text'"):
        TextPipeline.from_dict({"kind": "standardize"})
