"""Text preprocessing: tokenizers (jieba, char, whitespace, regex), the vocabulary, the pipeline a package
stores, word2vec vectors and the TF-IDF + logistic-regression baseline.

    >>> from shendu.text import TextPipeline
    >>> pipeline = TextPipeline.fit(["这家酒店很好", "房间太小了"], tokenizer="jieba")
    >>> pipeline.encode("酒店很好").shape
    torch.Size([1, 3])
"""
from shendu.text._baseline import tfidf_baseline
from shendu.text._pipeline import TextPipeline, resolve_tokenizer
from shendu.text._tokenizers import TOKENIZERS, Tokenizer, build_tokenizer
from shendu.text._vocab import PAD, PAD_ID, UNK, UNK_ID, Vocab
from shendu.text._word2vec import load_vectors, train_word2vec

__all__ = [
    "PAD",
    "PAD_ID",
    "TOKENIZERS",
    "UNK",
    "UNK_ID",
    "TextPipeline",
    "Tokenizer",
    "Vocab",
    "build_tokenizer",
    "load_vectors",
    "resolve_tokenizer",
    "tfidf_baseline",
    "train_word2vec",
]
