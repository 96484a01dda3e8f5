"""Delivering the status callback: a POST with the parameters in the query string."""

from __future__ import annotations

import logging
from collections.abc import Mapping

import httpx

__all__ = ["CALLBACK_TIMEOUT", "deliver_callback"]

CALLBACK_TIMEOUT = 10.0
"""Seconds the simulator waits for the receiver of a status callback."""

logger = logging.getLogger("nxcloud_ota.testing")


class _Borrowed(httpx.AsyncBaseTransport):
    """Lend a caller's transport to a short-lived client without closing it."""

    def __init__(self, transport: httpx.AsyncBaseTransport) -> None:
        self._transport = transport

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        return await self._transport.handle_async_request(request)


async def deliver_callback(
    url: str,
    params: Mapping[str, str],
    *,
    transport: httpx.AsyncBaseTransport | None = None,
    timeout: float = CALLBACK_TIMEOUT,
) -> bool:
    """POST the callback to ``url``; ``True`` if the receiver answered ``success``.

    Every failure (connection error, timeout, an HTTP error status, another answer
    than ``success``) is logged as a warning on ``nxcloud_ota.testing`` and
    returns ``False``: a broken receiver never crashes the simulator. The log names
    the ``requestId`` and status, never the phone number.
    """
    what = f"status callback for {params.get('requestId')} ({params.get('status')})"
    borrowed = None if transport is None else _Borrowed(transport)
    try:
        async with httpx.AsyncClient(transport=borrowed, timeout=timeout) as client:
            # Merge, keeping any query the receiver's url already has.
            target = httpx.URL(url).copy_merge_params(dict(params))
            response = await client.post(target)
    except Exception as exc:
        logger.warning("%s to %s failed: %r", what, url, exc)
        return False
    answer = response.text.strip()
    if response.status_code != 200 or answer != "success":
        logger.warning(
            "%s to %s was not accepted: HTTP %d, %r",
            what,
            url,
            response.status_code,
            answer[:80],
        )
        return False
    return True
