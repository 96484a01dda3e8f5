"""A bound on the wall time of a block of async code, on every supported Python.

``asyncio.timeout`` arrived in Python 3.11; on 3.10 the same contract is kept
by cancelling the task at the deadline and turning that cancellation (and only
that one) into :class:`asyncio.TimeoutError`.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
from collections.abc import AsyncIterator

__all__ = ["within"]


if sys.version_info >= (3, 11):

    def within(seconds: float | None) -> contextlib.AbstractAsyncContextManager[object]:
        """Raise :class:`asyncio.TimeoutError` if the block runs longer than
        ``seconds`` (``None``: no bound)."""
        # asyncio.timeout itself, not wrapped in a generator: it is entered on every attempt.
        return asyncio.timeout(None if seconds is None else max(seconds, 0.0))

else:  # pragma: no cover - measured by the test run on Python 3.10

    @contextlib.asynccontextmanager
    async def within(seconds: float | None) -> AsyncIterator[None]:
        """Raise :class:`asyncio.TimeoutError` if the block runs longer than
        ``seconds`` (``None``: no bound)."""
        if seconds is None:
            yield
            return
        task = asyncio.current_task()
        assert task is not None  # only ever entered from a task
        expired = False

        def expire() -> None:
            nonlocal expired
            expired = True
            task.cancel()

        handle = asyncio.get_running_loop().call_later(max(seconds, 0.0), expire)
        try:
            yield
        except asyncio.CancelledError:
            if expired:
                raise asyncio.TimeoutError from None
            raise
        finally:
            handle.cancel()
