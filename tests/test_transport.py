from __future__ import annotations

import asyncio
import gc
import gzip

import httpx
import httpx_aiohttp
import pytest

import nxcloud_ota as ota
from tests._servers import (
    OK_BODY,
    answer_ok,
    free_port_refusing,
    hang_up,
    http_response,
    serve,
)
from tests._support import ACCESS_KEY, ACCESS_SECRET, APP_KEY

pytestmark = pytest.mark.anyio


def client(base_url: str, **options: object) -> ota.AsyncOtaClient:
    return ota.AsyncOtaClient(
        access_key=ACCESS_KEY,
        access_secret=ACCESS_SECRET,
        app_key=APP_KEY,
        base_url=base_url,
        retry=ota.RetryPolicy.no_wait(),
        **options,  # type: ignore[arg-type]
    )


async def test_default_transport_is_aiohttp_and_round_trips() -> None:
    """With no transport given, calls go through AiohttpTransport and succeed."""
    async with serve(answer_ok) as server, client(server.url) as c:
        assert isinstance(c._transport, ota.AiohttpTransport)
        result = await c.init("8615800001795", "203.0.113.7")
    assert result.request_id == "r1"
    assert server.requests == 1


async def test_gzip_answers_are_decoded() -> None:
    """A gzip-encoded answer is decoded like httpx's own transport would."""

    async def gzipped(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(http_response(gzip.compress(OK_BODY), extra=b"Content-Encoding: gzip\r\n"))
        await writer.drain()

    async with serve(gzipped) as server, client(server.url) as c:
        assert (await c.init("8615800001795", "203.0.113.7")).url == "https://u/r1"


@pytest.mark.parametrize(
    "transport",
    [
        ota.AiohttpTransport,
        httpx.AsyncHTTPTransport,
        # This one reports a disconnect after sending as httpx.ConnectTimeout.
        httpx_aiohttp.AiohttpTransport,
    ],
    ids=["ours", "httpx", "httpx_aiohttp"],
)
async def test_init_is_not_resent_after_a_disconnect_whatever_the_transport(transport) -> None:  # type: ignore[no-untyped-def]
    """A server that reads init and hangs up gets it once: RequestMaybeSentError, no retry."""
    async with serve(hang_up) as server, client(server.url, transport=transport()) as c:
        with pytest.raises(ota.RequestMaybeSentError, match="may have started"):
            await c.init("8615800001795", "203.0.113.7")
    assert server.requests == 1


async def test_verify_is_retried_after_a_disconnect() -> None:
    """verify is idempotent: after a hang-up it is sent again and succeeds."""
    calls = 0

    async def first_hang_up(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal calls
        calls += 1
        if calls == 1:
            writer.close()
        else:
            body = b'{"code":0,"msg":"ok","data":{"requestId":"r1","status":"SUCCESS"}}'
            writer.write(http_response(body))
            await writer.drain()

    async with serve(first_hang_up) as server, client(server.url) as c:
        assert (await c.verify("r1")).status is ota.VerifyStatus.SUCCESS
    assert server.requests == 2


async def test_refused_connection_is_never_sent_and_retried() -> None:
    """Connection refused maps to ConnectionFailedError after every attempt was tried."""
    async with client(free_port_refusing()) as c:
        with pytest.raises(ota.ConnectionFailedError) as info:
            await c.init("8615800001795", "203.0.113.7")
    assert isinstance(info.value.__cause__, httpx.ConnectError)
    assert "not sent" in str(info.value)


async def test_read_timeout_is_maybe_sent() -> None:
    """A server that never answers gives a read timeout: init raises RequestMaybeSentError."""
    release = asyncio.Event()

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await release.wait()

    async with (
        serve(silent) as server,
        client(server.url, timeout=httpx.Timeout(5, read=0.05)) as c,
    ):
        with pytest.raises(ota.RequestMaybeSentError) as info:
            await c.init("8615800001795", "203.0.113.7")
        release.set()
    assert isinstance(info.value.__cause__, httpx.ReadTimeout)
    assert server.requests == 1


async def test_pool_timeout_when_every_connection_is_busy() -> None:
    """With one connection held busy, a second call waits for the pool and gives up."""
    release = asyncio.Event()
    arrived = asyncio.Event()

    async def held(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        arrived.set()
        await release.wait()
        writer.write(http_response(OK_BODY))
        await writer.drain()

    transport = ota.AiohttpTransport(max_connections=1)
    timeout = httpx.Timeout(5, pool=0.05)
    async with (
        serve(held) as server,
        client(server.url, transport=transport, timeout=timeout) as c,
    ):
        first = asyncio.create_task(c.init("8615800001795", "203.0.113.7"))
        await arrived.wait()
        with pytest.raises(ota.PoolTimeoutError, match="pool"):
            await c.init("8615800001796", "203.0.113.7")
        release.set()
        assert (await first).request_id == "r1"
    assert server.requests == 1


async def test_init_many_grows_the_pool_to_its_concurrency() -> None:
    """A bulk run at concurrency 5 over a pool of 2 runs 5 requests at once."""
    release = asyncio.Event()
    held = 0

    async def hold(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal held
        held += 1
        if held == 5:
            release.set()
        await release.wait()
        writer.write(http_response(OK_BODY))
        await writer.drain()

    transport = ota.AiohttpTransport(max_connections=2)
    async with serve(hold) as server, client(server.url, transport=transport) as c:
        items = [(f"86158000017{i:02d}", "203.0.113.7") for i in range(5)]
        outcomes = [o async for o in c.init_many(items, concurrency=5)]
    assert all(o.ok for o in outcomes)
    assert transport.max_connections == 5


async def test_a_deadline_reached_waiting_for_a_connection_says_not_sent() -> None:
    """A call whose RetryPolicy.deadline passes while it waits for a connection (the
    pool timeout is longer) fails as not sent, and nothing of it reaches the server."""
    release = asyncio.Event()
    arrived = asyncio.Event()

    async def held(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        arrived.set()
        await release.wait()
        writer.write(http_response(OK_BODY))
        await writer.drain()

    async with (
        serve(held) as server,
        ota.AsyncOtaClient(
            access_key=ACCESS_KEY,
            access_secret=ACCESS_SECRET,
            app_key=APP_KEY,
            base_url=server.url,
            transport=ota.AiohttpTransport(max_connections=1),
            timeout=httpx.Timeout(60),
            retry=ota.RetryPolicy(max_attempts=1, deadline=0.2),
        ) as c,
    ):
        patient = c.with_options(retry=ota.RetryPolicy(max_attempts=1, deadline=None))
        first = asyncio.create_task(patient.init("8615800001795", "203.0.113.7"))
        await arrived.wait()
        with pytest.raises(ota.PoolTimeoutError) as info:
            await c.init("8615800001796", "203.0.113.7")
        release.set()
        assert (await first).request_id == "r1"
    assert not isinstance(info.value, ota.RequestMaybeSentError)
    assert server.requests == 1


async def test_calls_leave_nothing_for_the_cycle_collector() -> None:
    """Over the default transport, a call's request, response and bookkeeping are
    freed as soon as it returns (no reference cycle), so bulk runs do not feed the
    cycle collector."""
    async with serve(answer_ok) as server, client(server.url) as c:
        await c.init("8615800001795", "203.0.113.7")  # the pool and caches, made once
        gc.collect()
        gc.disable()
        try:
            for _ in range(50):
                await c.init("8615800001795", "203.0.113.7")
            garbage = gc.collect()
        finally:
            gc.enable()
    assert garbage == 0
