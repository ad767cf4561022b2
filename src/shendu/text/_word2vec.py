"""Word vectors trained with gensim's word2vec on the training texts, copied into a model's embedding.

Kim (2014) compares random vectors (CNN-rand), fixed pretrained vectors (CNN-static: `freeze_embedding`)
and pretrained vectors that keep training (CNN-non-static). Here the vectors come from the training split
itself — no download — with the same tokens the classifier sees. Words of the vocabulary that word2vec
dropped (below its `min_count`) keep the model's random initialization; `<pad>` stays zero.

gensim is an optional dependency (`pip install 'shendu[text]'`); it is imported only when vectors are asked for.
Training is deterministic: one worker thread, a seed, and a hash of words that does not change between
processes (gensim's default, Python's `hash`, is salted per process).
"""
from __future__ import annotations

import zlib
from typing import Any, Sequence

import numpy as np
import torch
from torch import nn

from shendu.errors import BadInputError
from shendu.text._vocab import PAD_ID, Vocab


def _stable_hash(text: str) -> int:
    return zlib.crc32(text.encode("utf-8"))


def _gensim() -> Any:
    try:
        from gensim.models import Word2Vec
    except ImportError:
        raise BadInputError("word2vec vectors need gensim, which is not installed: pip install 'shendu[text]' "
                            "(or set data.text.word2vec.enabled: false)") from None
    return Word2Vec


def train_word2vec(token_lists: Sequence[Sequence[str]], vocab: Vocab, dim: int, *, window: int = 5, min_count: int = 1,
                   epochs: int = 5, skip_gram: bool = False, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Train word2vec on `token_lists` and return (vectors (V, dim) float32 in vocabulary order, found (V,) bool).

    Args:
        token_lists: the tokenized training texts.
        vocab: rows of the result follow its ids.
        dim: vector size (the model's embedding width).
        window: context words on each side.
        min_count: fewest occurrences for word2vec to learn a vector.
        epochs: passes over the texts.
        skip_gram: skip-gram instead of CBOW (Mikolov et al. 2013 describe both).
        seed: seed of the initialization and sampling.
    """
    word2vec = _gensim()
    sentences = [list(tokens) for tokens in token_lists if tokens]
    if not sentences:
        raise BadInputError("word2vec: the training texts produced no tokens")
    model = word2vec(sentences=sentences, vector_size=dim, window=window, min_count=min_count, sg=int(skip_gram),
                     epochs=epochs, seed=seed, workers=1, hashfxn=_stable_hash)
    vectors = np.zeros((len(vocab), dim), dtype=np.float32)
    found = np.zeros(len(vocab), dtype=bool)
    for i, token in enumerate(vocab.tokens):
        if i > 1 and token in model.wv.key_to_index:
            vectors[i] = model.wv[token]
            found[i] = True
    return vectors, found


@torch.no_grad()
def load_vectors(embedding: nn.Embedding, vectors: np.ndarray, found: np.ndarray) -> int:
    """Copy the found rows of `vectors` into `embedding.weight` (the rest keep their values); returns how many.
    Whether they keep training is the embedding's `requires_grad` (the model's `freeze_embedding`)."""
    if tuple(embedding.weight.shape) != vectors.shape:
        raise BadInputError(f"word2vec vectors are {vectors.shape} but the model's embedding is "
                            f"{tuple(embedding.weight.shape)}; set data.text.word2vec.dim to the model's embed_dim")
    rows = torch.from_numpy(np.flatnonzero(found))
    embedding.weight[rows] = torch.from_numpy(vectors[found]).to(embedding.weight)
    embedding.weight[PAD_ID].zero_()
    return int(found.sum())
