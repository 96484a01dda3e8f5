"""Every promise held against a hostile server, over the default transport and httpx's own.

For each attack: the exact exception class, how many requests the server read
whole, and bounds on wall time and on the growth of resident memory that
separate a bug (minutes, gigabytes) from a loaded machine's noise. ``init`` is
billed and never resent once it may have started; ``verify`` retries (4
attempts here, no waits). Run alone with ``pytest -m hostile``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import attrs
import httpx
import pytest

import nxcloud_ota as ota
from nxcloud_ota.contrib.web import error_reply
from tests._hostile import (
    Conn,
    Meter,
    Script,
    deflate_bomb,
    gzip_bomb,
    gzip_gzip_bomb,
    head,
    hostile,
    length,
)
from tests._servers import free_port_refusing
from tests._support import ACCESS_KEY, ACCESS_SECRET, APP_KEY

pytestmark = [pytest.mark.anyio, pytest.mark.hostile]

PHONE, IP = "8615800001795", "203.0.113.7"
SECONDS, MEGABYTES = 10.0, 200.0
"""Generous: a bomb costs gigabytes and a drip minutes; a loaded machine, a fraction."""

JSON = b"Content-Type: application/json"
TRANSPORTS: dict[str, Callable[[], httpx.AsyncBaseTransport | None]] = {
    "aiohttp": lambda: None,  # the default
    "httpx": httpx.AsyncHTTPTransport,
}


def client(
    url: str, transport: str, *, timeout: float = 1.0, **options: object
) -> ota.AsyncOtaClient:
    settings: dict[str, object] = {"retry": ota.RetryPolicy.no_wait(max_attempts=4), **options}
    if "http_client" not in options:
        # A client passed in keeps its own timeout (a timeout beside it is refused).
        settings["transport"] = TRANSPORTS[transport]()
        settings["timeout"] = httpx.Timeout(timeout)
    return ota.AsyncOtaClient(
        access_key=ACCESS_KEY,
        access_secret=ACCESS_SECRET,
        app_key=APP_KEY,
        base_url=url,
        **settings,  # type: ignore[arg-type]
    )


async def outcome(c: ota.AsyncOtaClient, action: str) -> ota.NxCloudError | None:
    """Run one call; return the package error it raised, or None."""
    try:
        if action == "init":
            await c.init(PHONE, IP)
        else:
            await c.verify("r1")
    except ota.NxCloudError as exc:
        return exc
    return None


# --- the scripts -------------------------------------------------------------------


def answer(
    status: bytes, body: bytes | None = None, *lines: bytes, version: bytes = b"HTTP/1.1"
) -> Script:
    """Read a request and answer it whole (``body=None``: a valid envelope)."""

    async def script(conn: Conn) -> None:
        if await conn.read():
            content = conn.ok_body() if body is None else body
            await conn.send(head(status, JSON, *lines, length(content), version=version) + content)

    return script


async def reset_before_read(conn: Conn) -> None:
    conn.reset()


async def reset_after_read(conn: Conn) -> None:
    if await conn.read():
        conn.reset()


async def close_mid_body(conn: Conn) -> None:
    if await conn.read():
        await conn.send(head(b"200 OK", JSON, b"Content-Length: 200") + conn.ok_body()[:20])
        conn.writer.close()


async def header_drip(conn: Conn) -> None:
    """Half a byte a second: every read arrives before any read timeout, for minutes."""
    if await conn.read():
        body = conn.ok_body()
        await conn.drip(head(b"200 OK", JSON, length(body)) + body, 0.5)


async def body_drip(conn: Conn) -> None:
    if await conn.read():
        body = conn.ok_body()
        await conn.send(head(b"200 OK", JSON, length(body)))
        await conn.drip(body, 0.5)


async def endless_chunked(conn: Conn) -> None:
    if await conn.read():
        await conn.send(head(b"200 OK", JSON, b"Transfer-Encoding: chunked"))
        chunk = b"4000\r\n" + b"x" * 0x4000 + b"\r\n"
        while True:
            await conn.send(chunk)


async def huge_content_length(conn: Conn) -> None:
    if await conn.read():
        await conn.send(head(b"200 OK", JSON, b"Content-Length: 1000000000000") + b"x" * 1000)


def encoded(coding: bytes, build: Callable[[], bytes]) -> Script:
    async def script(conn: Conn) -> None:
        if await conn.read():
            body = build()
            await conn.send(
                head(b"200 OK", JSON, b"Content-Encoding: " + coding, length(body)) + body
            )

    return script


async def http10_close_delimited(conn: Conn) -> None:
    if await conn.read():
        await conn.send(head(b"200 OK", JSON, version=b"HTTP/1.0") + conn.ok_body())
        conn.writer.close()


async def continue_100(conn: Conn) -> None:
    if await conn.read():
        body = conn.ok_body()
        await conn.send(
            b"HTTP/1.1 100 Continue\r\n\r\n" + head(b"200 OK", JSON, length(body)) + body
        )


async def switching_101(conn: Conn) -> None:
    if await conn.read():
        await conn.send(
            head(b"101 Switching Protocols", b"Upgrade: websocket", b"Connection: Upgrade")
        )
        await conn.send(b"\x81\x05hello")
        conn.writer.close()


HTML = b"<html><body><h1>Bad Gateway</h1></body></html>"
TEN_THOUSAND_HEADERS = tuple(b"X-Filler-%05d: v" % i for i in range(10_000))

# --- the table ---------------------------------------------------------------------

Expected = tuple[tuple[type[ota.NxCloudError], ...] | None, int]
UNREADABLE_INIT: Expected = ((ota.UnreadableAnswerError,), 1)
UNREADABLE_VERIFY: Expected = ((ota.ProtocolError,), 4)
MAYBE_SENT_INIT: Expected = ((ota.RequestMaybeSentError,), 1)
MAYBE_SENT_VERIFY: Expected = ((ota.RequestMaybeSentError,), 4)
REFUSED_UNPROCESSED: Expected = ((ota.ProtocolError,), 4)
FINE: Expected = (None, 1)


@attrs.frozen
class Case:
    name: str
    script: Script
    init: Expected
    verify: Expected
    over_httpx: dict[str, Expected] = attrs.field(factory=dict)
    """Where httpx's own transport ends differently: action -> outcome."""


CASES = [
    Case(
        "reset before read",
        reset_before_read,
        # Refused while connecting (retried) or once written (maybe sent): timing decides.
        ((ota.ConnectionFailedError, ota.RequestMaybeSentError), 0),
        ((ota.ConnectionFailedError, ota.RequestMaybeSentError), 0),
    ),
    Case("reset after read", reset_after_read, MAYBE_SENT_INIT, MAYBE_SENT_VERIFY),
    Case("close mid-body", close_mid_body, MAYBE_SENT_INIT, MAYBE_SENT_VERIFY),
    Case("header drip", header_drip, MAYBE_SENT_INIT, MAYBE_SENT_VERIFY),
    Case("body drip", body_drip, MAYBE_SENT_INIT, MAYBE_SENT_VERIFY),
    Case("endless chunked body", endless_chunked, UNREADABLE_INIT, UNREADABLE_VERIFY),
    Case("huge Content-Length", huge_content_length, UNREADABLE_INIT, UNREADABLE_VERIFY),
    Case("gzip bomb", encoded(b"gzip", gzip_bomb), UNREADABLE_INIT, UNREADABLE_VERIFY),
    Case("deflate bomb", encoded(b"deflate", deflate_bomb), UNREADABLE_INIT, UNREADABLE_VERIFY),
    Case(
        "gzip, gzip bomb",
        encoded(b"gzip, gzip", gzip_gzip_bomb),
        UNREADABLE_INIT,
        UNREADABLE_VERIFY,
    ),
    Case(
        "brotli refused",
        encoded(b"br", lambda: b"\x0b\x02\x80"),
        UNREADABLE_INIT,
        UNREADABLE_VERIFY,
    ),
    Case(
        "invalid UTF-8",
        answer(b"200 OK", b'{"code":0,"msg":"\xff\xfe","data":{"requestId":"r1"}}'),
        UNREADABLE_INIT,
        UNREADABLE_VERIFY,
    ),
    Case(
        "NaN code",
        answer(b"200 OK", b'{"code":NaN,"msg":"ok"}'),
        UNREADABLE_INIT,
        UNREADABLE_VERIFY,
    ),
    Case(
        "100,000-deep JSON",
        answer(b"200 OK", b"[" * 100_000 + b"]" * 100_000),
        UNREADABLE_INIT,
        UNREADABLE_VERIFY,
    ),
    Case("HTML 502", answer(b"502 Bad Gateway", HTML), UNREADABLE_INIT, UNREADABLE_VERIFY),
    Case(
        "HTML 503",
        answer(b"503 Service Unavailable", HTML),
        REFUSED_UNPROCESSED,
        REFUSED_UNPROCESSED,
    ),
    Case("HTML 504", answer(b"504 Gateway Timeout", HTML), UNREADABLE_INIT, UNREADABLE_VERIFY),
    Case(
        "HTML 429",
        answer(b"429 Too Many Requests", HTML),
        REFUSED_UNPROCESSED,
        REFUSED_UNPROCESSED,
    ),
    Case("HTTP/1.0 close-delimited", http10_close_delimited, FINE, FINE),
    # Both HTTP parsers refuse a head that large, as a protocol error.
    Case(
        "10,000 headers",
        answer(b"200 OK", None, *TEN_THOUSAND_HEADERS),
        MAYBE_SENT_INIT,
        MAYBE_SENT_VERIFY,
    ),
    Case("100 Continue", continue_100, FINE, FINE),
    Case(
        "101 Switching Protocols",
        switching_101,
        UNREADABLE_INIT,
        UNREADABLE_VERIFY,
        # httpx's own transport refuses the protocol switch itself.
        over_httpx={"init": MAYBE_SENT_INIT, "verify": MAYBE_SENT_VERIFY},
    ),
]


@pytest.fixture(scope="module", autouse=True)
def _bombs_built() -> None:
    """Build the bombs once, before any clock starts (a gibibyte takes seconds to compress)."""
    gzip_gzip_bomb()
    deflate_bomb()


@pytest.mark.parametrize("transport", list(TRANSPORTS))
@pytest.mark.parametrize("action", ["init", "verify"])
@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
async def test_attack(case: Case, action: str, transport: str) -> None:
    """The attack ends in the documented error, with the documented number of requests,
    within seconds and megabytes."""
    errors, requests = (
        case.over_httpx.get(action)
        if transport == "httpx" and action in case.over_httpx
        else (case.init if action == "init" else case.verify)
    )
    async with hostile(case.script) as server, client(server.url, transport) as c:
        with Meter().measure() as meter:
            error = await outcome(c, action)
    if errors is None:
        assert error is None
    else:
        assert type(error) in errors, repr(error)
    assert len(server.requests) == requests
    assert meter.seconds < SECONDS
    assert meter.peak_growth_mb < MEGABYTES


# --- one test per promise, each failing without its fix ------------------------------


async def test_gzip_gzip_bomb_is_small_on_the_wire() -> None:
    """The "gzip, gzip" case above sends 1,827 bytes that decode to a gibibyte."""
    assert len(gzip_gzip_bomb()) == 1827


async def drip_one_byte_a_second(conn: Conn) -> None:
    if await conn.read():
        body = conn.ok_body()
        await conn.drip(head(b"200 OK", JSON, length(body)) + body, 1.0)


@pytest.mark.parametrize("transport", list(TRANSPORTS))
async def test_timeout_bounds_an_attempt(transport: str) -> None:
    """With timeout=2.0 a one-byte-a-second server makes init raise within 3 s, after one
    request, over either transport: the read timeout bounds the attempt, not each read."""
    async with (
        hostile(drip_one_byte_a_second) as server,
        client(server.url, transport, timeout=2.0) as c,
    ):
        with Meter().measure() as meter:
            error = await asyncio.wait_for(outcome(c, "init"), 60)
    assert type(error) is ota.RequestMaybeSentError
    assert len(server.requests) == 1
    assert meter.seconds < 3.0


@pytest.mark.parametrize("transport", list(TRANSPORTS))
async def test_deadline_bounds_the_call_with_an_attempt_in_flight(transport: str) -> None:
    """RetryPolicy.deadline ends a call whose attempt is still reading a drip, long before
    its 30 s read timeout."""
    policy = ota.RetryPolicy(max_attempts=4, initial_wait=0.0, max_wait=0.0, deadline=1.5)
    async with (
        hostile(header_drip) as server,
        client(server.url, transport, timeout=30.0, retry=policy) as c,
    ):
        with Meter().measure() as meter:
            error = await asyncio.wait_for(outcome(c, "verify"), 60)
    assert type(error) is ota.RequestMaybeSentError
    assert len(server.requests) == 1
    assert meter.seconds < 5.0


UNREADABLE = [
    ("HTML 502", b"502 Bad Gateway", HTML),
    ("HTML 504", b"504 Gateway Timeout", HTML),
    ("200 that is no envelope", b"200 OK", HTML),
    ('code "0" as a string', b"200 OK", b'{"code":"0","msg":"ok","data":{"requestId":"r1"}}'),
    ("code 0 with data null", b"200 OK", b'{"code":0,"msg":"ok","data":null}'),
]


@pytest.mark.parametrize(
    ("status", "body"), [u[1:] for u in UNREADABLE], ids=[u[0] for u in UNREADABLE]
)
async def test_unreadable_init_answer_says_a_login_may_have_started(
    status: bytes, body: bytes
) -> None:
    """An init answered with anything but a valid envelope raises an error that is both a
    RequestMaybeSentError (reconcile) and a ProtocolError (status, excerpt), sent once,
    and a web backend answers it as "a login may have started"."""
    async with hostile(answer(status, body)) as server, client(server.url, "aiohttp") as c:
        error = await outcome(c, "init")
    assert isinstance(error, ota.RequestMaybeSentError)
    assert isinstance(error, ota.ProtocolError)
    assert (error.status_code, error.phone_masked) == (int(status[:3]), "8615800****95")
    assert error.excerpt.startswith(body[:10].decode())
    assert error.ts is not None
    assert len(server.requests) == 1
    assert error_reply(error).body["error"] == "login_may_have_started"


async def code_9908(conn: Conn) -> None:
    if await conn.read():
        body = b'{"code":9908,"msg":"balance"}'
        await conn.send(head(b"200 OK", JSON, length(body)) + body)


async def test_failures_that_started_nothing_never_say_maybe() -> None:
    """Bad input, a refused connection and a documented error code never raise
    RequestMaybeSentError."""
    async with hostile(code_9908) as server, client(server.url, "aiohttp") as c:
        documented = await outcome(c, "init")
        try:
            await c.init("not a phone", IP)
        except ota.NxCloudError as exc:
            invalid: ota.NxCloudError | None = exc
    async with client(free_port_refusing(), "aiohttp") as c:
        refused = await outcome(c, "init")
    assert type(documented) is ota.InsufficientBalanceError
    assert type(invalid) is ota.InvalidInputError
    assert type(refused) is ota.ConnectionFailedError
    assert len(server.requests) == 1


REDIRECTS = [
    b"301 Moved Permanently",
    b"302 Found",
    b"307 Temporary Redirect",
    b"308 Permanent Redirect",
]


@pytest.mark.parametrize("status", REDIRECTS, ids=[r[:3].decode() for r in REDIRECTS])
@pytest.mark.parametrize("via", ["aiohttp", "httpx", "http_client(follow_redirects=True)"])
@pytest.mark.parametrize("action", ["init", "verify"])
async def test_redirect_is_never_followed(status: bytes, via: str, action: str) -> None:
    """A 3xx is an error, sent once and never followed, even by a client told to follow
    redirects: the signed headers and body never reach the other host."""
    async with hostile(answer(b"200 OK")) as elsewhere:
        location = f"{elsewhere.url}/api/ota/{action}".encode()
        async with hostile(answer(status, b"", b"Location: " + location)) as server:
            own = httpx.AsyncClient(follow_redirects=True) if via.startswith("http_") else None
            options = {} if own is None else {"http_client": own}
            async with client(server.url, via, **options) as c:
                error = await outcome(c, action)
            if own is not None:
                await own.aclose()
    assert type(error) is (ota.UnreadableAnswerError if action == "init" else ota.ProtocolError)
    assert isinstance(error, ota.ProtocolError)
    assert error.status_code == int(status[:3])
    assert len(server.requests) == 1
    assert elsewhere.requests == []


@pytest.mark.parametrize("transport", list(TRANSPORTS))
async def test_header_names_on_the_wire(transport: str) -> None:
    """The request's header names are on the wire exactly as the provider documents them."""
    async with (
        hostile(answer(b"200 OK")) as server,
        client(server.url, transport, algorithm="sha256") as c,
    ):
        await c.init(PHONE, IP)
    request_head = server.requests[0].split(b"\r\n\r\n")[0]
    names = {line.split(b":")[0] for line in request_head.split(b"\r\n")[1:]}
    documented = {
        b"accessKey",
        b"ts",
        b"bizType",
        b"action",
        b"sign",
        b"algorithm",
        b"Content-Type",
    }
    assert documented <= names, names
    assert b"\r\nAccept-Encoding: identity\r\n" in request_head
