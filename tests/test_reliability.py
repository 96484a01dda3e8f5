"""Clock skew, event loops, size caps, plain http, hooks and cancellation."""

from __future__ import annotations

import asyncio
import sys

import httpx
import pytest

import nxcloud_ota as ota
from nxcloud_ota._clock import ClockSync
from nxcloud_ota.testing import FakeNxCloud
from tests._servers import OK_BODY, http_response, serve
from tests._support import (
    ACCESS_KEY,
    ACCESS_SECRET,
    APP_KEY,
    NoLimit,
    Recorder,
    envelope,
    init_ok,
)

pytestmark = pytest.mark.anyio

T0 = 1_700_000_000.0  # Tue, 14 Nov 2023 22:13:20 GMT
PHONE, IP = "8615800001795", "203.0.113.7"


def simulated(fake: FakeNxCloud, **options: object) -> ota.AsyncOtaClient:
    """A client with the simulator's credentials, talking to it in process."""
    return client_for(
        httpx.ASGITransport(app=fake),
        access_key=fake.access_key,
        access_secret=fake.access_secret,
        app_key=fake.app_key,
        base_url="http://fake.nxcloud.test",
        **options,
    )


def client_for(transport: httpx.AsyncBaseTransport, **options: object) -> ota.AsyncOtaClient:
    settings: dict[str, object] = {
        "access_key": ACCESS_KEY,
        "access_secret": ACCESS_SECRET,
        "app_key": APP_KEY,
        "transport": transport,
        "retry": ota.RetryPolicy.no_wait(),
    }
    settings.update(options)
    return ota.AsyncOtaClient(**settings)  # type: ignore[arg-type]


# --- clock skew -------------------------------------------------------------


@pytest.mark.parametrize(
    ("date", "sent", "received", "sample"),
    [
        # The header truncates to the second: its middle, against the round trip's middle.
        ("Tue, 14 Nov 2023 22:13:20 GMT", T0, T0, 0.5),
        ("Tue, 14 Nov 2023 22:15:20 GMT", T0, T0 + 1.0, 120.0),
        ("Tue, 14 Nov 2023 22:11:20 GMT", T0 - 0.25, T0 + 0.25, -119.5),
    ],
)
def test_offset_sample_arithmetic(date: str, sent: float, received: float, sample: float) -> None:
    """A Date header gives the provider's time to the second, against our round trip."""
    sync = ClockSync()
    sync.expired(date, sent, received)
    assert sync.estimate == pytest.approx(sample)
    assert sync.offset_ms == round(sample * 1000)


def test_small_offsets_are_not_applied_and_large_ones_are() -> None:
    """Under 2 s the estimate is noise and ts is untouched; past it, ts follows the provider."""
    sync = ClockSync(smoothing=1.0)
    sync.observe("Tue, 14 Nov 2023 22:13:21 GMT", T0, T0)  # 1.5 s
    assert sync.offset_ms == 0
    sync.observe("Tue, 14 Nov 2023 22:13:23 GMT", T0, T0)  # 3.5 s
    assert sync.offset_ms == 3500


def test_hysteresis_keeps_a_small_applied_offset_and_drops_it_near_zero() -> None:
    """Once applied, the offset stays while over 0.5 s, and returns to 0 below it."""
    sync = ClockSync(smoothing=1.0)
    sync.observe("Tue, 14 Nov 2023 22:13:25 GMT", T0, T0)  # 5.5 s: applied
    sync.observe("Tue, 14 Nov 2023 22:13:21 GMT", T0, T0)  # 1.5 s: kept
    assert sync.offset_ms == 1500
    sync.observe("Tue, 14 Nov 2023 22:13:20 GMT", T0 + 0.2, T0 + 0.2)  # 0.3 s: dropped
    assert sync.offset_ms == 0


def test_malformed_or_missing_date_is_ignored() -> None:
    """A missing or malformed Date header changes nothing."""
    sync = ClockSync()
    assert not sync.observe(None, T0, T0)
    assert not sync.observe("yesterday", T0, T0)
    assert (sync.estimate, sync.offset_ms) == (None, 0)


class SharedClock:
    """One wall clock for the client and the simulator; each reading moves it 1 ms on."""

    def __init__(self) -> None:
        self.now = T0 + 0.25

    def __call__(self) -> float:
        self.now += 0.001
        return self.now


@pytest.mark.parametrize("skew_ms", [120_000, -120_000])
async def test_a_skew_of_two_minutes_is_corrected_after_one_1004(skew_ms: int) -> None:
    """With the provider 2 minutes off, the first call re-signs once; later ones fit at once."""
    clock = SharedClock()
    fake = FakeNxCloud(clock=clock, clock_offset_ms=skew_ms)
    async with simulated(fake, clock=clock) as client:
        await client.init(PHONE, IP)
        assert [r.code for r in fake.requests] == [1004, 0]
        assert client.clock_offset_ms == pytest.approx(skew_ms, abs=1000)
        await client.init(PHONE, IP)
    assert [r.code for r in fake.requests] == [1004, 0, 0]


async def test_offset_is_learnt_within_the_window_and_returns_to_zero() -> None:
    """A 30 s skew is learnt from answers before it fails; when clocks agree, it goes back to 0."""
    clock = SharedClock()
    fake = FakeNxCloud(clock=clock, clock_offset_ms=30_000)
    events: list[ota.ClockEvent] = []
    hooks = ota.Hooks(on_clock_adjust=events.append)
    async with simulated(fake, clock=clock, hooks=hooks) as client:
        for _ in range(10):
            await client.init(PHONE, IP)
        assert client.clock_offset_ms == pytest.approx(30_000, abs=1000)
        fake.clock_offset_ms = 0
        for _ in range(40):
            await client.init(PHONE, IP)
        assert client.clock_offset_ms == 0
    assert all(r.code == 0 for r in fake.requests)
    assert events[0].offset_ms > 2000
    assert events[-1].offset_ms == 0


# --- event loops --------------------------------------------------------------


def test_a_client_used_from_a_second_event_loop_says_how_to_fix_it() -> None:
    """Using one client from two event loops raises EventLoopError naming the fix."""
    client = client_for(Recorder(envelope(0, {"requestId": "r", "status": "PENDING"})).transport)
    assert asyncio.run(client.verify("r")).status is ota.VerifyStatus.PENDING
    with pytest.raises(ota.EventLoopError, match="lifespan") as info:
        asyncio.run(client.verify("r"))
    assert isinstance(info.value, RuntimeError)


# --- sizes and plain http ---------------------------------------------------------


@pytest.mark.parametrize("declared", [True, False], ids=["content-length", "chunked"])
async def test_oversized_answers_are_refused(declared: bool) -> None:
    """A body over 1 MiB is refused with ProtocolError, whether declared or streamed."""
    big = b"x" * (2 << 20)

    async def huge(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if declared:
            writer.write(http_response(big))
        else:
            writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
            for start in range(0, len(big), 65536):
                chunk = big[start : start + 65536]
                writer.write(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
            writer.write(b"0\r\n\r\n")
        await writer.drain()

    async with serve(huge) as server:
        for transport in (ota.AiohttpTransport(), httpx.AsyncHTTPTransport()):
            async with client_for(transport, base_url=server.url) as client:
                with pytest.raises(ota.ProtocolError, match="bytes"):
                    await client.init(PHONE, IP)
    assert server.requests == 2  # one each, not retried: init may have started


@pytest.mark.parametrize(
    ("base_url", "allowed"),
    [
        ("https://api2.nxcloud.com", True),
        ("http://127.0.0.1:8000", True),
        ("http://[::1]:8000", True),
        ("http://localhost:8000", True),
        ("http://fake.nxcloud.test", True),
        ("http://api2.nxcloud.com", False),
        ("http://10.0.0.5", False),
    ],
)
def test_plain_http_only_to_this_machine(base_url: str, allowed: bool) -> None:
    """Signed requests go over plain http only to loopback or test names, unless opted in."""
    if allowed:
        client_for(Recorder().transport, base_url=base_url)
        return
    with pytest.raises(ota.InvalidInputError, match="https") as info:
        client_for(Recorder().transport, base_url=base_url)
    assert info.value.field == "base_url"
    client_for(Recorder().transport, base_url=base_url, allow_insecure_http=True)


def test_api_error_text_masks_phone_numbers() -> None:
    """A provider message quoting a phone number is masked in str(); .msg keeps it."""
    error = ota.InvalidParameterError(9901, "phone 8615800001795 is invalid")
    assert "8615800001795" not in str(error)
    assert "8615800****95" in str(error)
    assert error.msg == "phone 8615800001795 is invalid"


# --- hooks ----------------------------------------------------------------------


async def test_hooks_report_attempts_retries_and_throttles() -> None:
    """Hooks see each attempt with its code and time, each retry with its wait, each 2206."""
    attempts: list[ota.AttemptEvent] = []
    retries: list[ota.RetryEvent] = []
    throttles: list[ota.ThrottleEvent] = []
    hooks = ota.Hooks(
        on_attempt=attempts.append, on_retry=retries.append, on_throttle=throttles.append
    )
    recorder = Recorder(envelope(2206), init_ok())
    async with client_for(recorder.transport, hooks=hooks) as client:
        await client.init(PHONE, IP)
    assert [(a.attempt, a.code) for a in attempts] == [(1, 2206), (2, 0)]
    assert all(a.action == "init" and a.phone_masked == "8615800****95" for a in attempts)
    assert all(a.elapsed >= 0 for a in attempts)
    assert [(r.attempt, r.reason, r.wait) for r in retries] == [(1, "code 2206", 0.0)]
    assert len(throttles) == 1
    assert throttles[0].rate is not None


async def test_a_failing_hook_never_breaks_the_call(caplog: pytest.LogCaptureFixture) -> None:
    """A hook that raises is logged; the call still succeeds."""

    def broken(event: ota.AttemptEvent) -> None:
        raise RuntimeError("metrics backend down")

    async with client_for(Recorder(init_ok()).transport, hooks=ota.Hooks(on_attempt=broken)) as c:
        assert (await c.init(PHONE, IP)).request_id
    assert "a hook raised" in caplog.text


# --- cancellation and deadlines -------------------------------------------------


async def test_cancelling_a_thousand_calls_leaks_nothing() -> None:
    """1,000 in-flight calls cancelled at once release every connection; the next call works."""
    release = asyncio.Event()
    arrived = asyncio.Event()
    held = 0

    async def hold(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal held
        held += 1
        if held == 1000:
            arrived.set()
        await release.wait()
        writer.write(http_response(OK_BODY))
        await writer.drain()

    transport = ota.AiohttpTransport(max_connections=1000)
    async with (
        serve(hold) as server,
        client_for(transport, base_url=server.url, rate_limiter=NoLimit()) as client,
    ):
        calls = [asyncio.create_task(client.init(PHONE, IP)) for _ in range(1000)]
        # Bounded: a connection lost on the way fails the test instead of hanging it.
        await asyncio.wait_for(arrived.wait(), 120)
        for call in calls:
            call.cancel()
        results = await asyncio.gather(*calls, return_exceptions=True)
        assert all(isinstance(r, asyncio.CancelledError) for r in results)
        assert transport._slots.free == 1000  # every connection slot is free again
        release.set()
        assert (await client.init(PHONE, IP)).request_id == "r1"


@pytest.mark.skipif(sys.version_info < (3, 11), reason="asyncio.timeout is new in 3.11")
async def test_an_outer_timeout_is_honoured_and_the_client_stays_usable() -> None:
    """asyncio.timeout() around a call stops it; the pool is intact for the next call."""
    release = asyncio.Event()

    async def slow_first(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if not release.is_set():
            release.set()
            await reader.read()  # never answers: waits for the client to hang up
        writer.write(http_response(OK_BODY))
        await writer.drain()

    transport = ota.AiohttpTransport(max_connections=1)
    async with serve(slow_first) as server, client_for(transport, base_url=server.url) as client:
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.2):
                await client.init(PHONE, IP)
        assert (await client.init(PHONE, IP)).request_id == "r1"
