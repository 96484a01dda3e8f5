"""Waiting for a login to end: the polling schedule (pure) and the loop around ``verify``."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Iterator

from ._errors import InvalidInputError, WaitTimeoutError
from ._models import VerifyResult

__all__ = ["backoff_delays", "poll_until_final", "validate_schedule"]


def backoff_delays(
    initial: float = 0.5, factor: float = 2.0, maximum: float = 5.0
) -> Iterator[float]:
    """The pauses between ``verify`` polls: ``initial``, times ``factor``, capped, forever.

    >>> import itertools; list(itertools.islice(backoff_delays(), 6))
    [0.5, 1.0, 2.0, 4.0, 5.0, 5.0]
    """
    delay = initial
    while True:
        yield min(delay, maximum)
        delay = min(delay * factor, maximum)


def validate_schedule(timeout: float, interval: float, max_interval: float) -> None:
    """Reject a negative ``timeout`` or a pause that is not positive, naming the field."""
    if not timeout >= 0:
        raise InvalidInputError("timeout", "must be a number of seconds >= 0")
    if not interval > 0:
        raise InvalidInputError("interval", "must be a number of seconds > 0")
    if not max_interval >= interval:
        raise InvalidInputError("max_interval", "must be >= interval")


async def poll_until_final(
    verify: Callable[[], Awaitable[VerifyResult]],
    *,
    timeout: float,
    sleep: Callable[[float], Awaitable[None]],
    monotonic: Callable[[], float],
    delays: Iterable[float],
) -> VerifyResult:
    """Call ``verify`` until the status is final, pausing per ``delays`` in between.

    Raises :class:`WaitTimeoutError` (with the last result) once ``timeout``
    seconds have passed on ``monotonic`` and the status is still not final; the
    last pause is cut to end at the deadline, where one more poll is made.
    """
    deadline = monotonic() + timeout
    for delay in delays:
        result = await verify()
        if result.status.is_final:
            return result
        remaining = deadline - monotonic()
        if remaining <= 0:
            raise WaitTimeoutError(result, timeout)
        await sleep(min(delay, remaining))
    raise AssertionError("the delay schedule ran out")  # pragma: no cover
