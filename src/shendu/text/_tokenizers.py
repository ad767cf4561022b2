"""Tokenizers, chosen by name in the config (`data.text.tokenizer`) and stored in the package as JSON.

- `jieba`: Chinese words (jieba's accurate mode, HMM for unknown words). shendu keeps jieba's own
  dictionary unchanged, so "今天天气很好。" gives 今天天气 / 很 / 好 / 。 as it does for every jieba user;
  the course's 今天 / 天气 / 很好 is one setting away (`user_words: [很好]`, `del_words: [今天天气]`), and
  those words are saved in the package so prediction segments exactly as training did.
- `char`: every non-space character (Chinese without segmentation; robust to segmentation errors).
- `whitespace`: `str.split()` (pre-tokenized English such as MR and SST-2).
- `regex`: every match of a pattern, by default words (with apostrophes) and single punctuation marks.

Whitespace is never a token. Lowercasing happens before tokenizing, in `TextPipeline`.
"""
from __future__ import annotations

import functools
import logging
import re
from typing import Any, Callable, Protocol, Sequence

from shendu import _settings
from shendu._registry import Registry
from shendu.errors import BadInputError

DEFAULT_PATTERN = r"[\w']+|[^\w\s]"


class Tokenizer(Protocol):
    """A callable text → tokens whose `to_dict()` rebuilds it through `build_tokenizer(**state)`."""

    name: str

    def __call__(self, text: str) -> list[str]: ...

    def to_dict(self) -> dict[str, Any]: ...


TOKENIZERS: Registry[Callable[..., Tokenizer]] = Registry("tokenizer")


def build_tokenizer(name: str, **options: Any) -> Tokenizer:
    """The tokenizer `name` ("jieba", "char", "whitespace", "regex") with its options.

    Raises:
        UnknownNameError: no such tokenizer (the valid names are listed).
        BadInputError: an option the tokenizer does not take, or a bad value.
    """
    builder = TOKENIZERS.get(name)
    accepted = TOKENIZERS.meta(name).get("options", ())
    unknown = [key for key, value in options.items() if key not in accepted and value not in (None, [], ())]
    if unknown:
        valid = ", ".join(accepted) or "none"
        raise BadInputError(f"tokenizer {name!r} takes no option {unknown[0]!r} (its options: {valid})")
    return builder(**{k: v for k, v in options.items() if k in accepted})


class Whitespace:
    """Tokens separated by whitespace."""

    name = "whitespace"

    def __call__(self, text: str) -> list[str]:
        return text.split()

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name}


class Chars:
    """One token per character, whitespace skipped."""

    name = "char"

    def __call__(self, text: str) -> list[str]:
        return [c for c in text if not c.isspace()]

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name}


class Regex:
    """Every non-overlapping match of `pattern` (Python `re`), in order."""

    name = "regex"

    def __init__(self, pattern: str | None = None) -> None:
        self.pattern = pattern or DEFAULT_PATTERN
        try:
            self._compiled = re.compile(self.pattern)
        except re.error as exc:
            raise BadInputError(f"regex tokenizer: {self.pattern!r} is not a valid regular expression "
                                f"({exc})") from None
        if self._compiled.groups:
            raise BadInputError(f"regex tokenizer: {self.pattern!r} has capturing groups; write (?:...) instead so "
                                "each match is one whole token")

    def __call__(self, text: str) -> list[str]:
        return [t for t in self._compiled.findall(text) if t.strip()]

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "pattern": self.pattern}


class Jieba:
    """Chinese word segmentation with jieba's accurate mode on a private `jieba.Tokenizer` (the global one is
    left alone), plus `user_words` ("word", "word freq" or "word freq tag", jieba's user-dictionary line format)
    and without `del_words`."""

    name = "jieba"

    def __init__(self, user_words: Sequence[str] = (), del_words: Sequence[str] = (), hmm: bool = True) -> None:
        self.user_words, self.del_words, self.hmm = list(user_words), list(del_words), bool(hmm)
        for entry in self.user_words:
            parts = entry.split()
            if not 1 <= len(parts) <= 3 or (len(parts) > 1 and not parts[1].isdigit()):
                raise BadInputError(f"jieba user_words entry {entry!r}: expected 'word', 'word freq' or "
                                    "'word freq tag' (freq a whole number)")
        self._segmenter = _jieba(tuple(self.user_words), tuple(self.del_words))

    def __call__(self, text: str) -> list[str]:
        return [w for w in self._segmenter.lcut(text, HMM=self.hmm) if not w.isspace()]

    def to_dict(self) -> dict[str, Any]:
        import jieba

        return {"name": self.name, "user_words": self.user_words, "del_words": self.del_words, "hmm": self.hmm,
                "jieba_version": jieba.__version__}


@functools.lru_cache(maxsize=8)
def _jieba(user_words: tuple[str, ...], del_words: tuple[str, ...]) -> Any:
    """A jieba segmenter with these adjustments; its dictionary cache lives under SHENDU_HOME (jieba's default,
    a 0600 file in /tmp, breaks for the next user of the machine). Loading takes ~0.7 s, once per process."""
    try:
        import jieba
    except ImportError:
        raise BadInputError("the jieba tokenizer needs the jieba package: pip install jieba") from None
    jieba.setLogLevel(logging.WARNING)
    segmenter = jieba.Tokenizer()
    cache = _settings.subdir("cache") / "jieba"
    cache.mkdir(parents=True, exist_ok=True)
    segmenter.tmp_dir = str(cache)
    for entry in user_words:
        word, *rest = entry.split()
        segmenter.add_word(word, int(rest[0]) if rest else None, rest[1] if len(rest) > 1 else None)
    for word in del_words:
        segmenter.del_word(word)
    return segmenter


TOKENIZERS.add("whitespace", Whitespace, options=())
TOKENIZERS.add("char", Chars, options=())
TOKENIZERS.add("regex", Regex, options=("pattern",))
TOKENIZERS.add("jieba", Jieba, options=("user_words", "del_words", "hmm"))


def tokenizer_from_dict(state: dict[str, Any]) -> Tokenizer:
    """Rebuild a tokenizer from its `to_dict()` (recorded versions are informational, not options)."""
    options = {k: v for k, v in state.items() if k != "name" and not k.endswith("_version")}
    return build_tokenizer(state["name"], **options)
