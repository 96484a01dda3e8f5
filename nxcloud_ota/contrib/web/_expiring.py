"""Values that expire, for the in-memory stores of one process."""

from __future__ import annotations

from collections.abc import Callable
from typing import Generic, TypeVar

__all__ = ["ExpiringMap"]

V = TypeVar("V")

_FIRST_SWEEP = 1024


class ExpiringMap(Generic[V]):
    """A dict whose entries vanish ``ttl`` seconds after they were put.

    An expired entry is dropped when it is read; the rest are swept whenever the
    map has doubled since the last sweep, so memory follows the live entries,
    whatever an attacker makes the application put.
    """

    def __init__(self, clock: Callable[[], float]) -> None:
        self._clock = clock
        self._items: dict[str, tuple[float, V]] = {}
        self._sweep_at = _FIRST_SWEEP

    def __len__(self) -> int:
        return len(self._items)

    def get(self, key: str) -> V | None:
        """The live value of ``key``, or ``None``."""
        item = self._items.get(key)
        if item is None:
            return None
        if item[0] <= self._clock():
            del self._items[key]
            return None
        return item[1]

    def put(self, key: str, value: V, ttl: float) -> None:
        """Keep ``value`` under ``key`` for ``ttl`` seconds."""
        self._items[key] = (self._clock() + ttl, value)
        if len(self._items) >= self._sweep_at:
            now = self._clock()
            self._items = {k: item for k, item in self._items.items() if item[0] > now}
            self._sweep_at = max(_FIRST_SWEEP, 2 * len(self._items))

    def pop(self, key: str) -> None:
        """Forget ``key``."""
        self._items.pop(key, None)
