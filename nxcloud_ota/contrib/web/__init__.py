"""Framework-free pieces of a web backend that starts OTA logins.

The FastAPI and aiohttp examples are thin shells around these:

- :class:`LoginGuard`: what the public endpoints call instead of the client.
  It starts a login only within the budgets of the client's address and of the
  phone (:class:`LoginPolicy`, counted in :class:`Budgets`), and answers status
  polls and callbacks only for logins it started (kept in a :class:`LoginStore`),
  with one ``verify`` at a time per login and within a share of the account's
  rate. :func:`open_login_guard` makes one, in memory or in Redis. See
  :doc:`/security`.

- :class:`TrustedProxies` and :func:`client_ip`: the end user's IP address for
  ``init``, from the connection, or from ``X-Forwarded-For`` only when the
  connection comes from a proxy you trust.
- :func:`error_reply`: the HTTP status and JSON body that answer an
  :class:`~nxcloud_ota.NxCloudError` (422 bad input, 502 provider error, 503 no
  answer, ...).
- :func:`receive_callback`: parse the provider's status callback and confirm it
  with ``verify``, since the callback carries no signature (for any
  ``requestId``: public endpoints use :meth:`LoginGuard.receive_callback`).
- :data:`HIDE_QUERY_STRINGS`: a logging filter for access logs, which would
  otherwise keep the callback's query string, the full phone number in it.

None of them imports a web framework.
"""

from __future__ import annotations

from . import _logs
from ._address import TrustedProxies, address_key, client_ip
from ._budgets import BudgetExceededError, Budgets, Limit, MemoryBudgets
from ._callback import CallbackReply, receive_callback
from ._guard import LoginGuard, LoginPolicy
from ._logs import HideQueryStrings
from ._replies import ErrorReply, error_reply
from ._setup import open_login_guard
from ._store import LoginStore, MemoryLoginStore, StartedLogin, UnknownLoginError

__all__ = [
    "HIDE_QUERY_STRINGS",
    "BudgetExceededError",
    "Budgets",
    "CallbackReply",
    "ErrorReply",
    "HideQueryStrings",
    "Limit",
    "LoginGuard",
    "LoginPolicy",
    "LoginStore",
    "MemoryBudgets",
    "MemoryLoginStore",
    "StartedLogin",
    "TrustedProxies",
    "UnknownLoginError",
    "address_key",
    "client_ip",
    "error_reply",
    "open_login_guard",
    "receive_callback",
]

HIDE_QUERY_STRINGS = _logs.HIDE_QUERY_STRINGS
"""The one instance to add (``addFilter`` adds it once per logger, however often called).

:meta hide-value:
"""
