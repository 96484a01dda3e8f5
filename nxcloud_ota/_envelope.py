"""Decoding the response envelope ``{"code", "msg", "data"}``, as pure functions."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import TypeVar

from ._errors import ProtocolError, error_for_code

__all__ = ["decode_response", "excerpt"]

T = TypeVar("T")

_EXCERPT_LIMIT = 200


def excerpt(content: bytes, limit: int = _EXCERPT_LIMIT) -> str:
    """Return a short, printable start of a body, for error messages.

    >>> excerpt(b"<html><body>502 Bad Gateway</body></html>", limit=20)
    '<html><body>502 Bad …'
    """
    text = content[: limit * 4].decode("utf-8", errors="replace")
    text = "".join(ch if ch.isprintable() else " " for ch in text)
    return text if len(text) <= limit else text[:limit] + "…"


def decode_response(
    status_code: int,
    content: bytes,
    parse: Callable[[Mapping[str, object]], T],
) -> T:
    """Decode an answer and return ``parse(data)``, or raise.

    Raises the :class:`ApiError` subclass for a non-zero ``code``, and
    :class:`ProtocolError` (with the HTTP status and an excerpt) when the body is
    not an envelope or ``data`` lacks what ``parse`` needs, or for any redirect
    (3xx). Otherwise the HTTP status alone decides nothing: the provider answers
    errors with HTTP 200.
    """

    def protocol_error(problem: str) -> ProtocolError:
        return ProtocolError(problem, status_code=status_code, excerpt=excerpt(content))

    if 300 <= status_code < 400:
        raise protocol_error("a redirect is refused: following it would forward a signed request")
    try:
        envelope = json.loads(content)
    except (ValueError, RecursionError):
        raise protocol_error("the response is not JSON") from None
    if not isinstance(envelope, dict):
        raise protocol_error("the response is not a JSON object")
    code = envelope.get("code")
    if not isinstance(code, int) or isinstance(code, bool):
        raise protocol_error("the response has no integer 'code'")
    msg = envelope.get("msg")
    if code != 0:
        raise error_for_code(code, msg if isinstance(msg, str) else "")
    data = envelope.get("data")
    if not isinstance(data, dict):
        raise protocol_error("a successful response has no 'data' object")
    try:
        return parse(data)
    except (ValueError, TypeError) as exc:
        raise protocol_error(str(exc)) from None
