"""The provider's status callback: parse it, then confirm it with ``verify``."""

from __future__ import annotations

import logging
from collections.abc import Mapping

import attrs

from ..._client import AsyncOtaClient
from ..._errors import InvalidInputError, NxCloudError, RecordNotFoundError
from ..._models import CallbackEvent, VerifyStatus
from ..._validation import mask_phone
from ._replies import error_reply

__all__ = ["CallbackReply", "receive_callback"]

_log = logging.getLogger("nxcloud_ota.contrib.web")


@attrs.frozen
class CallbackReply:
    """How a status callback was handled.

    Answer the provider with ``text`` (``success`` or ``error``) and HTTP
    ``status``. Record ``confirmed`` for ``request_id`` when it is not ``None``:
    it is ``verify``'s final answer, never the callback's unsigned claim.
    """

    status: int
    text: str
    request_id: str | None = None
    confirmed: VerifyStatus | None = None


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

    Logs name the ``requestId``, the statuses and the masked phone number.
    """
    try:
        event = CallbackEvent.from_query(query)
    except InvalidInputError as exc:
        _log.warning("rejected a malformed status callback: %s", exc)
        return CallbackReply(400, "error")
    phone = mask_phone(event.phone)
    what = f"status callback for {event.request_id} ({event.status.value}, {phone})"
    try:
        checked = await client.verify(event.request_id)
    except RecordNotFoundError:
        _log.warning("%s: the provider knows no such login; ignored", what)
        return CallbackReply(200, "success", event.request_id)
    except NxCloudError as exc:
        _log.warning("%s: could not be confirmed: %s", what, exc)
        return CallbackReply(error_reply(exc).status, "error", event.request_id)
    if not checked.status.is_final:
        _log.warning("%s: verify still says %s; not recorded", what, checked.status.value)
        return CallbackReply(200, "success", event.request_id)
    if checked.status is not event.status:
        _log.warning("%s: verify says %s; recording that", what, checked.status.value)
    else:
        _log.info("%s: confirmed by verify", what)
    return CallbackReply(200, "success", event.request_id, checked.status)
