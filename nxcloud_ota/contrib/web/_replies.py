"""What a web backend answers for the package's errors."""

from __future__ import annotations

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

__all__ = ["ErrorReply", "error_reply"]


@attrs.frozen
class ErrorReply:
    """What to answer for an error: an HTTP ``status`` and a JSON ``body``."""

    status: int
    body: dict[str, str | int]


def error_reply(exc: NxCloudError) -> ErrorReply:
    """Map a package error to the answer a web backend gives its own caller.

    ==========================================  ======  ==========================
    error                                       status  body ``error``
    ==========================================  ======  ==========================
    :class:`InvalidInputError`                  422     ``invalid_input``, ``field``
    :class:`RecordNotFoundError` (2205)         404     ``not_found``, ``code``
    any other :class:`ApiError`                 502     ``provider_error``, ``code``
    :class:`ProtocolError`                      502     ``provider_error``
    :class:`RequestMaybeSentError` from init    503     ``login_may_have_started``
    any other :class:`TransportError`           503     ``provider_unavailable``
    anything else                               500     ``internal_error``
    ==========================================  ======  ==========================

    The provider's ``msg`` is not passed on: it can describe your account (its
    balance, its apps) to whoever called you. Log the exception for that.

    >>> error_reply(InvalidInputError("phone", "must be 6-15 digits")).body["field"]
    'phone'
    """
    if isinstance(exc, InvalidInputError):
        return ErrorReply(422, {"error": "invalid_input", "field": exc.field, "detail": str(exc)})
    if isinstance(exc, RecordNotFoundError):
        detail = "no such login, or it has expired"
        return ErrorReply(404, {"error": "not_found", "code": exc.code, "detail": detail})
    if isinstance(exc, ApiError):
        detail = "the login provider refused the request"
        return ErrorReply(502, {"error": "provider_error", "code": exc.code, "detail": detail})
    if isinstance(exc, ProtocolError):
        detail = "the login provider gave an unreadable answer"
        return ErrorReply(502, {"error": "provider_error", "detail": detail})
    if isinstance(exc, RequestMaybeSentError) and exc.action == "init":
        detail = (
            "the login provider did not answer, but a login may have started: "
            "wait for it before starting another"
        )
        return ErrorReply(503, {"error": "login_may_have_started", "detail": detail})
    if isinstance(exc, TransportError):
        detail = "the login provider could not be reached; try again later"
        return ErrorReply(503, {"error": "provider_unavailable", "detail": detail})
    return ErrorReply(500, {"error": "internal_error"})
