"""What a web backend answers for the package's errors."""

from __future__ import annotations

import math

import attrs

from ..._errors import (
    ApiError,
    InvalidInputError,
    NxCloudError,
    ProtocolError,
    RecordNotFoundError,
    RequestMaybeSentError,
    TransportError,
)
from ._budgets import BudgetExceededError
from ._store import UnknownLoginError

__all__ = ["ErrorReply", "error_reply", "retry_after_header"]

_NOT_FOUND = "no such login, or it has expired"


@attrs.frozen
class ErrorReply:
    """What to answer for an error: an HTTP ``status``, a JSON ``body`` and
    ``headers`` to add (``Retry-After`` on a 429).

    Args:
        status: The HTTP status.
        body: The JSON body: ``error`` (a fixed code), ``detail`` (words for a
            person) and, by error, ``field``, ``code``, ``scope`` or
            ``retry_after``.
        headers: Headers to add to the answer.
    """

    status: int
    body: dict[str, str | int]
    headers: dict[str, str] = attrs.field(factory=dict)


def retry_after_header(seconds: float) -> dict[str, str]:
    """``Retry-After`` in whole seconds, rounded up, at least 1.

    >>> retry_after_header(0.2)
    {'Retry-After': '1'}
    """
    return {"Retry-After": str(max(1, math.ceil(seconds)))}


def error_reply(exc: NxCloudError) -> ErrorReply:
    """Map a package error to the answer a web backend gives its own caller.

    ==========================================  ======  ==========================
    error                                       status  body ``error``
    ==========================================  ======  ==========================
    :class:`InvalidInputError`                  422     ``invalid_input``, ``field``
    :class:`UnknownLoginError`                  404     ``not_found``
    :class:`BudgetExceededError`                429     ``too_many_requests``, ``scope``
    :class:`RecordNotFoundError` (2205)         404     ``not_found``, ``code``
    any other :class:`ApiError`                 502     ``provider_error``, ``code``
    :class:`RequestMaybeSentError` from init    503     ``login_may_have_started``
    (an :class:`UnreadableAnswerError` too)
    any other :class:`ProtocolError`            502     ``provider_error``
    any other :class:`TransportError`           503     ``provider_unavailable``
    anything else                               500     ``internal_error``
    ==========================================  ======  ==========================

    A 429 carries ``Retry-After`` (also in the body, as ``retry_after``). The
    provider's ``msg`` is not passed on: it can describe your account (its
    balance, its apps) to whoever called you. Log the exception for that.

    >>> error_reply(InvalidInputError("phone", "must be 6-15 digits")).body["field"]
    'phone'

    Args:
        exc: The error a call of the package raised.
    """
    if isinstance(exc, InvalidInputError):
        return ErrorReply(422, {"error": "invalid_input", "field": exc.field, "detail": str(exc)})
    if isinstance(exc, UnknownLoginError):
        return ErrorReply(404, {"error": "not_found", "detail": _NOT_FOUND})
    if isinstance(exc, BudgetExceededError):
        headers = retry_after_header(exc.retry_after)
        body: dict[str, str | int] = {
            "error": "too_many_requests",
            "scope": exc.scope,
            "retry_after": int(headers["Retry-After"]),
            "detail": "too many requests; try again after retry_after seconds",
        }
        return ErrorReply(429, body, headers)
    if isinstance(exc, RecordNotFoundError):
        return ErrorReply(404, {"error": "not_found", "code": exc.code, "detail": _NOT_FOUND})
    if isinstance(exc, ApiError):
        detail = "the login provider refused the request"
        return ErrorReply(502, {"error": "provider_error", "code": exc.code, "detail": detail})
    if isinstance(exc, RequestMaybeSentError) and exc.action == "init":
        # Before ProtocolError: an unreadable answer to init is both.
        detail = (
            "the login provider did not answer clearly, but a login may have started: "
            "wait for it before starting another"
        )
        return ErrorReply(503, {"error": "login_may_have_started", "detail": detail})
    if isinstance(exc, ProtocolError):
        detail = "the login provider gave an unreadable answer"
        return ErrorReply(502, {"error": "provider_error", "detail": detail})
    if isinstance(exc, TransportError):
        detail = "the login provider could not be reached; try again later"
        return ErrorReply(503, {"error": "provider_unavailable", "detail": detail})
    return ErrorReply(500, {"error": "internal_error"})
