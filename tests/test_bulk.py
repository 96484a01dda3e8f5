from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator
from contextlib import aclosing

import httpx
import pytest

import nxcloud_ota as ota
from tests._support import ACCESS_KEY, ACCESS_SECRET, APP_KEY, envelope, expected_sign

pytestmark = pytest.mark.anyio


class Gate:
    """An async MockTransport handler that can hold requests and counts concurrency."""

    def __init__(self, hold: bool = False) -> None:
        self.released = asyncio.Event()
        if not hold:
            self.released.set()
        self.active = 0
        self.peak = 0
        self.started = 0
        self.phones: list[str] = []
        self._tick = asyncio.Event()

    async def until_active(self, n: int) -> None:
        """Wait (on an event, not a timer) until n requests are being held."""
        while self.active < n:
            self._tick.clear()
            await self._tick.wait()

    async def __call__(self, request: httpx.Request) -> httpx.Response:
        assert request.headers["sign"] == expected_sign(request)
        self.started += 1
        self.active += 1
        self.peak = max(self.peak, self.active)
        self._tick.set()
        try:
            await self.released.wait()
        finally:
            self.active -= 1
        body = json.loads(request.content)
        if request.headers["action"] == "verify":
            return envelope(0, {"requestId": body["requestId"], "status": "PENDING"})
        self.phones.append(body["phone"])
        if body["phone"].endswith("99"):
            return envelope(9908, msg="balance")
        return envelope(
            0, {"requestId": "id-" + body["phone"], "url": "https://u/" + body["phone"]}
        )


def client_for(handler: Gate) -> ota.AsyncOtaClient:
    return ota.AsyncOtaClient(
        access_key=ACCESS_KEY,
        access_secret=ACCESS_SECRET,
        app_key=APP_KEY,
        transport=httpx.MockTransport(handler),
        retry=ota.RetryPolicy.no_wait(),
    )


def phones(n: int) -> list[tuple[str, str]]:
    return [(f"86158000{i:05d}", "203.0.113.7") for i in range(n)]


async def test_one_outcome_per_item_and_failures_do_not_raise() -> None:
    """Every item yields one outcome; API and validation failures are outcomes, not exceptions."""
    items: list[object] = [*phones(3), ("8615800000099", "203.0.113.7"), ("12", "1.2.3.4"), "junk"]
    async with client_for(Gate()) as client:
        outcomes = [o async for o in client.init_many(items, concurrency=2)]  # type: ignore[arg-type]
    by_index = {o.index: o for o in outcomes}
    assert sorted(by_index) == [0, 1, 2, 3, 4, 5]
    assert [by_index[i].ok for i in range(6)] == [True, True, True, False, False, False]
    assert by_index[0].result == ota.InitResult("id-8615800000000", "https://u/8615800000000")
    assert isinstance(by_index[3].error, ota.InsufficientBalanceError)
    assert by_index[3].attempts == 1
    assert isinstance(by_index[4].error, ota.InvalidInputError)
    assert by_index[4].error.field == "phone"
    assert by_index[4].attempts == 0
    assert isinstance(by_index[5].error, ota.InvalidInputError)
    assert by_index[5].item == "junk"


async def test_concurrency_is_bounded() -> None:
    """No more than `concurrency` requests are in flight at once."""
    gate = Gate(hold=True)
    async with client_for(gate) as client:

        async def run() -> list[ota.InitOutcome]:
            return [o async for o in client.init_many(phones(50), concurrency=7)]

        task = asyncio.create_task(run())
        await gate.until_active(7)
        for _ in range(20):  # give it every chance to over-start
            await asyncio.sleep(0)
        assert gate.started == 7
        gate.released.set()
        outcomes = await task
    assert gate.peak == 7
    assert len(outcomes) == 50


async def test_input_is_consumed_lazily() -> None:
    """Items are pulled only as slots free up: a huge input is never read ahead."""
    pulled = 0

    def endless() -> Iterator[tuple[str, str]]:
        nonlocal pulled
        i = 0
        while True:
            pulled += 1
            yield (f"86158{i:08d}", "203.0.113.7")
            i += 1

    async with client_for(Gate()) as client:
        seen = 0
        async with aclosing(client.init_many(endless(), concurrency=5)) as outcomes:
            async for _ in outcomes:
                seen += 1
                if seen == 20:
                    break
    assert pulled <= 20 + 5


async def test_async_iterable_input_and_init_requests() -> None:
    """Async iterables and ready InitRequest objects are accepted as input."""

    async def source() -> AsyncIterator[ota.InitRequest]:
        for phone, ip in phones(4):
            yield ota.InitRequest(phone=phone, user_ip=ip)

    async with client_for(Gate()) as client:
        outcomes = [o async for o in client.init_many(source(), concurrency=3)]
    assert sorted(o.index for o in outcomes if o.ok) == [0, 1, 2, 3]


async def test_ordered_mode_yields_in_input_order() -> None:
    """With ordered=True outcomes come in input order even when later items finish first."""

    class Reversed(Gate):
        async def __call__(self, request: httpx.Request) -> httpx.Response:
            phone = json.loads(request.content)["phone"]
            await asyncio.sleep(0.001 * (10 - int(phone[-1])))  # later items answer sooner
            return await super().__call__(request)

    async with client_for(Reversed()) as client:
        outcomes = [o async for o in client.init_many(phones(10), concurrency=10, ordered=True)]
    assert [o.index for o in outcomes] == list(range(10))


async def test_breaking_out_cancels_in_flight_and_client_stays_usable() -> None:
    """Leaving the loop cancels calls in flight, releases connections, and the next call works."""
    gate = Gate(hold=True)
    gate_open_for_first = asyncio.Event()

    class FirstFast(Gate):
        async def __call__(self, request: httpx.Request) -> httpx.Response:
            if json.loads(request.content).get("phone", "").endswith("00000"):
                return envelope(0, {"requestId": "first", "url": "https://u/first"})
            return await gate(request)

    async with client_for(FirstFast()) as client:
        async with aclosing(client.init_many(phones(100), concurrency=10)) as outcomes:
            async for outcome in outcomes:
                assert outcome.ok
                break
        assert gate.active == 0  # the held calls were cancelled
        gate.released.set()
        gate_open_for_first.set()
        result = await client.verify("first")
    assert result.status is ota.VerifyStatus.PENDING
    assert gate.started < 100


async def test_cancelling_the_consumer_cancels_in_flight_calls() -> None:
    """Cancelling the task that iterates stops new work and cancels the calls in flight."""
    gate = Gate(hold=True)
    async with client_for(gate) as client:

        async def consume() -> None:
            async with aclosing(client.init_many(phones(1000), concurrency=20)) as outcomes:
                async for _ in outcomes:
                    pass

        task = asyncio.create_task(consume())
        await gate.until_active(20)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert gate.active == 0
        assert gate.started == 20
        gate.released.set()
        assert (await client.verify("x")).status is ota.VerifyStatus.PENDING


@pytest.mark.parametrize("concurrency", [0, -1, 1.5])
async def test_bad_concurrency_is_refused(concurrency: object) -> None:
    """A concurrency below 1 (or not a whole number) is refused, naming the argument."""
    async with client_for(Gate()) as client:
        with pytest.raises(ota.InvalidInputError, match="concurrency"):
            client.init_many(phones(1), concurrency=concurrency)  # type: ignore[arg-type]


async def test_stats_count_the_run_as_it_goes() -> None:
    """BulkStats shows items read, in flight, succeeded, failed, requests and retries."""
    stats = ota.BulkStats()
    calls = 0

    def flaky_then_fine(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        body = json.loads(request.content)
        if body["phone"].endswith("99"):
            return envelope(9908)
        if calls == 1:
            return envelope(2206)  # one retry
        return envelope(0, {"requestId": "r", "url": "https://u"})

    client = ota.AsyncOtaClient(
        access_key=ACCESS_KEY,
        access_secret=ACCESS_SECRET,
        app_key=APP_KEY,
        transport=httpx.MockTransport(flaky_then_fine),
        retry=ota.RetryPolicy.no_wait(),
    )
    items = [*phones(3), ("8615800000099", "203.0.113.7"), ("1", "1.2.3.4")]
    async with client:
        seen = 0
        async for _ in client.init_many(items, concurrency=1, stats=stats):
            seen += 1
            assert stats.completed == seen
            assert stats.in_flight == stats.read - seen
    assert (stats.read, stats.completed, stats.succeeded, stats.failed) == (5, 5, 3, 2)
    assert (stats.requests, stats.retries) == (5, 1)  # 3 + 1 retry + 1 refused; 0 for bad input
