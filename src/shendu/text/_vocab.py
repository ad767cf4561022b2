"""The vocabulary: tokens ↔ integer ids, `<pad>` = 0 and `<unk>` = 1, fitted on the training split only.

Order is by frequency (most frequent first), ties broken by the token itself, so the same training
texts give the same ids whatever their order and on every machine. Saved as JSON, never pickled.
"""
from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any, Iterable, Sequence

from shendu.errors import BadInputError

PAD, UNK = "<pad>", "<unk>"
PAD_ID, UNK_ID = 0, 1


class Vocab:
    """An ordered list of tokens; a token's id is its position.

    Args:
        tokens: the whole table, starting with "<pad>", "<unk>".
        min_freq, max_size: how it was built (recorded for the package; not re-applied).
    """

    def __init__(self, tokens: Sequence[str], min_freq: int = 1, max_size: int | None = None) -> None:
        tokens = list(tokens)
        if tokens[:2] != [PAD, UNK]:
            raise BadInputError(f"a vocabulary starts with {PAD!r}, {UNK!r} (ids 0 and 1), received {tokens[:2]}")
        twice = [token for token, count in Counter(tokens).items() if count > 1]
        if twice:
            raise BadInputError(f"a vocabulary lists each token once; {twice[0]!r} appears {tokens.count(twice[0])} "
                                "times")
        self.tokens, self.min_freq, self.max_size = tokens, min_freq, max_size
        self.index = {token: i for i, token in enumerate(tokens)}

    @classmethod
    def build(cls, token_lists: Iterable[Sequence[str]], min_freq: int = 1, max_size: int | None = None) -> "Vocab":
        """Count tokens and keep those seen at least `min_freq` times, at most `max_size` entries in all
        (the two special tokens included)."""
        if min_freq < 1 or (max_size is not None and max_size < 3):
            raise BadInputError(f"vocabulary: expected min_freq >= 1 and max_size >= 3 (or none), received "
                                f"min_freq={min_freq}, max_size={max_size}")
        counts = Counter(token for tokens in token_lists for token in tokens)
        counts.pop(PAD, None), counts.pop(UNK, None)  # literal "<pad>" in a text is just an unknown word
        kept = sorted((t for t, c in counts.items() if c >= min_freq), key=lambda t: (-counts[t], t))
        if max_size is not None:
            kept = kept[:max_size - 2]
        return cls([PAD, UNK, *kept], min_freq, max_size)

    def __len__(self) -> int:
        return len(self.tokens)

    def __contains__(self, token: object) -> bool:
        return token in self.index

    def encode(self, tokens: Sequence[str]) -> list[int]:
        """Ids of `tokens`; unknown tokens become `<unk>` (1)."""
        get = self.index.get
        return [get(token, UNK_ID) for token in tokens]

    def decode(self, ids: Iterable[int]) -> list[str]:
        """Tokens of `ids`, padding skipped."""
        return [self.tokens[i] for i in ids if i != PAD_ID]

    def to_dict(self) -> dict[str, Any]:
        return {"tokens": self.tokens, "min_freq": self.min_freq, "max_size": self.max_size}

    @classmethod
    def from_dict(cls, state: dict[str, Any]) -> "Vocab":
        try:
            return cls(state["tokens"], state.get("min_freq", 1), state.get("max_size"))
        except (KeyError, TypeError):
            raise BadInputError("vocabulary state: expected {'tokens': ['<pad>', '<unk>', ...], ...}, received "
                                f"keys {sorted(state) if isinstance(state, dict) else type(state).__name__}") from None

    def save(self, path: str | Path) -> Path:
        """Write the vocabulary as JSON (UTF-8, readable: Chinese tokens are not escaped)."""
        path = Path(path)
        path.write_text(json.dumps(self.to_dict(), ensure_ascii=False), encoding="utf-8")
        return path

    @classmethod
    def load(cls, path: str | Path) -> "Vocab":
        return cls.from_dict(json.loads(Path(path).read_text(encoding="utf-8")))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Vocab) and self.tokens == other.tokens

    def __repr__(self) -> str:
        return f"Vocab({len(self):,} tokens, min_freq={self.min_freq}, max_size={self.max_size})"
