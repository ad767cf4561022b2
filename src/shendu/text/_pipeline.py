"""The text pipeline a package carries: lowercase → tokenize → vocabulary ids → truncate / pad to (N, L).

    pipeline = TextPipeline.fit(train.texts, tokenizer="jieba", max_len=200)   # vocabulary from train only
    ids = pipeline.encode(["这家酒店很好", "房间太小了"])                         # int64 (2, L), 0 = padding

`to_dict()` is plain JSON (tokenizer name and options, lowercasing, max_len, the vocabulary); a package
stores it as its "preprocessing", so `Predictor.predict(["…"])` tokenizes exactly as training did.
"""
from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np
import torch

from shendu.errors import BadInputError
from shendu.text._tokenizers import Tokenizer, build_tokenizer, tokenizer_from_dict
from shendu.text._vocab import PAD, PAD_ID, UNK, UNK_ID, Vocab

KIND = "text"
AUTO = "auto"
CJK_SHARE = 0.3  # "auto" picks jieba when at least this share of the letters are CJK ideographs


def resolve_tokenizer(name: str, language: str | None, texts: Sequence[str] = ()) -> str:
    """"auto" → "jieba" for Chinese, "regex" otherwise; the language comes from the dataset, or for your own
    files from the texts themselves (the share of CJK ideographs among the first 2,000 texts' letters)."""
    if name != AUTO:
        return name
    if language is None:
        sample = "".join(texts[:2000])
        letters = [c for c in sample if c.isalpha()]
        cjk = sum(1 for c in letters if unicodedata.name(c, "").startswith("CJK UNIFIED"))
        language = "zh" if letters and cjk / len(letters) >= CJK_SHARE else "en"
    return "jieba" if language == "zh" else "regex"


@dataclass
class TextPipeline:
    """Texts → token ids, exactly reproducible from `to_dict()`.

    Attributes:
        tokenizer: the tokenizer (see `shendu.text.TOKENIZERS`).
        vocab: the vocabulary, `<pad>` = 0, `<unk>` = 1.
        lowercase: lowercase before tokenizing.
        max_len: longest sequence kept; longer texts are truncated (their first `max_len` tokens).
    """

    tokenizer: Tokenizer
    vocab: Vocab
    lowercase: bool = True
    max_len: int = 256

    @classmethod
    def fit(cls, texts: Sequence[str], *, tokenizer: str = AUTO, language: str | None = None, lowercase: bool = True,
            min_freq: int = 1, max_size: int | None = None, max_len: int = 256, **options: Any) -> "TextPipeline":
        """Build the tokenizer and fit the vocabulary on `texts` (give it the training split only).

        Args:
            texts: training texts.
            tokenizer: "jieba", "char", "whitespace", "regex" or "auto" (by `language`, see `resolve_tokenizer`).
            language: the dataset's language ("zh", "en"), for "auto".
            lowercase: lowercase before tokenizing.
            min_freq: fewest occurrences in `texts` for a token to get its own id.
            max_size: most vocabulary entries, `<pad>` and `<unk>` included (None: no limit).
            max_len: longest sequence; longer texts keep their first `max_len` tokens.
            **options: tokenizer options (`pattern` for regex; `user_words`, `del_words`, `hmm` for jieba).
        """
        pipeline = cls.unfitted(resolve_tokenizer(tokenizer, language, texts), lowercase=lowercase, max_len=max_len,
                                **options)
        return pipeline.fit_vocab(pipeline.tokenize_all(texts), min_freq, max_size)

    @classmethod
    def unfitted(cls, tokenizer: str, *, lowercase: bool = True, max_len: int = 256,
                 **options: Any) -> "TextPipeline":
        """A pipeline whose vocabulary is still empty (only `<pad>`, `<unk>`): tokenize with it, then `fit_vocab`."""
        if isinstance(max_len, bool) or not isinstance(max_len, int) or max_len < 1:
            raise BadInputError(f"max_len: expected a positive number of tokens, received {max_len!r}")
        return cls(build_tokenizer(tokenizer, **options), Vocab([PAD, UNK]), lowercase, max_len)

    def fit_vocab(self, token_lists: Sequence[Sequence[str]], min_freq: int = 1,
                  max_size: int | None = None) -> "TextPipeline":
        """Fit the vocabulary on tokenized training texts (see `Vocab.build`); returns self."""
        self.vocab = Vocab.build(token_lists, min_freq, max_size)
        return self

    def tokenize(self, text: str) -> list[str]:
        """The tokens of one text (lowercased first when `lowercase`), before truncation."""
        if not isinstance(text, str):
            raise BadInputError(f"expected a text (str), received {type(text).__name__} {text!r:.40}")
        return self.tokenizer(text.lower() if self.lowercase else text)

    def tokenize_all(self, texts: Sequence[str]) -> list[list[str]]:
        return [self.tokenize(text) for text in texts]

    def encode(self, texts: Sequence[str] | str) -> torch.Tensor:
        """int64 (N, L) ids, L = the longest text's token count capped at `max_len` (at least 1); trailing
        padding 0. A single string gives (1, L)."""
        return self.encode_tokens(self.tokenize_all([texts] if isinstance(texts, str) else list(texts)))

    def encode_tokens(self, token_lists: Sequence[Sequence[str]]) -> torch.Tensor:
        """`encode` for texts already tokenized with `tokenize` (the trainer tokenizes each split once)."""
        rows = [self.vocab.encode(tokens[:self.max_len]) for tokens in token_lists]
        width = max([len(r) for r in rows] + [1])
        out = np.full((len(rows), width), PAD_ID, dtype=np.int64)
        for i, row in enumerate(rows):
            out[i, :len(row)] = row
        return torch.from_numpy(out)

    def coverage(self, token_lists: Sequence[Sequence[str]]) -> dict[str, float]:
        """Shares a reader of the results should know: unknown tokens, truncated texts, empty texts."""
        total = sum(len(t) for t in token_lists) or 1
        unknown = sum(1 for tokens in token_lists for t in tokens if t not in self.vocab.index)
        n = len(token_lists) or 1
        return {"unknown_tokens": unknown / total,
                "truncated_texts": sum(1 for t in token_lists if len(t) > self.max_len) / n,
                "empty_texts": sum(1 for t in token_lists if not t) / n}

    @property
    def vocab_size(self) -> int:
        return len(self.vocab)

    def to_dict(self) -> dict[str, Any]:
        return {"kind": KIND, "tokenizer": self.tokenizer.to_dict(), "lowercase": self.lowercase,
                "max_len": self.max_len, "pad_id": PAD_ID, "unk_id": UNK_ID, "vocab": self.vocab.to_dict()}

    @classmethod
    def from_dict(cls, state: dict[str, Any]) -> "TextPipeline":
        if state.get("kind") != KIND:
            raise BadInputError(f"not a text pipeline: expected kind {KIND!r}, received {state.get('kind')!r}")
        return cls(tokenizer_from_dict(state["tokenizer"]), Vocab.from_dict(state["vocab"]),
                   bool(state.get("lowercase", True)), int(state["max_len"]))

    def __repr__(self) -> str:
        return (f"TextPipeline({self.tokenizer.name}, lowercase={self.lowercase}, max_len={self.max_len}, "
                f"{len(self.vocab):,} tokens)")
