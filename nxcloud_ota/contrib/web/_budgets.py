"""Budgets: at most so many events per key in any window of so many seconds."""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Sequence
from typing import Protocol, runtime_checkable

import attrs
from attrs.validators import ge, gt

from ..._errors import NxCloudError
from ._expiring import ExpiringMap

__all__ = ["BudgetExceededError", "Budgets", "Limit", "MemoryBudgets", "window_wait"]


@attrs.frozen
class Limit:
    """At most ``count`` events in any window of ``period`` seconds.

    >>> Limit(5, 600)  # five per ten minutes
    Limit(count=5, period=600)

    Args:
        count: Events allowed in the window (>= 1).
        period: The window's length in seconds (> 0).
    """

    count: int = attrs.field(validator=ge(1))
    period: float = attrs.field(validator=gt(0))


class BudgetExceededError(NxCloudError):
    """A budget refused a request; nothing was sent to the provider.

    ``scope`` names the budget (``"address"``, ``"phone"`` or ``"verify"``) and
    ``retry_after`` the seconds until it allows one more. Web backends answer it
    with 429 and ``Retry-After`` (see :func:`error_reply`).

    Args:
        scope: The budget's name, kept as ``scope``.
        retry_after: Seconds until it allows one more, kept as ``retry_after``.
    """

    def __init__(self, scope: str, retry_after: float) -> None:
        self.scope = scope
        self.retry_after = retry_after
        super().__init__(f"the {scope} budget is spent; retry in {retry_after:.1f} s")


@runtime_checkable
class Budgets(Protocol):
    """Where budgets are counted: :class:`MemoryBudgets` for one process,
    :class:`~nxcloud_ota.contrib.redis.RedisBudgets` for many. Implement it over
    your own store if you like; the contract is one method.
    """

    async def spend(self, key: str, limit: Limit) -> float:
        """Count one event for ``key`` if ``limit`` allows it and return ``0.0``;
        otherwise count nothing and return the seconds until it would allow one.

        Args:
            key: What is counted (``"phone:<digest>"``, ``"address:<ip>"``, ...).
            limit: The budget of ``key``.
        """
        ...


def window_wait(times: Sequence[float], now: float, limit: Limit) -> float:
    """Seconds until ``limit`` allows one more event, given the ``times`` (oldest
    first) of the events of the last ``limit.period`` seconds; ``0.0``: now.

    >>> window_wait([10.0, 11.0], now=12.0, limit=Limit(2, 5))
    3.0
    """
    excess = len(times) - limit.count
    if excess < 0:
        return 0.0
    # One more is allowed when all but count - 1 of them have left the window.
    return times[excess] + limit.period - now


class MemoryBudgets:
    """Budgets of one process, each key a log of its events in the window.

    Memory is bounded by the live keys: a key is forgotten ``period`` seconds
    after its last event.

    Args:
        clock: Monotonic time in seconds; exists for tests.
    """

    def __init__(self, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._logs: ExpiringMap[deque[float]] = ExpiringMap(clock)

    def __repr__(self) -> str:
        return f"MemoryBudgets(keys={len(self._logs)})"

    async def spend(self, key: str, limit: Limit) -> float:
        """Count one event for ``key`` if ``limit`` allows it (see :class:`Budgets`).

        Args:
            key: What is counted.
            limit: The budget of ``key``.
        """
        now = self._clock()
        log = self._logs.get(key) or deque()
        while log and log[0] <= now - limit.period:
            log.popleft()
        wait = window_wait(log, now, limit)
        if wait == 0.0:
            log.append(now)
            self._logs.put(key, log, limit.period)
        return wait
