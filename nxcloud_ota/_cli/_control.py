"""When ``bulk-init`` stops taking records: fail fast, signals, a closed output.

:class:`BulkControl` is told about each outcome and about each signal; the bulk
runner asks it whether to go on. Stopping never cancels a call at once: the calls
in flight get a grace period to end (their answers are recorded), and only then
are they cancelled.
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Coroutine, Iterator
from contextlib import contextmanager

import attrs

from .._errors import ApiError, ConnectionFailedError

__all__ = ["DEFAULT_FAIL_FAST", "DEFAULT_GRACE", "BulkControl", "stops_the_run"]

DEFAULT_FAIL_FAST = 10
"""Outcomes in a row that say the provider is out of reach before the run stops."""
DEFAULT_GRACE = 30.0
"""Seconds the calls in flight get to end after a stop, before they are cancelled."""

_SIGNALS = (signal.SIGINT, signal.SIGTERM)
_HOPELESS = frozenset({9906, 9908})  # the app is unavailable, the balance is empty


def stops_the_run(error: Exception | None) -> bool:
    """Whether this failure is no record's fault, so the next records would fail too:
    a connection that never opened, or credentials, app or balance refused
    (1001-1005, 9906, 9908).

    >>> stops_the_run(ApiError(1003, "sign")), stops_the_run(ApiError(2206, "rate"))
    (True, False)
    """
    if isinstance(error, ConnectionFailedError):
        return True
    return isinstance(error, ApiError) and (1001 <= error.code <= 1005 or error.code in _HOPELESS)


@attrs.define
class BulkControl:
    """Decides when a bulk run stops taking records, and cuts the calls in flight
    once the grace period after a stop is over.

    ``fail_fast_after`` failures in a row for which :func:`stops_the_run` holds
    stop the run (0: never). ``grace`` is in seconds; a second signal cuts at once.
    """

    fail_fast_after: int = DEFAULT_FAIL_FAST
    grace: float = DEFAULT_GRACE
    reason: str | None = None
    """Why the run stopped taking records: ``"fail-fast"``, ``"signal"`` or ``"closed"``."""
    signal: int | None = None
    """The first signal received, if any."""
    streak: int = 0
    """Failures in a row for which :func:`stops_the_run` holds."""
    last_error: Exception | None = None
    """The failure that completed the streak."""
    opened: bool = False
    """Whether an outcome has shown the provider reachable and the credentials good."""
    cut: bool = False
    """Whether calls in flight were cancelled."""
    _task: asyncio.Task[None] | None = None
    _timer: asyncio.TimerHandle | None = None

    @property
    def stopping(self) -> bool:
        """Whether the run has stopped taking records."""
        return self.reason is not None

    def observe(self, error: Exception | None) -> None:
        """Count one outcome; stop after ``fail_fast_after`` hopeless failures in a row."""
        if not stops_the_run(error):
            self.streak = 0
            self.opened = True
            return
        self.streak += 1
        if self.fail_fast_after and self.streak >= self.fail_fast_after and not self.stopping:
            self.reason = "fail-fast"
            self.last_error = error

    def stop(self, reason: str, *, grace: float | None = None) -> None:
        """Stop taking records; cut the calls in flight after ``grace`` seconds (the
        default grace the first time, at once when already stopping)."""
        if self.stopping:
            grace = 0.0
        else:
            self.reason = reason
        delay = self.grace if grace is None else grace
        if self._timer is not None:
            self._timer.cancel()
        self._timer = asyncio.get_running_loop().call_later(delay, self._cut)

    def on_signal(self, signum: int) -> None:
        """The handler of SIGINT and SIGTERM."""
        if self.signal is None:
            self.signal = signum
        self.stop("signal")

    def _cut(self) -> None:
        if self._task is not None and not self._task.done():
            self.cut = True
            self._task.cancel()

    async def run(self, work: Coroutine[object, object, None]) -> None:
        """Run ``work`` (the loop over outcomes) until it ends or is cut."""
        self._task = asyncio.ensure_future(work)
        try:
            await self._task
        except asyncio.CancelledError:
            if not self.cut:
                raise
        finally:
            if self._timer is not None:
                self._timer.cancel()

    @contextmanager
    def signals(self) -> Iterator[None]:
        """Route SIGINT and SIGTERM to :meth:`on_signal` while the block runs."""
        loop = asyncio.get_running_loop()
        installed = []
        for signum in _SIGNALS:
            try:
                loop.add_signal_handler(signum, self.on_signal, signum)
            except (NotImplementedError, RuntimeError):  # pragma: no cover - not on POSIX main
                continue
            installed.append(signum)
        try:
            yield
        finally:
            for signum in installed:
                loop.remove_signal_handler(signum)
