"""``client.with_options``: one-use clients that share the original's pool, limiter and clock."""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest

import nxcloud_ota as ota
from nxcloud_ota.testing import FakeNxCloud
from tests._servers import answer_ok, serve
from tests._support import ACCESS_KEY, ACCESS_SECRET, APP_KEY, Recorder, envelope, init_ok

pytestmark = pytest.mark.anyio

PHONE, IP = "8615800001795", "203.0.113.7"
ONE_TRY = ota.RetryPolicy(max_attempts=1)


def client_on(transport: httpx.AsyncBaseTransport | None, base_url: str) -> ota.AsyncOtaClient:
    return ota.AsyncOtaClient(
        access_key=ACCESS_KEY,
        access_secret=ACCESS_SECRET,
        app_key=APP_KEY,
        base_url=base_url,
        transport=transport,
        retry=ota.RetryPolicy.no_wait(),
    )


async def never_answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Read the request, then wait for the client to give up and close."""
    await reader.read()


async def test_calls_through_a_twin_reuse_the_originals_connection() -> None:
    """Original, twin, original: three calls over one TCP connection (one pool), and closing
    the twin leaves the pool open."""
    async with serve(answer_ok) as server, client_on(None, server.url) as client:
        await client.init(PHONE, IP)
        quick = client.with_options(timeout=5.0, retry=ONE_TRY)
        await quick.init(PHONE, IP)
        await quick.aclose()
        await client.init(PHONE, IP)
    assert (server.connections, server.requests) == (1, 3)


async def test_a_twins_timeout_applies_to_its_calls_only() -> None:
    """Against a server that never answers, a twin with timeout=0.2 gives up in well under the
    original's 10 s; the original keeps its own timeout."""
    async with serve(never_answer) as server, client_on(None, server.url) as client:
        quick = client.with_options(timeout=0.2, retry=ONE_TRY)
        started = time.monotonic()
        with pytest.raises(ota.RequestMaybeSentError):
            await quick.verify("r1")
        assert time.monotonic() - started < 8.0
    assert client.timeout is ota.DEFAULT_TIMEOUT
    assert quick.timeout == 0.2


async def test_a_twins_retry_policy_applies_to_its_calls_only() -> None:
    """On a 99 answer, the twin with max_attempts=1 sends once; the original retries."""
    recorder = Recorder(envelope(99))
    async with client_on(recorder.transport, "https://api.test") as client:
        with pytest.raises(ota.InternalServerError):
            await client.with_options(retry=ONE_TRY).verify("r1")
        assert len(recorder.requests) == 1
        with pytest.raises(ota.InternalServerError):
            await client.verify("r1")
        assert len(recorder.requests) > 2
    assert client.retry == ota.RetryPolicy.no_wait()


async def test_a_2206_seen_by_a_twin_slows_the_original() -> None:
    """The rate limiter is one object: a 2206 answered to a twin sets the original's rate."""
    recorder = Recorder(init_ok(), envelope(2206))
    async with client_on(recorder.transport, "https://api.test") as client:
        await client.init(PHONE, IP)
        quick = client.with_options(retry=ONE_TRY)
        assert isinstance(client.rate_limiter, ota.AdaptiveRateLimiter)
        assert client.rate_limiter.rate is None
        with pytest.raises(ota.RateLimitedError):
            await quick.verify("r")
        assert quick.rate_limiter is client.rate_limiter
        assert client.rate_limiter.rate is not None


async def test_a_clock_correction_learnt_by_a_twin_serves_the_original(
    nxcloud_fake: FakeNxCloud, nxcloud_client: ota.AsyncOtaClient
) -> None:
    """A twin corrects a 2-minute skew after one 1004; the original then signs in time at once."""
    nxcloud_fake.clock_offset_ms = 120_000
    await nxcloud_client.with_options(timeout=5.0).init(PHONE, IP)
    assert [r.code for r in nxcloud_fake.requests] == [1004, 0]
    assert nxcloud_client.clock_offset_ms == pytest.approx(120_000, abs=1500)
    await nxcloud_client.init(PHONE, IP)
    assert [r.code for r in nxcloud_fake.requests] == [1004, 0, 0]


def test_making_a_twin_is_cheap() -> None:
    """Ten thousand twins take well under the seconds a per-request pool would (~20 us each)."""
    client = client_on(httpx.MockTransport(lambda request: httpx.Response(200)), "https://a.test")
    started = time.perf_counter()
    for _ in range(10_000):
        client.with_options(timeout=2.0, retry=ONE_TRY)
    assert time.perf_counter() - started < 5.0


async def test_none_keeps_the_originals_options_and_timeout_none_is_not_no_timeout() -> None:
    """with_options() keeps both options; httpx.Timeout(None) is how to turn timeouts off."""
    client = client_on(Recorder().transport, "https://api.test")
    same = client.with_options()
    assert (same.timeout, same.retry) == (client.timeout, client.retry)
    off = client.with_options(timeout=httpx.Timeout(None))
    await off.init(PHONE, IP)
    assert off.timeout == httpx.Timeout(None)
