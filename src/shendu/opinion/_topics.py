"""Topic grouping of a stream of posts: single-pass (leader) clustering on TF-IDF vectors.

Why this and not k-means: a monitor sees an unbounded stream in which topics appear and fade, and
must give each post a topic the moment it is analysed, with ids that stay stable across batches and
restarts. Single-pass clustering — the classic Topic Detection and Tracking approach — does exactly that
and needs no k: a post joins the most similar live topic when the cosine similarity of its TF-IDF
vector (jieba words, jieba IDF, see `_text.py`) with the topic's centroid reaches `threshold`;
otherwise it starts a new topic. MiniBatchKMeans would need k fixed in advance, and its cluster
indices drift as centroids move, so "the same topic" could not be followed over a day.

Batched for speed: one sparse product compares a batch with all live topics; the posts that matched
nothing are grouped among themselves by the same rule (each unassigned post in order leads the
unassigned posts close enough to it). Within a batch posts are compared with the topics as they were
at the batch's start.

Memory stays flat over any stream: a centroid keeps only its `max_terms` heaviest terms, and at most
`max_active` topics stay live (those seen within `horizon` of the newest post, most recent first);
the rest remain in the database for reports. Topic labels are the three heaviest centroid terms.
"""
from __future__ import annotations

import math
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np

from shendu.opinion._store import TopicState


@dataclass
class _Topic:
    id: str
    terms: dict[str, float]  # sum of member vectors (each L2-normalized), cut to the heaviest terms
    size: int
    first_seen: datetime
    last_seen: datetime

    def state(self) -> TopicState:
        return TopicState(self.id, label_of(self.terms), dict(self.terms), self.size, self.first_seen, self.last_seen)


def label_of(terms: dict[str, float], n: int = 3) -> str:
    """A topic's label: its `n` heaviest terms joined by " / "."""
    return " / ".join(sorted(terms, key=terms.__getitem__, reverse=True)[:n])


def normalized(vector: dict[str, float]) -> dict[str, float]:
    """The vector scaled to unit L2 norm (empty stays empty)."""
    norm = math.sqrt(sum(v * v for v in vector.values()))
    return {term: v / norm for term, v in vector.items()} if norm > 0 else {}


class TopicTracker:
    """Assigns posts to topics as they stream by (see the module docstring).

    Args:
        threshold: cosine similarity a post needs with a topic's centroid (or a new topic's first post).
        max_terms: terms kept per centroid.
        max_active: live topics kept in memory.
        horizon: a topic not seen for this long (in post time) stops being live.
    """

    def __init__(self, threshold: float = 0.25, max_terms: int = 30, max_active: int = 1000,
                 horizon: timedelta = timedelta(days=2)) -> None:
        if not 0 < threshold <= 1:
            raise ValueError(f"topic threshold {threshold} is not a cosine similarity in (0, 1]")
        self.threshold, self.max_terms, self.max_active, self.horizon = threshold, max_terms, max_active, horizon
        self.active: dict[str, _Topic] = {}

    def restore(self, states: Iterable[TopicState]) -> None:
        """Make saved topics live again (after a restart)."""
        for s in states:
            self.active[s.id] = _Topic(s.id, dict(s.terms), s.size, s.first_seen, s.last_seen)
        self._evict()

    def assign(self, vectors: Sequence[dict[str, float]], times: Sequence[datetime]
               ) -> tuple[list[str | None], list[TopicState]]:
        """Topic ids of a batch (None for a post without terms) and the topics this batch created or changed."""
        rows = [i for i, v in enumerate(vectors) if v]
        ids: list[str | None] = [None] * len(vectors)
        if not rows:
            return ids, []
        unit = [normalized(vectors[i]) for i in rows]
        topics = list(self.active.values())
        groups = self._match(unit, topics)
        changed: dict[str, _Topic] = {}
        for group, members in groups.items():
            topic = topics[group] if group < len(topics) else self._new_topic(times[rows[members[0]]])
            for member in members:
                ids[rows[member]] = topic.id
            self._absorb(topic, [unit[m] for m in members], [times[rows[m]] for m in members])
            changed[topic.id] = topic
        self._evict()
        return ids, [topic.state() for topic in changed.values()]

    def _match(self, unit: list[dict[str, float]], topics: list[_Topic]) -> dict[int, list[int]]:
        """group index → member rows; groups ≥ len(topics) are new topics, numbered in order of their leaders."""
        vocabulary: dict[str, int] = {}
        x = _matrix(unit, vocabulary)
        groups: dict[int, list[int]] = {}
        unmatched = np.arange(len(unit))
        if topics:
            c = _matrix([normalized(t.terms) for t in topics], vocabulary)
            width = len(vocabulary)
            x.resize((x.shape[0], width))
            c.resize((c.shape[0], width))
            similarity = (x @ c.T).toarray()  # (posts, topics)
            best = similarity.argmax(axis=1)
            matched = similarity[np.arange(len(unit)), best] >= self.threshold
            for row in np.flatnonzero(matched):
                groups.setdefault(int(best[row]), []).append(int(row))
            unmatched = np.flatnonzero(~matched)
        if unmatched.size:
            x.resize((x.shape[0], len(vocabulary)))
            sub = x[unmatched]
            among = (sub @ sub.T).toarray()  # (unmatched, unmatched) cosine similarities
            leader_of = np.full(unmatched.size, -1)
            next_group = len(topics)
            for r in range(unmatched.size):
                if leader_of[r] >= 0:
                    continue
                follow = (leader_of < 0) & (among[r] >= self.threshold)
                follow[:r] = False
                follow[r] = True
                leader_of[follow] = next_group
                groups[next_group] = [int(unmatched[i]) for i in np.flatnonzero(follow)]
                next_group += 1
        return groups

    def _new_topic(self, time: datetime) -> _Topic:
        topic = _Topic(secrets.token_hex(6), {}, 0, time, time)
        self.active[topic.id] = topic
        return topic

    def _absorb(self, topic: _Topic, members: list[dict[str, float]], times: list[datetime]) -> None:
        terms = topic.terms
        for vector in members:
            for term, weight in vector.items():
                terms[term] = terms.get(term, 0.0) + weight
        if len(terms) > self.max_terms:
            keep = sorted(terms, key=terms.__getitem__, reverse=True)[:self.max_terms]
            topic.terms = {term: terms[term] for term in keep}
        topic.size += len(members)
        topic.first_seen = min(topic.first_seen, *times)
        topic.last_seen = max(topic.last_seen, *times)

    def _evict(self) -> None:
        """Drop topics beyond the horizon, then the least recently seen beyond `max_active`."""
        if not self.active:
            return
        newest = max(t.last_seen for t in self.active.values())
        live = [t for t in self.active.values() if t.last_seen >= newest - self.horizon]
        live.sort(key=lambda t: t.last_seen, reverse=True)
        self.active = {t.id: t for t in live[:self.max_active]}


def _matrix(vectors: Sequence[dict[str, float]], vocabulary: dict[str, int]):
    """CSR rows of the vectors over `vocabulary` (new terms are added to it)."""
    from scipy.sparse import csr_matrix

    indptr, indices, data = [0], [], []
    for vector in vectors:
        for term, weight in vector.items():
            indices.append(vocabulary.setdefault(term, len(vocabulary)))
            data.append(weight)
        indptr.append(len(indices))
    return csr_matrix((np.asarray(data, dtype=np.float64), np.asarray(indices, dtype=np.int64),
                       np.asarray(indptr, dtype=np.int64)), shape=(len(vectors), max(len(vocabulary), 1)))
