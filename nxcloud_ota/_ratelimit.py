"""The client-wide rate limit: pace every request, learn the provider's limit from 2206.

The provider documents no rate limit in numbers; it answers 2206 when it is
exceeded. Backing off alone wastes work (each 2206 is a request spent for
nothing), so the client paces itself instead (:class:`AdaptiveRateLimiter`):

- Until the first 2206 (and with no ``max_rate``) it does not wait at all.
- On a 2206 it lowers the rate to ``decrease`` times the current rate, or to the
  rate of successful answers it has been getting, whichever is lower: while
  throttled, that rate *is* the provider's limit.
- Only fresh signals count: a 2206 for a request sent before the last decrease
  says nothing new (as TCP reacts once per window), so a burst of 2206s from
  requests already in flight lowers the rate once.
- Each successful answer adds ``growth`` requests per second, so the rate grows
  by a fraction ``growth`` per second and probes back up (to ``max_rate`` at most).
- Waiting calls queue in order and only the first sleeps until the next slot,
  so a thousand waiting tasks wake one at a time, not together; the intervals
  are jittered (+-50%, the mean kept) so that clients do not fall into step.

:class:`RetryBudget` caps retries to a fraction of recent first attempts, so a
storm of 99s or 2206s cannot multiply the load on the provider.
"""

from __future__ import annotations

import asyncio
import random as _random
import time
from collections.abc import Awaitable, Callable
from typing import Protocol, runtime_checkable

__all__ = ["AdaptiveRateLimiter", "RateLimiter", "RetryBudget", "WindowCounter"]


@runtime_checkable
class RateLimiter(Protocol):
    """What the client needs from a rate limiter. Plug in your own (for example
    one shared by several processes) through ``AsyncOtaClient(rate_limiter=...)``.

    ``acquire`` returns a ticket that the client hands back with the answer, so
    the limiter can tell a fresh signal from a stale one (return 0 if unused).

    A limiter that also has a ``rate`` attribute (requests per second, ``None``
    while unlimited) is asked for a request's turn once the request holds its
    connection, right before it is written, when the transport allows it; then
    only ``rate`` times 5 seconds of requests are signed and waiting at once. A
    limiter without one is asked before the request is signed.
    """

    async def acquire(self) -> int:
        """Wait until one more request may be sent; return a ticket."""
        ...

    def on_success(self, ticket: int) -> None:
        """The provider answered the request of ``ticket``, and not with 2206.

        Args:
            ticket: What :meth:`acquire` returned for that request.
        """
        ...

    def on_throttle(self, ticket: int) -> None:
        """The provider answered the request of ``ticket`` with 2206 (too frequent).

        Args:
            ticket: What :meth:`acquire` returned for that request.
        """
        ...


class WindowCounter:
    """Events per second over the last one to two ``window`` lengths.

    >>> now = [5.0]
    >>> counter = WindowCounter(window=1.0, clock=lambda: now[0])
    >>> now[0] = 10.0     # counting starts with the first event, not at creation
    >>> for _ in range(30):
    ...     counter.add()
    >>> now[0] = 11.5
    >>> counter.add()
    >>> counter.rate()    # 31 events over 1.5 s
    20.666666666666668
    """

    def __init__(self, window: float, clock: Callable[[], float]) -> None:
        self.window = window
        self._clock = clock
        self._start: float | None = None  # the first event starts the first window
        self._current = 0
        self._previous = 0

    def _roll(self) -> float:
        now = self._clock()
        if self._start is None:
            return 0.0
        elapsed = now - self._start
        if elapsed >= self.window:
            self._previous = self._current if elapsed < 2 * self.window else 0
            self._current = 0
            self._start = now - elapsed % self.window
            elapsed %= self.window
        return elapsed

    def add(self) -> None:
        """Count one event now."""
        if self._start is None:
            self._start = self._clock()
        self._roll()
        self._current += 1

    def count(self) -> int:
        """Events in the current and the previous window."""
        self._roll()
        return self._current + self._previous

    def rate(self) -> float:
        """Events per second; 0.0 before any time has passed."""
        elapsed = self._roll()
        span = elapsed + (self.window if self._previous else 0.0)
        return (self._current + self._previous) / span if span > 0 else 0.0


class AdaptiveRateLimiter:
    """Paces requests at a rate learnt from 2206 answers (see the module docs).

    ``rate`` is the current rate, or ``None`` while unlimited. One limiter serves
    every call of a client.

    Args:
        max_rate: A fixed ceiling in requests per second, applied from the start;
            ``None``: unlimited until the first 2206.
        min_rate: The floor of the learnt rate, in requests per second.
        decrease: The factor applied to the rate on a 2206 (between 0 and 1).
        growth: The share by which the rate grows each ``window`` without a 2206.
        window: Seconds over which successes are counted.
        clock: Monotonic time in seconds.
        sleep: Waits for the next slot.
        random: Numbers in [0, 1) that jitter the slots.
    """

    def __init__(
        self,
        *,
        max_rate: float | None = None,
        min_rate: float = 1.0,
        decrease: float = 0.95,
        growth: float = 0.05,
        window: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        random: Callable[[], float] = _random.random,
    ) -> None:
        if max_rate is not None and max_rate <= 0:
            raise ValueError("max_rate must be > 0 or None")
        if not 0 < decrease < 1:
            raise ValueError("decrease must be between 0 and 1")
        if min_rate <= 0:
            raise ValueError("min_rate must be > 0")
        self.max_rate = max_rate
        self.min_rate = min_rate
        self.decrease = decrease
        self.growth = growth
        self._clock = clock
        self._sleep = sleep
        self._random = random
        self._rate: float | None = max_rate
        self._next_slot = -float("inf")
        self._turn = asyncio.Lock()
        self._generation = 0
        self._successes = WindowCounter(window, clock)
        self._sent = WindowCounter(window, clock)
        self.throttled: int = 0
        """How many 2206 answers the limiter has seen."""

    def __repr__(self) -> str:
        return f"AdaptiveRateLimiter(rate={self._rate!r}, max_rate={self.max_rate!r})"

    @property
    def rate(self) -> float | None:
        """The current rate in requests per second; ``None`` while unlimited."""
        return self._rate

    async def acquire(self) -> int:
        """Wait for this request's turn (at once while unlimited); return a ticket.

        Waiters queue on a FIFO lock and only the first sleeps until the next
        slot, so waiting tasks wake one at a time, and a cancelled waiter takes
        no slot from the others.
        """
        if self._rate is not None:
            async with self._turn:
                delay = self._next_slot - self._clock()
                while delay > 0:
                    await self._sleep(delay)
                    # A decrease meanwhile moved the schedule: follow it.
                    delay = self._next_slot - self._clock()
                assert self._rate is not None  # never returns to unlimited
                # The next slot: one interval on average, jittered by +-50%.
                start = max(self._clock(), self._next_slot)
                self._next_slot = start + (0.5 + self._random()) / self._rate
        self._sent.add()
        return self._generation

    def on_success(self, ticket: int) -> None:
        """Count a success and let the rate grow (``growth`` per second, relatively).

        Args:
            ticket: What :meth:`acquire` returned for that request.
        """
        self._successes.add()
        if self._rate is not None and (self.max_rate is None or self._rate < self.max_rate):
            self._rate += self.growth
            if self.max_rate is not None:
                self._rate = min(self._rate, self.max_rate)

    def on_throttle(self, ticket: int) -> None:
        """A 2206: lower the rate, unless the request was sent before the last decrease.

        Args:
            ticket: What :meth:`acquire` returned for that request.
        """
        self.throttled += 1
        if ticket != self._generation:
            return
        succeeded = self._successes.rate()
        if self._rate is None:
            # Leaving the unlimited state: start from what got through, or from
            # half of what was sent when nothing got through yet.
            new_rate = succeeded if succeeded > 0 else self._sent.rate() / 2
        else:
            new_rate = self._rate * self.decrease
            if 0 < succeeded < new_rate:
                new_rate = succeeded
        self._rate = max(self.min_rate, new_rate)
        self._generation += 1
        # Restart the schedule at the new pace, one interval from now.
        self._next_slot = self._clock() + 1.0 / self._rate


class RetryBudget:
    """Allow retries up to ``ratio`` of the first attempts of the last ``window``
    seconds, plus ``min_per_second`` retries a second whatever the traffic.

    >>> budget = RetryBudget(ratio=0.1, min_per_second=0, window=10, clock=lambda: 0.0)
    >>> for _ in range(20):
    ...     budget.record_request()
    >>> budget.try_spend(), budget.try_spend(), budget.try_spend()
    (True, True, False)

    Args:
        ratio: Retries allowed per first attempt.
        min_per_second: Retries a second allowed whatever the traffic.
        window: Seconds over which attempts and retries are counted.
        clock: Monotonic time in seconds.
    """

    def __init__(
        self,
        *,
        ratio: float = 0.2,
        min_per_second: float = 10.0,
        window: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.ratio = ratio
        self.min_per_second = min_per_second
        self._requests = WindowCounter(window, clock)
        self._retries = WindowCounter(window, clock)
        self._window = window

    def record_request(self) -> None:
        """A first attempt was made: it earns ``ratio`` of a retry."""
        self._requests.add()

    def try_spend(self) -> bool:
        """Take one retry from the budget; ``False`` when it is spent."""
        allowed = self.min_per_second * self._window + self.ratio * self._requests.count()
        if self._retries.count() + 1 > allowed:
            return False
        self._retries.add()
        return True
