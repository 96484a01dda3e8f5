"""Fault injection: each way a server can misbehave, with the exact outcome.

For every fault: the error class raised (or none), and how many requests reached
the server, for ``init`` (billed, retried only when nothing can have started) and
for ``verify`` (retried on anything transient). ``max_attempts`` is 3.
"""

from __future__ import annotations

import asyncio
import socket
import struct

import httpx
import pytest

import nxcloud_ota as ota
from tests._servers import OK_BODY, Behaviour, hang_up, http_response, serve
from tests._support import ACCESS_KEY, ACCESS_SECRET, APP_KEY

pytestmark = pytest.mark.anyio

VERIFY_OK = b'{"code":0,"msg":"ok","data":{"requestId":"r1","status":"SUCCESS"}}'


def answer(body: bytes, **options: bytes) -> Behaviour:
    async def behaviour(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(http_response(body, **options))
        await writer.drain()

    return behaviour


async def reset_after_reading(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """A TCP reset (RST) once the request was read: a connection reset mid-exchange."""
    sock = writer.get_extra_info("socket")
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.close()


async def truncated(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Headers promise 200 bytes; 20 arrive, then the connection closes."""
    writer.write(
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 200\r\n\r\n"
        + OK_BODY[:20]
    )
    await writer.drain()
    writer.close()


def both(body: bytes) -> tuple[Behaviour, Behaviour]:
    """The same fault for init and for verify."""
    return answer(body), answer(body)


# name, (init and verify behaviours), init error, init requests, verify error, verify requests
FAULTS = [
    (
        "reset after the request",
        (reset_after_reading,) * 2,
        ota.RequestMaybeSentError,
        1,
        ota.RequestMaybeSentError,
        3,
    ),
    (
        "close without answering",
        (hang_up,) * 2,
        ota.RequestMaybeSentError,
        1,
        ota.RequestMaybeSentError,
        3,
    ),
    (
        "body cut short",
        (truncated,) * 2,
        ota.RequestMaybeSentError,
        1,
        ota.RequestMaybeSentError,
        3,
    ),
    ("truncated JSON", both(OK_BODY[:30]), ota.ProtocolError, 1, ota.ProtocolError, 3),
    (
        "HTML 502 from a gateway",
        (answer(b"<html><h1>502 Bad Gateway</h1></html>", status=b"502 Bad Gateway"),) * 2,
        ota.ProtocolError,
        1,
        ota.ProtocolError,
        3,
    ),
    (
        "HTML 503, not processed",
        (answer(b"<html>busy</html>", status=b"503 Service Unavailable"),) * 2,
        ota.ProtocolError,
        3,
        ota.ProtocolError,
        3,
    ),
    (
        "invalid UTF-8",
        both(b'{"code":0,"msg":"\xff\xfe","data":'),
        ota.ProtocolError,
        1,
        ota.ProtocolError,
        3,
    ),
    (
        "no data.requestId",
        both(b'{"code":0,"msg":"ok","data":{"url":"https://u"}}'),
        ota.ProtocolError,
        1,
        ota.ProtocolError,
        3,
    ),
    (
        "valid answer labelled text/html",
        (
            answer(OK_BODY, content_type=b"text/html"),
            answer(VERIFY_OK, content_type=b"text/html"),
        ),
        None,
        1,
        None,
        1,
    ),
]


def client(base_url: str) -> ota.AsyncOtaClient:
    return ota.AsyncOtaClient(
        access_key=ACCESS_KEY,
        access_secret=ACCESS_SECRET,
        app_key=APP_KEY,
        base_url=base_url,
        retry=ota.RetryPolicy.no_wait(max_attempts=3),
        timeout=httpx.Timeout(5.0),
    )


@pytest.mark.parametrize(
    ("fault", "behaviours", "init_error", "init_sent", "verify_error", "verify_sent"),
    FAULTS,
    ids=[f[0] for f in FAULTS],
)
async def test_fault(
    fault: str,
    behaviours: tuple[Behaviour, Behaviour],
    init_error: type[Exception] | None,
    init_sent: int,
    verify_error: type[Exception] | None,
    verify_sent: int,
) -> None:
    """The fault gives the documented error; init is never resent once it may have started."""
    for call, behaviour, error, sent in (
        ("init", behaviours[0], init_error, init_sent),
        ("verify", behaviours[1], verify_error, verify_sent),
    ):
        async with serve(behaviour) as server, client(server.url) as c:
            run = c.init("8615800001795", "203.0.113.7") if call == "init" else c.verify("r1")
            if error is None:
                await run
            else:
                with pytest.raises(error):
                    await run
        assert server.requests == sent, f"{fault}: {call}"


async def test_reset_on_accept() -> None:
    """A server that resets every connection on accept, before reading a byte: verify
    tries all its attempts.

    (For init the outcome depends on timing that no client controls: the reset
    arrives either while aiohttp still counts the connection as being made, a
    connect failure, retried because nothing was sent; or once the request was
    written, a maybe-sent failure, not retried. Both paths are tested above and
    in test_transport.py: "reset after the request" and "connection refused".)
    """
    call, connections = "verify", 3
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    listener.setblocking(False)
    accepted = 0

    async def reset_all() -> None:
        nonlocal accepted
        loop = asyncio.get_running_loop()
        while True:
            conn, _ = await loop.sock_accept(listener)
            accepted += 1
            conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            conn.close()

    resetter = asyncio.create_task(reset_all())
    try:
        async with client(f"http://127.0.0.1:{listener.getsockname()[1]}") as c:
            with pytest.raises(ota.RequestMaybeSentError):
                await (
                    c.init("8615800001795", "203.0.113.7") if call == "init" else c.verify("r1")
                )
    finally:
        resetter.cancel()
        listener.close()
    assert accepted == connections
