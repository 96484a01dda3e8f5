"""A bound on the wall time of a block of async code, on every supported Python.

``asyncio.timeout`` arrived in Python 3.11; on 3.10 the same contract is kept
by cancelling the task at the deadline and turning that cancellation (and only
that one) into :class:`asyncio.TimeoutError`.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
from types import TracebackType
from typing import Protocol

__all__ = ["ENDS_BY", "Deadline", "earliest", "within"]

ENDS_BY = "nxcloud_ota.ends_by"
"""A request extension: the event loop's time by which a transport that bounds
itself (:class:`AiohttpTransport`) must have ended the request, answer read."""


def earliest(*moments: float | None) -> float | None:
    """The earliest of ``moments`` that are set; ``None`` if none is.

    >>> earliest(None, 12.5, 10.0), earliest(None, None)
    (10.0, None)
    """
    return min((moment for moment in moments if moment is not None), default=None)


class Deadline(Protocol):
    """The bound of a running :func:`within` block, which may be moved."""

    def reschedule(self, when: float | None) -> None:
        """End the block at ``when`` (the running loop's time) instead; ``None``:
        no bound."""


if sys.version_info >= (3, 11):

    def within(seconds: float | None) -> contextlib.AbstractAsyncContextManager[Deadline]:
        """Raise :class:`asyncio.TimeoutError` if the block runs longer than
        ``seconds`` (``None``: no bound)."""
        # asyncio.timeout itself, not wrapped in a generator: it is entered on every attempt.
        return asyncio.timeout(None if seconds is None else max(seconds, 0.0))

else:  # pragma: no cover - measured by the test run on Python 3.10

    def within(seconds: float | None) -> contextlib.AbstractAsyncContextManager[Deadline]:
        """Raise :class:`asyncio.TimeoutError` if the block runs longer than
        ``seconds`` (``None``: no bound)."""
        return _Within(seconds)

    class _Within:
        """What ``asyncio.timeout`` does on 3.11: cancel the task at the deadline and
        turn that cancellation (and only that one) into a timeout."""

        def __init__(self, seconds: float | None) -> None:
            self._seconds = seconds
            self._expired = False
            self._handle: asyncio.TimerHandle | None = None
            self._task: asyncio.Task[object] | None = None

        async def __aenter__(self) -> _Within:
            self._task = asyncio.current_task()
            if self._seconds is not None:
                loop = asyncio.get_running_loop()
                self.reschedule(loop.time() + max(self._seconds, 0.0))
            return self

        def reschedule(self, when: float | None) -> None:
            if self._handle is not None:
                self._handle.cancel()
                self._handle = None
            if when is not None:
                self._handle = asyncio.get_running_loop().call_at(when, self._expire)

        def _expire(self) -> None:
            self._expired = True
            assert self._task is not None  # only ever entered from a task
            self._task.cancel()

        async def __aexit__(
            self,
            exc_type: type[BaseException] | None,
            exc: BaseException | None,
            tb: TracebackType | None,
        ) -> None:
            self.reschedule(None)
            if exc_type is asyncio.CancelledError and self._expired:
                raise asyncio.TimeoutError from None
