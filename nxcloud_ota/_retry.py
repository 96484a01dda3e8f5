"""When to retry and how long to wait: the policy, the pure decisions, the loop.

What is retried, and why:

============================  ============  ==========  ============================
failure                       ``init``      ``verify``  why
============================  ============  ==========  ============================
2206 rate limited, 99 system  backoff       backoff     transient, answered: not done
1004 timestamp expired        once, no wait once        re-signed with a corrected ts
connect error (never sent)    backoff       backoff     the server saw nothing
non-JSON HTTP 429 / 503       backoff       backoff     refused before processing
maybe sent (read timeout,     **no**        backoff     ``init`` is billed and has no
reset mid-response, 502/504,                            idempotency key
invalid or oversized answer)
redirect (HTTP 3xx)           no            no          never followed: it would
                                                        forward a signed request
pool timeout                  no            no          local saturation
anything else                 no            no          retrying cannot help
============================  ============  ==========  ============================
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Awaitable, Callable
from typing import TypeVar

import attrs
import tenacity

from ._errors import (
    ConnectionFailedError,
    InternalServerError,
    NxCloudError,
    ProtocolError,
    RateLimitedError,
    RequestMaybeSentError,
    TimestampExpiredError,
    TransportError,
)
from ._hooks import RetryEvent, fire
from ._ratelimit import RetryBudget

__all__ = ["Attempts", "Disposition", "RetryPolicy", "call_with_retries", "classify"]

T = TypeVar("T")

_log = logging.getLogger("nxcloud_ota")


def _non_negative(instance: object, attribute: attrs.Attribute[float], value: float) -> None:
    if value < 0:
        raise ValueError(f"{attribute.name} must be >= 0, not {value!r}")


@attrs.frozen
class RetryPolicy:
    """How hard a call tries: attempts, full-jitter exponential waits, a deadline.

    The n-th retry waits a random time between 0 and
    ``min(max_wait, initial_wait * 2 ** (n - 1))`` seconds ("full jitter"), so
    that many clients backing off together spread out. No wait starts that would
    end past ``deadline`` seconds after the call began (``None``: no deadline).

    The defaults (4 attempts, 0.5 s doubling to at most 8 s, 30 s in all) stay
    well inside the provider's 60 s timestamp window.

    Across all calls of a client, retries are capped at ``budget_ratio`` of the
    first attempts of the last 10 seconds, plus ``budget_min_per_second``, so a
    storm of failures cannot multiply the load on the provider.

    Args:
        max_attempts: Requests per call at most, the first included (>= 1).
        initial_wait: The ceiling of the first retry's wait, in seconds.
        max_wait: The ceiling of any wait, in seconds.
        deadline: Seconds after the call began past which no wait starts;
            ``None``: no deadline.
        budget_ratio: Retries allowed per first attempt, across the client.
        budget_min_per_second: Retries a second allowed whatever the traffic.
    """

    max_attempts: int = attrs.field(default=4, validator=attrs.validators.ge(1))
    initial_wait: float = attrs.field(default=0.5, validator=_non_negative)
    max_wait: float = attrs.field(default=8.0, validator=_non_negative)
    deadline: float | None = 30.0
    budget_ratio: float = attrs.field(default=0.2, validator=_non_negative)
    budget_min_per_second: float = attrs.field(default=10.0, validator=_non_negative)

    def __attrs_post_init__(self) -> None:
        if self.deadline is not None and self.deadline < 0:
            raise ValueError(f"deadline must be >= 0 or None, not {self.deadline!r}")

    @classmethod
    def no_wait(cls, max_attempts: int = 4) -> RetryPolicy:
        """The same decisions with zero waits, no deadline and no budget: for tests.

        Args:
            max_attempts: Requests per call at most, the first included.
        """
        return cls(
            max_attempts=max_attempts,
            initial_wait=0.0,
            max_wait=0.0,
            deadline=None,
            budget_ratio=0.0,
            budget_min_per_second=float("inf"),
        )

    def backoff(self, retry_number: int, rand: float) -> float:
        """The wait before retry ``retry_number`` (1-based), given ``rand`` in [0, 1).

        >>> RetryPolicy().backoff(3, 0.5)   # half of min(8, 0.5 * 2**2)
        1.0

        Args:
            retry_number: Which retry, from 1.
            rand: A number in [0, 1): the share of the ceiling to wait.
        """
        ceiling = min(self.max_wait, self.initial_wait * 2.0 ** (retry_number - 1))
        return rand * ceiling


class Disposition(enum.Enum):
    """What a failure allows."""

    RETRY = "retry"
    """Safe for every call: the request was not processed."""
    RETRY_IF_IDEMPOTENT = "retry if idempotent"
    """The request may have been processed: only ``verify`` retries."""
    RESIGN_ONCE = "re-sign once"
    """A stale timestamp: retry once, at once, with a corrected clock."""
    STOP = "stop"
    """Retrying cannot help."""


def classify(exc: BaseException) -> Disposition:
    """Decide what a failure allows (see the module's table)."""
    if isinstance(exc, (RateLimitedError, InternalServerError, ConnectionFailedError)):
        return Disposition.RETRY
    if isinstance(exc, TimestampExpiredError):
        return Disposition.RESIGN_ONCE
    if isinstance(exc, ProtocolError):  # before RequestMaybeSentError: it may be both
        if 300 <= exc.status_code < 400:
            return Disposition.STOP
        if exc.status_code in (429, 503):
            return Disposition.RETRY
        return Disposition.RETRY_IF_IDEMPOTENT
    if isinstance(exc, RequestMaybeSentError):
        return Disposition.RETRY_IF_IDEMPOTENT
    return Disposition.STOP


@attrs.define
class Attempts:
    """How many requests one call has sent so far."""

    count: int = 0


async def call_with_retries(
    attempt: Callable[[], Awaitable[T]],
    *,
    policy: RetryPolicy,
    idempotent: bool,
    attempts: Attempts,
    sleep: Callable[[float], Awaitable[None]],
    random: Callable[[], float],
    monotonic: Callable[[], float],
    action: str,
    budget: RetryBudget | None = None,
    on_retry: Callable[[RetryEvent], None] | None = None,
) -> T:
    """Run ``attempt`` until it succeeds or the policy says stop; re-raise the last error.

    The first attempt runs outside tenacity, so a call that succeeds at once pays
    nothing for the retry machinery. On a retryable failure a fresh
    ``AsyncRetrying`` (never shared: it is not task-safe) takes over, replaying
    that failure as its first attempt so its arithmetic stays in one place.
    """
    started = monotonic()
    attempts.count = 1
    if budget is not None:
        budget.record_request()
    try:
        return await attempt()
    except NxCloudError as exc:
        first: BaseException | None = exc
        if not _allowed(classify(exc), idempotent, resigned=False) or policy.max_attempts < 2:
            raise

    resigned = False

    def should_retry(state: tenacity.RetryCallState) -> bool:
        nonlocal resigned
        outcome = state.outcome
        exc = outcome.exception() if outcome is not None else None
        if exc is None:
            return False
        disposition = classify(exc)
        if not _allowed(disposition, idempotent, resigned=resigned):
            return False
        if state.attempt_number >= policy.max_attempts:
            return False  # the last attempt: decided here, before spending budget
        if budget is not None and not budget.try_spend():
            _log.warning("%s: not retrying %s: the retry budget is spent", action, _describe(exc))
            return False
        if disposition is Disposition.RESIGN_ONCE:
            resigned = True
        return True

    def wait(state: tenacity.RetryCallState) -> float:
        outcome = state.outcome
        if outcome is not None and isinstance(outcome.exception(), TimestampExpiredError):
            return 0.0
        return policy.backoff(state.attempt_number, random())

    def stop(state: tenacity.RetryCallState) -> bool:
        # The attempt limit is enforced in should_retry; here only the deadline.
        if policy.deadline is None:
            return False
        return monotonic() - started + state.upcoming_sleep > policy.deadline

    def log_retry(state: tenacity.RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome is not None else None
        reason = _describe(exc)
        _log.warning(
            "%s: retrying after %s (attempt %d of %d) in %.2f s",
            action,
            reason,
            state.attempt_number,
            policy.max_attempts,
            state.upcoming_sleep,
        )
        fire(on_retry, RetryEvent(action, state.attempt_number, reason, state.upcoming_sleep))

    retrying = tenacity.AsyncRetrying(
        stop=stop,
        wait=wait,
        retry=should_retry,
        sleep=sleep,
        before_sleep=log_retry,
        reraise=True,
    )
    async for try_ in retrying:
        with try_:
            if first is not None:
                replay, first = first, None
                raise replay
            attempts.count += 1
            return await attempt()
    raise AssertionError("unreachable: tenacity either returns or re-raises")  # pragma: no cover


def _allowed(disposition: Disposition, idempotent: bool, *, resigned: bool) -> bool:
    if disposition is Disposition.RETRY:
        return True
    if disposition is Disposition.RETRY_IF_IDEMPOTENT:
        return idempotent
    if disposition is Disposition.RESIGN_ONCE:
        return not resigned
    return False


def _describe(exc: BaseException | None) -> str:
    code = getattr(exc, "code", None)
    if code is not None:
        return f"code {code}"
    if isinstance(exc, TransportError) and exc.__cause__ is not None:
        return type(exc.__cause__).__name__
    return type(exc).__name__
