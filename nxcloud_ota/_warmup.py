"""Opening connections ahead of the first call (``AsyncOtaClient.warm_up``).

A process that starts cold opens a connection as each of its first requests
leaves: the requests wait for the rate limiter, then for the connection's set-up,
and on a busy machine reach the provider bunched together, late, where a rate
limit counts them. Opened beforehand, the connections are idle in the pool, and
a request paced by the limiter is on the wire at once.
"""

from __future__ import annotations

import asyncio
import logging

import httpx

__all__ = ["open_connections"]

_log = logging.getLogger("nxcloud_ota")


async def open_connections(http: httpx.AsyncClient, url: str, connections: int) -> int:
    """Send ``connections`` concurrent ``HEAD`` requests to ``url`` (unsigned: no API
    call, nothing billed or counted) and return how many were answered, whatever
    the status. Each answered one leaves its connection in the pool, if the
    server keeps connections alive; failures are logged (one line), not raised."""

    results = await asyncio.gather(
        *(http.request("HEAD", url) for _ in range(connections)), return_exceptions=True
    )
    failures = [result for result in results if isinstance(result, BaseException)]
    for failure in failures:
        if not isinstance(failure, httpx.HTTPError):
            raise failure  # not a connection's failure: a bug, or a cancellation
    if failures:
        _log.warning(
            "warm-up: %d of %d connections to %s failed (%s)",
            len(failures),
            connections,
            url,
            type(failures[0]).__name__,
        )
    return connections - len(failures)
