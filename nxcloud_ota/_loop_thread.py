"""An event loop running in a daemon thread, and a blocking way to run coroutines on it."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

__all__ = ["LoopThread"]

T = TypeVar("T")


class LoopThread:
    """One event loop, run forever by one thread started here, until :meth:`stop`.

    :meth:`run` may be called from any number of threads at once: every coroutine
    runs on the one loop, and each caller blocks until its own result is ready.
    """

    def __init__(self, name: str) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._main, name=name, daemon=True)
        self._thread.start()

    def _main(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_forever()

    @property
    def in_loop_thread(self) -> bool:
        """``True`` when called from the loop's own thread (where blocking deadlocks)."""
        return threading.get_ident() == self._thread.ident

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run ``coro`` on the loop and return its result (or raise its exception).

        If the waiting thread is interrupted (``KeyboardInterrupt``), the
        coroutine is cancelled.
        """
        future = asyncio.run_coroutine_threadsafe(coro, self.loop)
        try:
            return future.result()
        except BaseException:
            future.cancel()
            raise

    def stop(self, last: Coroutine[Any, Any, None]) -> None:
        """Run ``last``, cancel what is still running, then stop and close the loop."""
        try:
            self.run(_finish(last))
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join()
            self.loop.close()


async def _finish(last: Coroutine[Any, Any, None]) -> None:
    current = asyncio.current_task()
    others = [task for task in asyncio.all_tasks() if task is not current]
    for task in others:
        task.cancel()
    await asyncio.gather(*others, return_exceptions=True)
    try:
        await last
    finally:
        await asyncio.get_running_loop().shutdown_asyncgens()
