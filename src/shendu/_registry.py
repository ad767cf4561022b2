"""One generic registry for models, datasets, optimizers, schedulers and callbacks.

A registry maps a lowercase_snake name to an object plus free-form metadata (family, paper, …).
Registering a name twice is an error; asking for an unknown name lists the nearest matches.
"""
from __future__ import annotations

import difflib
import re
from typing import Any, Callable, Generic, Iterator, TypeVar

from shendu.errors import RegistryError, UnknownNameError

T = TypeVar("T")
_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


def nearest(name: str, candidates: list[str], n: int = 3) -> list[str]:
    """The closest matches of `name` among `candidates` (for "did you mean" hints)."""
    return difflib.get_close_matches(name, candidates, n=n, cutoff=0.5)


class Registry(Generic[T]):
    """A named collection of builders.

    Args:
        kind: what the entries are ("model", "dataset", …); used in error messages.
    """

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._items: dict[str, T] = {}
        self._meta: dict[str, dict[str, Any]] = {}

    def register(self, name: str, **meta: Any) -> Callable[[T], T]:
        """Decorator form of `add`: `@MODELS.register("lenet5", family="lenet")`."""

        def decorator(obj: T) -> T:
            self.add(name, obj, **meta)
            return obj

        return decorator

    def add(self, name: str, obj: T, **meta: Any) -> None:
        """Register `obj` under `name`; a name already taken is an error."""
        if not _NAME.match(name):
            raise RegistryError(f"{self.kind} name {name!r} is not lowercase_snake (expected e.g. 'resnet50')")
        if name in self._items:
            raise RegistryError(
                f"{self.kind} {name!r} is already registered (by {_describe(self._items[name])}); "
                "pick another name or remove the other registration"
            )
        self._items[name] = obj
        self._meta[name] = dict(meta)

    def get(self, name: str) -> T:
        """The entry called `name`; unknown names raise `UnknownNameError` with suggestions."""
        try:
            return self._items[name]
        except KeyError:
            raise UnknownNameError(self.kind, name, self.names()) from None

    def meta(self, name: str) -> dict[str, Any]:
        """Metadata given at registration time (a copy)."""
        self.get(name)
        return dict(self._meta[name])

    def names(self) -> list[str]:
        return sorted(self._items)

    def __contains__(self, name: object) -> bool:
        return name in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        return len(self._items)

    def __repr__(self) -> str:
        return f"Registry({self.kind!r}, {len(self)} entries)"


def _describe(obj: Any) -> str:
    module = getattr(obj, "__module__", "?")
    return f"{module}.{getattr(obj, '__qualname__', type(obj).__name__)}"
