"""A token bucket, driven by an injected clock, for the simulator's rate limit (2206)."""

from __future__ import annotations

from collections.abc import Callable

__all__ = ["TokenBucket"]


class TokenBucket:
    """``rate`` tokens per second refill a bucket of ``burst`` tokens; a call takes one.

    ``rate`` and ``burst`` are passed on every :meth:`take`, so the owner may change
    them at run time; ``burst=None`` means ``max(1, int(rate))``. ``rate`` must be
    positive and ``burst`` at least 1 (the owner checks). The bucket starts full.
    ``clock`` returns seconds; only its differences matter.

    >>> now = [0.0]
    >>> bucket = TokenBucket(clock=lambda: now[0])
    >>> [bucket.take(rate=2.0, burst=2) for _ in range(3)]
    [True, True, False]
    >>> now[0] = 0.5
    >>> bucket.take(rate=2.0, burst=2), bucket.take(rate=2.0, burst=2)
    (True, False)
    """

    def __init__(self, *, clock: Callable[[], float]) -> None:
        self._clock = clock
        self._tokens: float | None = None
        self._last = 0.0

    def take(self, *, rate: float, burst: int | None = None) -> bool:
        """Take one token if there is one; ``False`` means "too frequent"."""
        if burst is None:
            burst = max(1, int(rate))
        now = self._clock()
        if self._tokens is None:
            tokens = float(burst)
        else:
            tokens = self._tokens + max(0.0, now - self._last) * rate
        self._last = now
        tokens = min(float(burst), tokens)
        if tokens >= 1.0:
            self._tokens = tokens - 1.0
            return True
        self._tokens = tokens
        return False
