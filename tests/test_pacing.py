"""A limited rate is applied when a request leaves, once it has its connection."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import httpx
import pytest

import nxcloud_ota as ota
from nxcloud_ota._pacing import SendGate
from tests._servers import OK_BODY, answer_ok, http_response, listen, read_request, serve
from tests._support import ACCESS_KEY, ACCESS_SECRET, APP_KEY

pytestmark = pytest.mark.anyio

PHONE, IP = "8613800138000", "203.0.113.7"
TRANSPORTS: dict[str, Callable[[], httpx.AsyncBaseTransport | None]] = {
    "default": lambda: None,
    "httpx": httpx.AsyncHTTPTransport,
}


class Turns:
    """A rate limiter that records when it is asked for a turn and what it is told.

    ``hold`` (if set) is awaited before each turn is granted."""

    def __init__(self, rate: float = 100.0, hold: asyncio.Event | None = None) -> None:
        self.rate: float | None = rate
        self.hold = hold
        self.asked = 0
        self.waiting = 0
        self.most_waiting = 0
        self.told: list[tuple[str, int]] = []

    async def acquire(self) -> int:
        self.asked += 1
        self.waiting += 1
        self.most_waiting = max(self.most_waiting, self.waiting)
        try:
            if self.hold is not None:
                await self.hold.wait()
        finally:
            self.waiting -= 1
        return 1000 + self.asked

    def on_success(self, ticket: int) -> None:
        self.told.append(("success", ticket))

    def on_throttle(self, ticket: int) -> None:
        self.told.append(("throttle", ticket))


def client(url: str, limiter: Turns, transport: str, **options: object) -> ota.AsyncOtaClient:
    return ota.AsyncOtaClient(
        access_key=ACCESS_KEY,
        access_secret=ACCESS_SECRET,
        app_key=APP_KEY,
        base_url=url,
        rate_limiter=limiter,
        transport=TRANSPORTS[transport](),
        **options,  # type: ignore[arg-type]
    )


class WithheldHandshake:
    """Accepts TLS connections and never answers the client's hello: a connection
    that cannot be set up. Records, per hello, whether a turn had been granted."""

    def __init__(self, limiter: Turns) -> None:
        self.limiter = limiter
        self.asked_at_hello: list[int] = []
        self.url = ""

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        hello = await reader.read(1)
        if hello == b"\x16":  # a TLS handshake record: the client is setting up
            self.asked_at_hello.append(self.limiter.asked)
        writer.close()


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_no_turn_is_taken_before_the_connection_is_set_up(transport: str) -> None:
    """A request whose connection is still being set up (here: never is) has not
    taken a turn of the rate limit: the turn is taken once it can leave."""
    limiter = Turns()
    async with listen(WithheldHandshake(limiter)) as server:
        server.url = server.url.replace("http://", "https://")
        async with client(server.url, limiter, transport) as nx:
            with pytest.raises(ota.ConnectionFailedError):
                await nx.init(PHONE, IP)
    assert server.asked_at_hello, "the client never tried to connect"
    assert server.asked_at_hello == [0] * len(server.asked_at_hello)
    assert limiter.asked == 0


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_each_request_takes_one_turn_and_reports_on_it(transport: str) -> None:
    """Three calls over a real socket take three turns and report each answer
    with the ticket of its own turn."""
    limiter = Turns()
    async with serve(answer_ok) as server, client(server.url, limiter, transport) as nx:
        for _ in range(3):
            await nx.init(PHONE, IP)
    assert limiter.asked == 3
    assert limiter.told == [("success", 1001), ("success", 1002), ("success", 1003)]


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_waiting_for_a_turn_is_not_counted_against_the_timeout(transport: str) -> None:
    """A turn that takes 1.5 s to come does not time out a call whose timeouts
    (pool, connect and read) are 0.2 s each: nothing is sent while it waits."""
    hold = asyncio.Event()
    limiter = Turns(hold=hold)
    async with (
        serve(answer_ok) as server,
        client(server.url, limiter, transport, timeout=0.2) as nx,
    ):
        call = asyncio.ensure_future(nx.init(PHONE, IP))
        await asyncio.sleep(1.5)
        hold.set()
        result = await call
    assert result.request_id == "r1"
    assert server.requests == 1


async def test_signed_requests_waiting_for_a_turn_are_bounded_by_the_rate() -> None:
    """At 2 requests a second, at most 10 requests (5 s of traffic) are signed and
    wait for their turn: the others wait unsigned, so no ``ts`` ages past 5 s of
    waiting. All 30 calls still go out, each once."""
    hold = asyncio.Event()
    limiter = Turns(rate=2.0, hold=hold)
    async with serve(answer_ok) as server, client(server.url, limiter, "default") as nx:
        calls = [asyncio.ensure_future(nx.init(PHONE, IP)) for _ in range(30)]
        for _ in range(1000):  # 10 s at most
            if limiter.waiting >= 10:
                break
            await asyncio.sleep(0.01)
        for _ in range(100):  # time for any other request to reach the limiter
            await asyncio.sleep(0)
        waiting_before_any_turn = limiter.waiting
        hold.set()
        await asyncio.gather(*calls)
    assert waiting_before_any_turn == 10
    assert limiter.most_waiting == 10
    assert server.requests == 30


async def test_the_gate_admits_five_seconds_of_traffic_in_order() -> None:
    """At 2/s the gate admits 10; the 11th and 12th wait and are admitted in
    turn as admitted ones leave."""
    gate = SendGate(lambda: 2.0, horizon=5.0)
    for _ in range(10):
        await gate.enter()
    order: list[int] = []

    async def enter(n: int) -> None:
        await gate.enter()
        order.append(n)

    late = [asyncio.ensure_future(enter(n)) for n in (11, 12)]
    await asyncio.sleep(0)
    assert order == []
    assert gate.inside == 10
    gate.leave()
    await asyncio.sleep(0)
    assert order == [11]
    gate.leave()
    await asyncio.gather(*late)
    assert order == [11, 12]
    assert gate.inside == 10


async def test_the_gate_admits_anything_while_unlimited_and_one_at_a_crawl() -> None:
    """Unlimited (rate None): no bound. At 0.01/s: one at a time, never none."""
    unlimited = SendGate(lambda: None)
    for _ in range(1000):
        await unlimited.enter()
    assert unlimited.inside == 1000
    crawl = SendGate(lambda: 0.01)
    await crawl.enter()
    second = asyncio.ensure_future(crawl.enter())
    await asyncio.sleep(0)
    assert not second.done()
    crawl.leave()
    await second
    assert crawl.inside == 1


async def test_a_place_granted_to_a_cancelled_waiter_is_passed_on() -> None:
    """A waiter cancelled in the moment it is admitted does not keep its place."""
    gate = SendGate(lambda: 0.1)  # room for one
    await gate.enter()
    first = asyncio.ensure_future(gate.enter())
    second = asyncio.ensure_future(gate.enter())
    await asyncio.sleep(0)
    gate.leave()  # admits ``first``...
    first.cancel()  # ...which is cancelled before it resumes
    with pytest.raises(asyncio.CancelledError):
        await first
    await second
    assert gate.inside == 1


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_the_wait_for_a_turn_moves_the_call_deadline(transport: str) -> None:
    """A 1 s wait for a turn does not use up a 0.3 s RetryPolicy.deadline: the
    request goes out once and its answer is read."""
    hold = asyncio.Event()
    limiter = Turns(hold=hold)
    policy = ota.RetryPolicy(max_attempts=1, deadline=0.3)
    async with (
        serve(answer_ok) as server,
        client(server.url, limiter, transport, retry=policy) as nx,
    ):
        call = asyncio.ensure_future(nx.init(PHONE, IP))
        await asyncio.sleep(1.0)
        hold.set()
        result = await call
    assert result.request_id == "r1"
    assert server.requests == 1


class Recording:
    """Answers every request at once, keeping each request's ``ts`` header."""

    def __init__(self) -> None:
        self.ts: list[int] = []
        self.url = ""

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            try:
                request = await read_request(reader)
            except (asyncio.IncompleteReadError, ConnectionError):
                break
            self.ts += [int(line[4:]) for line in request.split(b"\r\n") if line[:4] == b"ts: "]
            writer.write(http_response(OK_BODY))
            await writer.drain()
        writer.close()


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_a_request_whose_turn_comes_too_late_is_signed_again(transport: str) -> None:
    """When a turn comes 40 s after the request was signed (past half the provider's
    60 s window), that request is not sent: it is signed again, takes another turn
    and goes out once, with a fresh ts."""
    now = [1_700_000_000.0]

    class Slow(Turns):
        async def acquire(self) -> int:
            if self.asked == 0:
                now[0] += 40.0  # the first turn comes 40 s after signing
            return await super().acquire()

    limiter = Slow()
    async with (
        listen(Recording()) as server,
        client(server.url, limiter, transport, clock=lambda: now[0]) as nx,
    ):
        await nx.init(PHONE, IP)
    assert server.ts == [1_700_000_040_000]
    assert limiter.asked == 2


async def test_a_call_cancelled_while_waiting_for_its_turn_gives_back_its_places() -> None:
    """Cancelled while it waits for its turn, a call gives back its connection and
    its place among the signed requests: the next call, on a pool of one
    connection and a gate of one place, goes through."""
    hold = asyncio.Event()
    limiter = Turns(rate=0.1, hold=hold)  # room for one signed request
    transport = ota.AiohttpTransport(max_connections=1)
    async with (
        serve(answer_ok) as server,
        ota.AsyncOtaClient(
            access_key=ACCESS_KEY,
            access_secret=ACCESS_SECRET,
            app_key=APP_KEY,
            base_url=server.url,
            rate_limiter=limiter,
            transport=transport,
        ) as nx,
    ):
        first = asyncio.ensure_future(nx.init(PHONE, IP))
        for _ in range(1000):  # 10 s at most
            if limiter.waiting:
                break
            await asyncio.sleep(0.01)
        first.cancel()
        with pytest.raises(asyncio.CancelledError):
            await first
        hold.set()
        result = await asyncio.wait_for(nx.init(PHONE, IP), timeout=10)
    assert result.request_id == "r1"
    assert server.requests == 1


async def test_a_given_http_client_is_paced_before_its_requests_are_signed() -> None:
    """With an ``http_client`` of the caller's (its transport unknown), a request
    takes its turn before it is signed and sent: the limiter has been asked by
    the time the server sees the connection."""
    limiter = Turns()
    async with listen(WithheldHandshake(limiter)) as server:
        url = server.url.replace("http://", "https://")
        async with (
            httpx.AsyncClient() as http,
            ota.AsyncOtaClient(
                access_key=ACCESS_KEY,
                access_secret=ACCESS_SECRET,
                app_key=APP_KEY,
                base_url=url,
                rate_limiter=limiter,
                http_client=http,
                retry=ota.RetryPolicy(max_attempts=1),
            ) as nx,
        ):
            with pytest.raises(ota.ConnectionFailedError):
                await nx.init(PHONE, IP)
    assert server.asked_at_hello == [1]
