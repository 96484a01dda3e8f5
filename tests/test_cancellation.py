"""Cancellation is honoured: a cancelled call ends, frees its slot, and writes nothing later."""

from __future__ import annotations

import asyncio
import os
import sys
import time
from collections.abc import Awaitable, Callable

import httpx
import pytest

import nxcloud_ota as ota
from nxcloud_ota._slots import Slots
from tests._servers import answer_ok, client_at, serve
from tests._support import NoLimit

pytestmark = pytest.mark.anyio

PHONE, IP = "8615800001795", "203.0.113.7"
CALLS = 1000
DEADLINE = 1.0
RETRY = ota.RetryPolicy.no_wait()


class Silent:
    """Notes when each request arrived whole; answers only once told to."""

    def __init__(self) -> None:
        self.arrivals: list[float] = []
        self.answering = False

    async def __call__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.arrivals.append(time.monotonic())
        if self.answering:
            await answer_ok(reader, writer)
        else:
            await reader.read()  # no answer: wait for the client to hang up


class Gated:
    """Answers every request at once, except the first, which waits for ``gate``."""

    def __init__(self) -> None:
        self.gate = asyncio.Event()
        self.answered = 0

    async def __call__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.answered == 0:
            await self.gate.wait()
        self.answered += 1
        await answer_ok(reader, writer)


class CountingLimiter(NoLimit):
    """Never waits; counts the attempts that got past it."""

    def __init__(self) -> None:
        self.acquired = 0

    async def acquire(self) -> int:
        self.acquired += 1
        return 0


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


async def eventually(condition: Callable[[], bool], within: float = 10.0) -> bool:
    """Whether ``condition`` holds within ``within`` seconds (checked as the loop turns)."""
    give_up = time.monotonic() + within
    while not condition():
        if time.monotonic() > give_up:
            return False
        await asyncio.sleep(0.01)
    return True


async def under_deadline(calls: list[Awaitable[object]], seconds: float) -> None:
    """Run ``calls`` together under an outer timeout, as ``asyncio.timeout`` does it."""
    together = asyncio.gather(*calls)
    if sys.version_info >= (3, 11):
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(seconds):
                await together
        return
    # Python 3.10 has no asyncio.timeout: cancel the waiting task at the deadline.
    task = asyncio.ensure_future(together)
    asyncio.get_running_loop().call_later(seconds, task.cancel)
    with pytest.raises(asyncio.CancelledError):
        await task


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="counts descriptors in /proc")
async def test_a_thousand_calls_cancelled_by_a_timeout_end_and_send_nothing_late() -> None:
    """1,000 inits over a pool of 100 against a silent server, under a 1 s timeout:
    all end within 0.5 s of it, no request arrives 0.3 s after it, nothing leaks."""
    silent = Silent()
    async with serve(silent) as server, client_at(server.url, retry=RETRY) as client:
        silent.answering = True
        await client.init(PHONE, IP)  # warm: one idle pooled connection
        fds, tasks = open_fds(), len(asyncio.all_tasks())
        silent.answering = False
        ended: list[float] = []

        async def call() -> None:
            try:
                await client.init(PHONE, IP)
            finally:
                ended.append(time.monotonic())

        start = time.monotonic()
        calls = [asyncio.ensure_future(call()) for _ in range(CALLS)]
        await under_deadline(calls, DEADLINE)
        deadline = start + DEADLINE
        # gather() gives up at the first cancelled call: wait for the others (bounded).
        await asyncio.wait(calls, timeout=10.0)
        assert len(ended) == CALLS
        assert all(c.cancelled() for c in calls)
        late_ends = sorted(t - deadline for t in ended if t > deadline + 0.5)
        assert not late_ends, f"{len(late_ends)} calls ended late, the last {late_ends[-1]:.2f} s"

        silent.answering = True
        assert (await client.init(PHONE, IP)).request_id == "r1"
        # Every cancelled connection closed on both ends (both are in this process).
        assert await eventually(lambda: open_fds() <= fds), f"{open_fds() - fds} fds over"
        assert await eventually(lambda: len(asyncio.all_tasks()) <= tasks)
    late = sorted(t - deadline for t in silent.arrivals if t > deadline + 0.3)
    assert not late, f"{len(late)} requests arrived after the deadline, up to {late[-1]:.2f} s"


async def test_a_call_cancelled_as_its_slot_is_granted_sends_nothing_and_frees_the_slot() -> None:
    """Pool of 1: B waits for A's slot and is cancelled the moment A frees it.
    B raises CancelledError, its request never reaches the server, and C gets the slot."""
    gated = Gated()
    limiter = CountingLimiter()
    waiting: list[asyncio.Task[ota.InitResult]] = []

    def cancel_the_waiter(event: ota.AttemptEvent) -> None:
        # Runs in A's task, right after A's transport gave its slot back to B.
        if waiting:
            waiting.pop().cancel()

    async with (
        serve(gated) as server,
        client_at(
            server.url,
            transport=ota.AiohttpTransport(max_connections=1),
            timeout=httpx.Timeout(5.0, pool=2.0),
            rate_limiter=limiter,
            hooks=ota.Hooks(on_attempt=cancel_the_waiter),
        ) as client,
    ):
        first = asyncio.ensure_future(client.init(PHONE, IP))
        assert await eventually(lambda: server.requests == 1)
        second = asyncio.ensure_future(client.init(PHONE, IP))
        assert await eventually(lambda: limiter.acquired == 2)
        for _ in range(20):  # let B reach the wait for the slot (no clock involved)
            await asyncio.sleep(0)
        waiting.append(second)
        gated.gate.set()
        assert (await first).request_id == "r1"
        with pytest.raises(asyncio.CancelledError):
            await second
        assert (await client.init(PHONE, IP)).request_id == "r1"  # the slot was freed
    assert server.requests == 2  # A and C: B's request was never written


async def spin() -> None:
    """Let every ready task run a step or two (no clock involved)."""
    for _ in range(5):
        await asyncio.sleep(0)


async def test_a_slot_granted_to_a_cancelled_waiter_goes_to_the_next() -> None:
    """Granted, then cancelled before it resumed: the waiter raises, the next one gets it."""
    slots = Slots(1)
    assert await slots.acquire(None)
    second = asyncio.ensure_future(slots.acquire(None))
    third = asyncio.ensure_future(slots.acquire(None))
    await spin()
    slots.release()  # granted to the second...
    second.cancel()  # ...which is cancelled before it could resume
    with pytest.raises(asyncio.CancelledError):
        await second
    assert await third
    assert slots.free == 0
    slots.release()
    assert slots.free == 1


async def test_a_waiter_out_of_time_gets_no_slot_and_leaves_the_queue() -> None:
    """A wait that runs out returns False; the next release is not lost on it."""
    slots = Slots(1)
    assert await slots.acquire(None)
    assert not await slots.acquire(0.01)
    slots.release()
    assert slots.free == 1


async def test_a_waiter_cancelled_before_its_turn_leaves_the_queue() -> None:
    """Cancelled while waiting: no slot is held, and releases go to those still waiting."""
    slots = Slots(1)
    assert await slots.acquire(None)
    cancelled = asyncio.ensure_future(slots.acquire(None))
    patient = asyncio.ensure_future(slots.acquire(5.0))
    await spin()
    cancelled.cancel()
    with pytest.raises(asyncio.CancelledError):
        await cancelled
    slots.release()
    assert await patient
    assert slots.free == 0
