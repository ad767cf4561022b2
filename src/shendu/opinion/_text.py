"""Chinese text for the monitor: jieba segmentation (once per post) and TF-IDF keyword weights.

Every post is segmented once — lowercased, in jieba's default precise mode with HMM for unknown words —
and the words feed the keywords, the topic vectors and the sentiment scorer (the baseline's features,
or a jieba-based text package's tokens: shendu's text pipeline also lowercases before jieba).

Keyword weights are exactly jieba.analyse's TF-IDF (`extract_tags`): term frequency in the post times
jieba's IDF table (the median IDF for unknown words), over words of at least two characters that are
not stop words — computed from the words we already have instead of segmenting again. Two deliberate
additions, both as stop words: common Chinese function words (`STOPWORDS_ZH`: 我们, 一个, 没有, …) that
otherwise top every list, and tokens without a letter or a Han character (numbers, "...", "!!").
`tests/opinion/test_text.py` checks the result against `jieba.analyse.TFIDF.extract_tags` itself.
"""
from __future__ import annotations

import logging
import os
import weakref
from collections.abc import Sequence
from concurrent.futures import Executor

from shendu import _settings

STOPWORDS_ZH = frozenset("""
一个 一些 一下 一点 一直 一样 一般 一起 不是 不过 不会 不能 之后 之前 也是 也不 了解 什么 他们 以后 以前 但是
你们 其实 其他 再次 出来 只是 只有 可以 可能 各种 同时 因为 因此 大家 她们 如果 如此 实在 就是 已经 并且
我们 或者 所以 所有 然后 然而 现在 甚至 由于 的话 的确 目前 直接 真的 知道 确实 而且 而是 自己 虽然 觉得
还是 还有 这个 这些 这样 这里 这么 这种 那么 那个 那些 那样 那里 里面 非常 感觉 比较 有点 特别 东西 时候
怎么 为什么 没有 不要 还要 应该 需要 一定 一次 有些 这次 每次 第一 时间 问题 地方 这是 就是说 总之 总的来说
""".split())


def jieba():
    """The jieba module, configured once: its cache under SHENDU_HOME (its default /tmp file is 0600 and
    breaks for other users) and its chatter at WARNING."""
    import jieba as module

    if not getattr(module, "_shendu_ready", False):
        module.setLogLevel(logging.WARNING)
        cache = _settings.subdir("cache") / "jieba"
        cache.mkdir(parents=True, exist_ok=True)
        module.dt.tmp_dir = str(cache)
        module._shendu_ready = True
    return module


def tokenize(texts: Sequence[str]) -> list[list[str]]:
    """jieba words of each text (precise mode, HMM on)."""
    cut = jieba().lcut
    return [cut(text) for text in texts]


OWN_SHARE = 0.6  # this process segments 60% of an equal share: ~30% of a batch with one worker


class Segmenter:
    """`tokenize` spread over processes: jieba is pure Python, so one process segments ~2,000 posts/s at
    most, and segmentation is ~3/4 of the analysis cost. With `workers` > 0 the workers (spawned
    processes, each with its own jieba) segment most of a batch while this process segments a smaller
    share (`OWN_SHARE` of an equal one: it also has the scoring, keywords, topics and database to do), so
    with `workers=1` two cores are busy and finish about together. The result equals `tokenize` (tested).

    Args:
        workers: extra processes; 0 segments in this process only; None picks cores − 1.
    """

    def __init__(self, workers: int | None = 0) -> None:
        self.workers = max((os.cpu_count() or 1) - 1, 0) if workers is None else workers
        if self.workers < 0:
            raise ValueError(f"workers must be ≥ 0 (or None for cores − 1), received {workers}")
        self._pool: Executor | None = None

    def __call__(self, texts: Sequence[str]) -> list[list[str]]:
        if self.workers == 0 or len(texts) < 64 * (self.workers + 1):
            return tokenize(texts)
        pool = self._start()
        own = int(len(texts) * OWN_SHARE / (self.workers + 1))
        size = -(-(len(texts) - own) // self.workers)
        futures = [pool.submit(tokenize, list(texts[i:i + size])) for i in range(own, len(texts), size)]
        words = tokenize(texts[:own])
        for future in futures:
            words.extend(future.result())
        return words

    def _start(self) -> Executor:
        if self._pool is None:
            import multiprocessing
            from concurrent.futures import ProcessPoolExecutor

            # spawn, not fork: the parent may hold threads (torch, the server) and database connections
            self._pool = ProcessPoolExecutor(self.workers, mp_context=multiprocessing.get_context("spawn"),
                                             initializer=jieba)
            weakref.finalize(self, self._pool.shutdown, wait=False, cancel_futures=True)
        return self._pool

    def close(self) -> None:
        """Stop the worker processes (they restart on the next call)."""
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None


def is_term(word: str, stop_words: frozenset[str]) -> bool:
    """Whether a word can be a keyword: ≥ 2 characters, not a stop word, at least one letter or Han character."""
    stripped = word.strip()
    return len(stripped) >= 2 and word.lower() not in stop_words and any(ch.isalpha() for ch in stripped)


class Keywords:
    """TF-IDF weights of a post's words with jieba's IDF table (see the module docstring)."""

    def __init__(self, extra_stop_words: frozenset[str] = STOPWORDS_ZH) -> None:
        jieba()
        from jieba.analyse import default_tfidf

        self.idf: dict[str, float] = default_tfidf.idf_freq
        self.median_idf: float = default_tfidf.median_idf
        self.stop_words = frozenset(default_tfidf.STOP_WORDS) | extra_stop_words

    def weights(self, words: Sequence[str]) -> dict[str, float]:
        """term → tf × idf, in the order terms first appear (ties keep that order, as in jieba)."""
        freq: dict[str, float] = {}
        stop = self.stop_words
        for word in words:
            if word in freq:
                freq[word] += 1.0
            elif is_term(word, stop):
                freq[word] = 1.0
        total = sum(freq.values())
        idf, median = self.idf, self.median_idf
        return {word: count * idf.get(word, median) / total for word, count in freq.items()}

    @staticmethod
    def top(weights: dict[str, float], k: int) -> list[str]:
        """The `k` heaviest terms, heaviest first."""
        return sorted(weights, key=weights.__getitem__, reverse=True)[:k]
