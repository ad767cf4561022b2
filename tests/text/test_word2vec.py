"""word2vec vectors: deterministic, in vocabulary order, copied into an embedding; a clear error without gensim."""
from __future__ import annotations

import sys

import numpy as np
import pytest
import torch
from torch import nn

from shendu.errors import BadInputError
from shendu.text import Vocab, load_vectors, train_word2vec

TOKENS = [["酒店", "很", "好"], ["房间", "很", "差"], ["酒店", "房间", "都", "好"]] * 20


def test_vectors_are_deterministic_and_follow_the_vocabulary():
    vocab = Vocab.build(TOKENS + [["罕见"]], min_freq=1)
    first, found = train_word2vec(TOKENS, vocab, 16, epochs=3, seed=1)
    second, _ = train_word2vec(TOKENS, vocab, 16, epochs=3, seed=1)
    np.testing.assert_array_equal(first, second)
    assert first.shape == (len(vocab), 16) and first.dtype == np.float32
    assert not found[0] and not found[1]  # <pad>, <unk>
    assert not found[vocab.index["罕见"]] and found[vocab.index["酒店"]]  # word2vec never saw 罕见
    assert not np.any(first[~found])


def test_load_vectors_copies_found_rows_and_keeps_padding_zero():
    vocab = Vocab.build(TOKENS)
    vectors, found = train_word2vec(TOKENS, vocab, 8, epochs=2)
    embedding = nn.Embedding(len(vocab), 8, padding_idx=0)
    before = embedding.weight.detach().clone()
    assert load_vectors(embedding, vectors, found) == int(found.sum())
    weight = embedding.weight.detach()
    torch.testing.assert_close(weight[torch.from_numpy(found)], torch.from_numpy(vectors[found]), atol=0, rtol=0)
    torch.testing.assert_close(weight[1], before[1], atol=0, rtol=0)  # <unk> keeps its random vector
    assert torch.all(weight[0] == 0)


def test_shape_mismatch_names_the_setting():
    vocab = Vocab.build(TOKENS)
    vectors, found = train_word2vec(TOKENS, vocab, 8, epochs=1)
    with pytest.raises(BadInputError, match="set data.text.word2vec.dim to the model's embed_dim"):
        load_vectors(nn.Embedding(len(vocab), 16), vectors, found)


def test_missing_gensim_says_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "gensim.models", None)  # `from gensim.models import …` now fails
    with pytest.raises(BadInputError, match=r"pip install 'shendu\[text\]'"):
        train_word2vec(TOKENS, Vocab.build(TOKENS), 8)
