"""The provider's status callback: parse it, then confirm it with ``verify``."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping

import attrs

from ..._client import AsyncOtaClient
from ..._errors import InvalidInputError, NxCloudError, RecordNotFoundError
from ..._models import CallbackEvent, VerifyStatus
from ..._validation import mask_phone
from ._replies import error_reply

__all__ = ["CallbackReply", "confirm_callback", "describe", "parse_callback", "receive_callback"]

_log = logging.getLogger("nxcloud_ota.contrib.web")


@attrs.frozen
class CallbackReply:
    """How a status callback was handled.

    Answer the provider with ``text`` (``success`` or ``error``) and HTTP
    ``status``, adding ``headers`` (``Retry-After`` when a budget refused to
    ask ``verify`` now). Record ``confirmed`` for ``request_id`` when it is not
    ``None``: it is ``verify``'s final answer, never the callback's unsigned claim.

    Args:
        status: The HTTP status to answer the provider with.
        text: The body to answer with, ``"success"`` or ``"error"``.
        request_id: The callback's ``requestId``; ``None`` for a malformed one.
        confirmed: The final status ``verify`` gave; ``None``: nothing to record.
        headers: Headers to add to the answer.
    """

    status: int
    text: str
    request_id: str | None = None
    confirmed: VerifyStatus | None = None
    headers: dict[str, str] = attrs.field(factory=dict)


async def receive_callback(client: AsyncOtaClient, query: Mapping[str, str]) -> CallbackReply:
    """Handle one status callback: parse its query string, then ask ``verify``.

    - A malformed callback answers 400 ``error``.
    - Otherwise ``verify`` is asked for the real status, whatever the callback
      says (a forged ``FAILURE`` could lock a user out as surely as a forged
      ``SUCCESS`` could let one in). A final status is returned as
      ``confirmed``; a ``PENDING`` one, or a login the provider does not know,
      is acknowledged with ``success`` and not confirmed.
    - When ``verify`` fails (the provider unreachable, an API error), the answer
      is ``error`` with the status of :func:`error_reply`, so a provider that
      redelivers can try again.

    This asks ``verify`` for every well-formed callback, whatever its
    ``requestId``: anyone can make it spend the account's rate. A public
    endpoint should use :meth:`LoginGuard.receive_callback`, which asks only
    about logins this application started, once at a time.

    Logs name the ``requestId``, the statuses and the masked phone number.

    Args:
        client: The client that asks ``verify``.
        query: The callback's query parameters, as the web framework parsed them.
    """
    event = parse_callback(query)
    if isinstance(event, CallbackReply):
        return event

    async def check() -> VerifyStatus:
        return (await client.verify(event.request_id)).status

    return await confirm_callback(event, check)


def parse_callback(query: Mapping[str, str]) -> CallbackEvent | CallbackReply:
    """The callback's event, or the 400 ``error`` that answers a malformed one."""
    try:
        return CallbackEvent.from_query(query)
    except InvalidInputError as exc:
        _log.warning("rejected a malformed status callback: %s", exc)
        return CallbackReply(400, "error")


def describe(event: CallbackEvent) -> str:
    """The callback, for a log line: its ``requestId``, claim and masked phone."""
    phone = mask_phone(event.phone)
    return f"status callback for {event.request_id} ({event.status.value}, {phone})"


async def confirm_callback(
    event: CallbackEvent, check: Callable[[], Awaitable[VerifyStatus]]
) -> CallbackReply:
    """Answer ``event`` with the status ``check`` gives (``verify``'s, or one it
    remembers), never with the callback's own claim."""
    what = describe(event)
    try:
        status = await check()
    except RecordNotFoundError:
        _log.warning("%s: the provider knows no such login; ignored", what)
        return CallbackReply(200, "success", event.request_id)
    except NxCloudError as exc:
        _log.warning("%s: could not be confirmed: %s", what, exc)
        reply = error_reply(exc)
        return CallbackReply(reply.status, "error", event.request_id, headers=reply.headers)
    if not status.is_final:
        _log.info("%s: verify still says %s; not recorded", what, status.value)
        return CallbackReply(200, "success", event.request_id)
    if status is not event.status:
        _log.warning("%s: verify says %s; recording that", what, status.value)
    else:
        _log.info("%s: confirmed by verify", what)
    return CallbackReply(200, "success", event.request_id, status)
