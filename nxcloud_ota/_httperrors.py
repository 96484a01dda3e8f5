"""Mapping httpx's exceptions to the package's, by whether the request may have been sent."""

from __future__ import annotations

import httpx

from ._errors import (
    ConnectionFailedError,
    NxCloudError,
    PoolTimeoutError,
    ProtocolError,
    RequestMaybeSentError,
    TransportError,
    UnreadableAnswerError,
)

__all__ = ["for_init", "from_httpx_error"]

_REFUSED_UNPROCESSED = (429, 503)
"""Statuses a gateway answers before the provider sees the request."""


def from_httpx_error(
    exc: httpx.RequestError,
    *,
    action: str,
    phone_masked: str | None = None,
    ts: str | None = None,
) -> NxCloudError:
    """Return the package error for an httpx failure (the caller raises it ``from exc``).

    Only failures that certainly happened before the request left (connecting) are
    "never sent". A pool timeout is local saturation. Everything after the
    connection was made (write or read errors and timeouts, a reset or a
    disconnect) may have reached the server.
    """
    name = type(exc).__name__
    if isinstance(exc, httpx.PoolTimeout):
        return PoolTimeoutError(
            f"{action}: no free connection within the pool timeout; raise the pool limits, "
            "lower the concurrency or lengthen timeout.pool",
            action=action,
        )
    if isinstance(exc, (httpx.ConnectError, httpx.ConnectTimeout)) and _before_sending(exc):
        return ConnectionFailedError(
            f"{action}: could not connect ({name}); the request was not sent",
            action=action,
        )
    if isinstance(exc, httpx.DecodingError):
        return ProtocolError("the response body could not be decoded", status_code=0, excerpt="")
    if isinstance(exc, (httpx.UnsupportedProtocol, httpx.LocalProtocolError, httpx.ProxyError)):
        return TransportError(f"{action}: request not sent ({name}: {exc})", action=action)
    if action == "init":
        where = f" for phone {phone_masked}" if phone_masked else ""
        message = (
            f"init: the request may have reached the server ({name}); a login{where} "
            f"may have started (ts={ts}). It was not retried, to avoid a second billed "
            "login: reconcile before trying again"
        )
    else:
        message = f"{action}: the request may have reached the server ({name})"
    return RequestMaybeSentError(message, action=action, phone_masked=phone_masked, ts=ts)


def _before_sending(exc: httpx.RequestError) -> bool:
    """Whether a connect-class error really happened before the request left.

    Some aiohttp-backed transports (``httpx_aiohttp``) report every
    ``aiohttp.ClientConnectionError`` as ``httpx.ConnectTimeout``, including a
    server disconnect or a reset after the request was written. The original
    error, kept as the cause, tells them apart.
    """
    cause = exc.__cause__
    if cause is None or type(cause).__module__.split(".")[0] != "aiohttp":
        return True
    import aiohttp  # noqa: PLC0415 - loaded already, since the cause is one of its errors

    return not isinstance(cause, aiohttp.ClientConnectionError) or isinstance(
        cause, (aiohttp.ClientConnectorError, aiohttp.ConnectionTimeoutError)
    )


def for_init(exc: ProtocolError, *, phone_masked: str | None, ts: str | None) -> ProtocolError:
    """The error an ``init`` raises for an answer that is not a valid envelope.

    An answer came, so the request reached a server: unless it is a status a
    gateway answers before the provider sees anything (429, 503), a login may
    have started, and the error says so by being an :class:`UnreadableAnswerError`.
    """
    if exc.status_code in _REFUSED_UNPROCESSED or isinstance(exc, UnreadableAnswerError):
        return exc
    return UnreadableAnswerError(
        exc.problem,
        status_code=exc.status_code,
        excerpt=exc.excerpt,
        phone_masked=phone_masked,
        ts=ts,
    )
