"""Scripted and random faults: codes to answer, calls to drop, a seeded coin."""

from __future__ import annotations

import collections
import random

__all__ = ["Faults"]


class Faults:
    """The faults the simulator still owes, and the seeded randomness of ``fail_rate``.

    >>> faults = Faults(seed=1)
    >>> faults.fail_next(2, 2206)
    >>> faults.take_code(), faults.take_code(), faults.take_code()
    (2206, 2206, None)
    """

    def __init__(self, *, seed: int | None) -> None:
        self._codes: collections.deque[int] = collections.deque()
        self._drops = 0
        self._random = random.Random(seed)  # noqa: S311 - fault injection, not crypto

    def fail_next(self, n: int, code: int) -> None:
        """Queue ``code`` as the answer to ``n`` more calls (after those queued before)."""
        if n < 0 or code == 0:
            raise ValueError("fail_next needs n >= 0 and a non-zero code")
        self._codes.extend([code] * n)

    def drop_next(self, n: int) -> None:
        """Drop ``n`` more calls."""
        if n < 0:
            raise ValueError("drop_next needs n >= 0")
        self._drops += n

    def take_drop(self) -> bool:
        """Whether this call is to be dropped (using up one drop)."""
        if self._drops > 0:
            self._drops -= 1
            return True
        return False

    def take_code(self) -> int | None:
        """The scripted code for this call, if one is queued (using it up)."""
        return self._codes.popleft() if self._codes else None

    def roll(self, probability: float) -> bool:
        """``True`` with that probability (never draws when it is 0)."""
        return probability > 0 and self._random.random() < probability
