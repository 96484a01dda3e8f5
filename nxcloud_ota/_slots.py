"""Connection slots: a first-come, first-served count with a wait limit and honest cancellation.

``asyncio.wait_for(semaphore.acquire(), timeout)`` cannot be trusted with a
slot: on Python 3.10 and 3.11, when the slot is granted in the same moment the
caller is cancelled, it returns the slot and drops the cancellation (the call
then sends its request after its caller gave up); on 3.12 and later it raises
the cancellation but keeps the slot taken for good. Here the wait is one future
per waiter, so the three outcomes cannot mix: granted, timed out, or cancelled,
and a slot granted to a waiter that is cancelled before it resumes is handed on.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque

__all__ = ["Slots"]


class Slots:
    """``size`` slots, taken with :meth:`acquire` and given back with :meth:`release`."""

    def __init__(self, size: int) -> None:
        self._free = size
        self._waiters: deque[asyncio.Future[bool]] = deque()

    @property
    def free(self) -> int:
        """Slots nobody holds or has been granted."""
        return self._free

    async def acquire(self, timeout: float | None) -> bool:
        """Wait up to ``timeout`` seconds (``None``: no limit) for a slot, in turn.

        Returns ``False`` if the time ran out. If the caller is cancelled, the
        cancellation propagates and no slot is held, even one granted meanwhile.
        """
        if self._free > 0:  # then nobody waits: release() hands slots to waiters first
            self._free -= 1
            return True
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[bool] = loop.create_future()
        self._waiters.append(waiter)
        expiry = None if timeout is None else loop.call_later(timeout, self._expire, waiter)
        try:
            return await waiter
        except BaseException:
            if waiter.done() and not waiter.cancelled() and waiter.result():
                self.release()  # granted, but the caller gave up first: pass it on
            else:
                self._forget(waiter)
            raise
        finally:
            if expiry is not None:
                expiry.cancel()

    def release(self) -> None:
        """Give a slot back: to the longest waiter still waiting, or to the free count."""
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(True)
                return
        self._free += 1

    def _expire(self, waiter: asyncio.Future[bool]) -> None:
        if not waiter.done():
            waiter.set_result(False)
            self._forget(waiter)

    def _forget(self, waiter: asyncio.Future[bool]) -> None:
        with contextlib.suppress(ValueError):  # release() may have dropped it already
            self._waiters.remove(waiter)
