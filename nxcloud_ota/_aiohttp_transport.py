"""An httpx transport backed by aiohttp's connection pool.

httpx's own pool scans every connection on every request, which collapses under
bulk concurrency; aiohttp's does not (see ``docs/performance.md``). httpx still
builds the request, runs the signing hook and parses the response: this module
only moves bytes, and maps aiohttp's failures onto httpx's exceptions by the one
distinction that matters for a billed call: could the request have been sent?

- pool wait exceeded            -> ``httpx.PoolTimeout``  (local saturation)
- connect / DNS / TLS failure   -> ``httpx.ConnectError`` / ``httpx.ConnectTimeout``
- disconnect, reset, bad answer -> ``httpx.RemoteProtocolError`` / ``httpx.ReadError``
- read timeout                  -> ``httpx.ReadTimeout``

Like httpx's own transport, it calls a request's ``trace`` extension once it
holds a connection and is about to write the request, with the event
``http11.send_request_headers.started``: the client's rate limiter grants the
request its turn there. Header names go out exactly as the request spells them
(``accessKey``, not ``accesskey``). The body comes back as it was on the wire,
still encoded: the caller decodes it within its cap, never httpx in one go.
"""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import Awaitable, Callable, Mapping

import aiohttp
import httpx
from aiohttp.connector import Connection

from ._deadline import ENDS_BY, Deadline, earliest, within
from ._decoding import RAW_BODY
from ._slots import Slots

__all__ = ["AiohttpTransport"]

_DROP_HEADERS = frozenset({b"host", b"content-length", b"transfer-encoding", b"connection"})
_MAX_HEADERS = 128
"""Header fields accepted in an answer (the API sends about ten): newer aiohttp
releases refuse more themselves, older ones do not."""


_AT_SEND: contextvars.ContextVar[Callable[[], Awaitable[None]] | None] = contextvars.ContextVar(
    "nxcloud_ota_at_send", default=None
)
"""What to await once the current task's request holds a connection, before it is written."""


class _Request(aiohttp.ClientRequest):
    """aiohttp's request, which first awaits :data:`_AT_SEND` when it has one."""

    async def send(self, conn: Connection) -> aiohttp.ClientResponse:
        """Write the request on ``conn``, once :data:`_AT_SEND` (if set) returns."""
        at_send = _AT_SEND.get()
        if at_send is not None:
            _AT_SEND.set(None)  # once, even if aiohttp sends again on another connection
            await at_send()
            if conn.protocol is None or not conn.protocol.is_connected():
                # The server closed the connection while the request waited.
                raise httpx.ConnectError("the connection closed before the request was sent")
        return await super().send(conn)


def _mapped(exc: BaseException, request: httpx.Request) -> httpx.TransportError:
    """The httpx exception that says what an aiohttp failure means for the request."""
    if isinstance(exc, aiohttp.ConnectionTimeoutError):
        return httpx.ConnectTimeout(str(exc), request=request)
    if isinstance(exc, aiohttp.ClientConnectorError):  # DNS, refused, TLS: before sending
        return httpx.ConnectError(str(exc), request=request)
    if isinstance(exc, aiohttp.SocketTimeoutError):
        return httpx.ReadTimeout(str(exc), request=request)
    if isinstance(exc, aiohttp.ServerDisconnectedError):  # may follow a sent request
        return httpx.RemoteProtocolError(str(exc) or "server disconnected", request=request)
    if isinstance(exc, aiohttp.ClientResponseError):
        return httpx.RemoteProtocolError(str(exc), request=request)
    if isinstance(exc, (aiohttp.InvalidURL, aiohttp.NonHttpUrlClientError)):
        return httpx.UnsupportedProtocol(str(exc), request=request)
    if isinstance(exc, aiohttp.ClientError):  # payload, OS errors and the rest
        return httpx.ReadError(str(exc), request=request)
    return httpx.ReadTimeout(str(exc) or "timed out", request=request)


class AiohttpTransport(httpx.AsyncBaseTransport):
    """Send httpx requests over an aiohttp connection pool.

    ``max_connections`` bounds the connections in use at once; a request that
    waits longer than the request's ``pool`` timeout for one raises
    ``httpx.PoolTimeout``. Idle connections are kept for ``keepalive_expiry``
    seconds. TLS is verified with httpx's default context. The aiohttp session is
    created on first use, inside the running event loop.

    A body is read whole (the API's answers are small) but never beyond
    ``max_body_bytes``: a larger one is cut there, its connection closed, and the
    response passed on with its headers, for the caller to refuse. Once a
    connection slot is held, connecting, sending and reading the whole answer
    take at most the request's ``read`` timeout, however slowly the server
    dribbles; past it, ``httpx.ReadTimeout``. Redirects are never followed.

    A request's ``trace`` extension (as httpx's own transport knows it) is
    called once, with ``http11.send_request_headers.started``, when the request
    holds a connection and is about to be written; the read timeout starts again
    when it returns, and the time it took is added to the deadline below, so a
    callback that waits (a rate limiter granting the request its turn) eats into
    neither. If the server closed the connection meanwhile, the request is not
    sent: ``httpx.ConnectError``.

    The client also gives each request the moment its call must end by (its
    ``RetryPolicy.deadline``), as the event loop's time in the
    ``nxcloud_ota.ends_by`` extension: neither the wait for a connection (a pool
    timeout, so "not sent") nor the attempt (a read timeout) goes past it.

    Args:
        max_connections: The most connections in use at once (>= 1);
            :meth:`grow_to` raises it.
        keepalive_expiry: Seconds an idle connection is kept for reuse.
        max_body_bytes: The most bytes of a response body read.
    """

    def __init__(
        self,
        *,
        max_connections: int = 100,
        keepalive_expiry: float = 15.0,
        max_body_bytes: int = 1 << 20,
    ) -> None:
        if max_connections < 1:
            raise ValueError("max_connections must be >= 1")
        self.max_connections: int = max_connections
        self.max_body_bytes = max_body_bytes
        self.keepalive_expiry = keepalive_expiry
        self._slots = Slots(max_connections)
        self._session: aiohttp.ClientSession | None = None
        self._timeouts: dict[float | None, aiohttp.ClientTimeout] = {}

    def __repr__(self) -> str:
        return f"AiohttpTransport(max_connections={self.max_connections})"

    def grow_to(self, max_connections: int) -> None:
        """Raise the connection limit (never lowers it): bulk runs size the pool.

        Args:
            max_connections: The new limit; a lower one than the current does
                nothing.
        """
        for _ in range(max_connections - self.max_connections):
            self._slots.release()
        self.max_connections = max(self.max_connections, max_connections)

    def _get_session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(
                limit=0,  # bounded by our own slots, which give a real pool timeout
                keepalive_timeout=self.keepalive_expiry,
                ssl=httpx.create_ssl_context(),
            )
            self._session = aiohttp.ClientSession(
                connector=connector,
                auto_decompress=False,
                cookie_jar=aiohttp.DummyCookieJar(),
                request_class=_Request,
            )
        return self._session

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """Send one request and return the whole response (the answers are small).

        Args:
            request: The request, with its ``timeout`` extension (httpx sets it).
        """
        timeouts = request.extensions.get("timeout", {})
        pool, read = timeouts.get("pool"), timeouts.get("read")
        ends_by = request.extensions.get(ENDS_BY)
        if ends_by is not None:  # the caller's deadline: no wait or read goes past it
            left = ends_by - asyncio.get_running_loop().time()
            pool = left if pool is None else min(pool, left)
            read = left if read is None else min(read, left)
        session = self._get_session()
        headers = [
            (name.decode("latin-1"), value.decode("latin-1"))
            for name, value in request.headers.raw
            if name.lower() not in _DROP_HEADERS
        ]
        body = await request.aread()
        # Not asyncio.wait_for: it can drop a cancellation or keep a slot (see _slots).
        if not await self._slots.acquire(pool):
            raise httpx.PoolTimeout("no free connection", request=request)
        trace = request.extensions.get("trace")
        try:
            # The one bound of connecting, sending and reading (aiohttp's own
            # sock_read would only repeat it, rescheduled at every chunk).
            async with within(read) as deadline:
                if trace is not None:
                    _AT_SEND.set(_at_send(trace, request, deadline, timeouts.get("read"), ends_by))
                async with session.request(
                    request.method,
                    str(request.url),
                    data=body or None,
                    headers=headers,
                    allow_redirects=False,
                    timeout=self._client_timeout(timeouts.get("connect")),
                ) as response:
                    if len(response.raw_headers) > _MAX_HEADERS:
                        response.close()
                        raise httpx.RemoteProtocolError(
                            f"the response has {len(response.raw_headers)} header fields, "
                            f"over the {_MAX_HEADERS} accepted",
                            request=request,
                        )
                    content = await self._read_body(response)
                    # A stream, not content=: httpx would decode content= whole, at once.
                    return httpx.Response(
                        response.status,
                        headers=response.raw_headers,
                        stream=httpx.ByteStream(content),
                        extensions={"http_version": b"HTTP/1.1", RAW_BODY: content},
                    )
        except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
            raise _mapped(exc, request) from exc
        finally:
            _AT_SEND.set(None)
            self._slots.release()

    def _client_timeout(self, connect: float | None) -> aiohttp.ClientTimeout:
        """aiohttp's timeouts for this value, made once (it rarely changes)."""
        timeout = self._timeouts.get(connect)
        if timeout is None:
            if len(self._timeouts) >= 32:  # values that keep changing: do not hoard them
                self._timeouts.clear()
            timeout = aiohttp.ClientTimeout(total=None, sock_connect=connect)
            self._timeouts[connect] = timeout
        return timeout

    async def _read_body(self, response: aiohttp.ClientResponse) -> bytes:
        limit = self.max_body_bytes
        declared = response.content_length
        if declared is not None:
            if declared > limit:
                response.close()  # not read: the connection cannot be reused
                return b""
            return await response.read()  # exactly the declared length
        body = bytearray()
        async for chunk in response.content.iter_any():
            body += chunk
            if len(body) > limit:
                response.close()
                break
        return bytes(body)

    async def aclose(self) -> None:
        """Close the aiohttp session and its connections."""
        if self._session is not None:
            await self._session.close()
            self._session = None


def _at_send(
    trace: Callable[[str, Mapping[str, object]], Awaitable[None]],
    request: httpx.Request,
    deadline: Deadline,
    read: float | None,
    ends_by: float | None,
) -> Callable[[], Awaitable[None]]:
    """Call ``trace`` as httpx's own transport does right before it writes the
    request, with the read bound off meanwhile and restarted after (never past
    ``ends_by``, moved by the time ``trace`` took)."""

    async def at_send() -> None:
        loop = asyncio.get_running_loop()
        deadline.reschedule(None)
        waited = loop.time()
        await trace("http11.send_request_headers.started", {"request": request})
        waited = loop.time() - waited
        # The callback's wait (for the request's turn) counts against nothing.
        deadline.reschedule(
            earliest(
                None if ends_by is None else ends_by + waited,
                None if read is None else loop.time() + read,
            )
        )

    return at_send
