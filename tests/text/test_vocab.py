"""The vocabulary: counting rules, special ids, encoding and its JSON round trip."""
from __future__ import annotations

import json

import pytest

from shendu.errors import BadInputError
from shendu.text import PAD_ID, UNK_ID, Vocab

TOKENS = [["好", "酒店", "好"], ["差", "酒店", "好"], ["一般"]]  # 好 ×3, 酒店 ×2, 差 ×1, 一般 ×1


def test_order_is_frequency_then_token_and_specials_come_first():
    vocab = Vocab.build(TOKENS)
    assert vocab.tokens == ["<pad>", "<unk>", "好", "酒店", "一般", "差"]  # 一般 < 差 in code-point order
    assert (PAD_ID, UNK_ID) == (0, 1)
    assert Vocab.build(TOKENS[::-1]).tokens == vocab.tokens


def test_min_freq_and_max_size():
    assert Vocab.build(TOKENS, min_freq=2).tokens == ["<pad>", "<unk>", "好", "酒店"]
    assert Vocab.build(TOKENS, max_size=3).tokens == ["<pad>", "<unk>", "好"]  # max_size counts the specials


def test_unknown_tokens_map_to_unk_and_decode_skips_padding():
    vocab = Vocab.build(TOKENS)
    assert vocab.encode(["好", "从没见过", "差"]) == [2, UNK_ID, 5]
    assert vocab.decode([2, 3, 0, 0]) == ["好", "酒店"]


def test_save_load_round_trip_is_plain_json(tmp_path):
    vocab = Vocab.build(TOKENS, min_freq=1, max_size=100)
    path = vocab.save(tmp_path / "vocab.json")
    raw = path.read_text(encoding="utf-8")
    assert json.loads(raw)["tokens"][:3] == ["<pad>", "<unk>", "好"] and "酒店" in raw  # readable, not escaped
    again = Vocab.load(path)
    assert again == vocab and again.min_freq == 1 and again.max_size == 100
    assert again.encode(["酒店", "差", "?"]) == vocab.encode(["酒店", "差", "?"])


@pytest.mark.parametrize(("state", "message"), [
    ({"tokens": ["好", "<pad>", "<unk>"]}, "starts with '<pad>', '<unk>'"),
    ({"tokens": ["<pad>", "<unk>", "好", "好"]}, "'好' appears 2 times"),
    ({"words": []}, "expected {'tokens'"),
])
def test_bad_states_are_refused(state, message):
    with pytest.raises(BadInputError, match=message):
        Vocab.from_dict(state)


def test_build_arguments_are_checked():
    with pytest.raises(BadInputError, match="min_freq >= 1 and max_size >= 3"):
        Vocab.build(TOKENS, min_freq=0)
