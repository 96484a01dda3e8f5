"""Callbacks for operators: every attempt, retry, throttle and clock adjustment.

Pass ``AsyncOtaClient(hooks=Hooks(on_attempt=..., ...))``. Each callback receives
one frozen event and runs inline, so keep it quick (increment a counter, record a
span). A callback that raises is logged and otherwise ignored: it never breaks the
call it observes. No event carries the secret, the signature or a full phone number.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TypeVar

import attrs

__all__ = ["AttemptEvent", "ClockEvent", "Hooks", "RetryEvent", "ThrottleEvent", "fire"]

_log = logging.getLogger("nxcloud_ota")

E = TypeVar("E")


@attrs.frozen
class AttemptEvent:
    """One request sent (or tried).

    Args:
        action: ``"init"`` or ``"verify"``.
        attempt: Which request of the call it was, from 1.
        code: The envelope's ``code``; ``None`` without an envelope.
        outcome: A short text: ``"code=0"``, ``"ReadTimeout"``, ...
        elapsed: Seconds the request took.
        phone_masked: The masked phone number of an ``init``; ``None`` for
            ``verify``.
    """

    action: str
    attempt: int
    code: int | None
    outcome: str
    elapsed: float
    phone_masked: str | None


@attrs.frozen
class RetryEvent:
    """A retry about to wait: after ``attempt`` of ``action`` failed with ``reason``,
    the call waits ``wait`` seconds.

    Args:
        action: ``"init"`` or ``"verify"``.
        attempt: The request that failed, from 1.
        reason: What failed: ``"code 2206"``, ``"ConnectError"``, ...
        wait: Seconds before the next request.
    """

    action: str
    attempt: int
    reason: str
    wait: float


@attrs.frozen
class ThrottleEvent:
    """The provider answered 2206 (too frequent) to a request.

    Args:
        action: ``"init"`` or ``"verify"``.
        rate: The limiter's rate now, in requests per second; ``None``: unknown.
    """

    action: str
    rate: float | None


@attrs.frozen
class ClockEvent:
    """The correction applied to ``ts`` changed.

    Args:
        offset_ms: The new correction, in milliseconds (see
            :attr:`AsyncOtaClient.clock_offset_ms`).
    """

    offset_ms: int


@attrs.frozen
class Hooks:
    """The callbacks; leave out the ones you do not need.

    Each is called synchronously with one event; what it raises is logged and
    never interrupts the call.

    Args:
        on_attempt: After every request, with an :class:`AttemptEvent`.
        on_retry: Before every wait for a retry, with a :class:`RetryEvent`.
        on_throttle: On every 2206 answer, with a :class:`ThrottleEvent`.
        on_clock_adjust: When the correction of the local clock changes, with a
            :class:`ClockEvent`.
    """

    on_attempt: Callable[[AttemptEvent], None] | None = None
    on_retry: Callable[[RetryEvent], None] | None = None
    on_throttle: Callable[[ThrottleEvent], None] | None = None
    on_clock_adjust: Callable[[ClockEvent], None] | None = None


def fire(callback: Callable[[E], None] | None, event: E) -> None:
    """Call ``callback(event)`` if set; log (never raise) what it raises."""
    if callback is None:
        return
    try:
        callback(event)
    except Exception:
        _log.exception("a hook raised on %s; the call goes on", type(event).__name__)
