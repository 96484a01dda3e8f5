"""Framework-free pieces of a web backend that starts OTA logins.

The FastAPI and aiohttp examples are thin shells around these three:

- :class:`TrustedProxies` and :func:`client_ip`: the end user's IP address for
  ``init``, from the connection, or from ``X-Forwarded-For`` only when the
  connection comes from a proxy you trust.
- :func:`error_reply`: the HTTP status and JSON body that answer an
  :class:`~nxcloud_ota.NxCloudError` (422 bad input, 502 provider error, 503 no
  answer, ...).
- :func:`receive_callback`: parse the provider's status callback and confirm it
  with ``verify``, since the callback carries no signature.
- :data:`HIDE_QUERY_STRINGS`: a logging filter for access logs, which would
  otherwise keep the callback's query string, the full phone number in it.

None of them imports a web framework.
"""

from __future__ import annotations

from . import _logs
from ._address import TrustedProxies, client_ip
from ._callback import CallbackReply, receive_callback
from ._logs import HideQueryStrings
from ._replies import ErrorReply, error_reply

__all__ = [
    "HIDE_QUERY_STRINGS",
    "CallbackReply",
    "ErrorReply",
    "HideQueryStrings",
    "TrustedProxies",
    "client_ip",
    "error_reply",
    "receive_callback",
]

HIDE_QUERY_STRINGS = _logs.HIDE_QUERY_STRINGS
"""The one instance to add (``addFilter`` adds it once per logger, however often called)."""
