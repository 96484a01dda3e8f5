from __future__ import annotations

import asyncio

import pytest

import nxcloud_ota as ota
from tests._support import (
    ACCESS_KEY,
    ACCESS_SECRET,
    APP_KEY,
    FakeTime,
    Recorder,
    envelope,
    init_ok,
)

pytestmark = pytest.mark.anyio


def limiter(time: FakeTime, **options: float) -> ota.AdaptiveRateLimiter:
    return ota.AdaptiveRateLimiter(
        clock=time.clock,
        sleep=time.sleep,
        random=lambda: 0.0,
        **options,  # type: ignore[arg-type]
    )


async def test_unlimited_until_the_first_2206() -> None:
    """Before any 2206 (and without max_rate) acquiring never waits."""
    time = FakeTime()
    lim = limiter(time)
    for _ in range(1000):
        await lim.acquire()
        lim.on_success(0)
    assert time.slept == []
    assert lim.rate is None


async def test_max_rate_paces_from_the_start() -> None:
    """With max_rate=10 (and mean jitter), eleven acquisitions span one second."""
    time = FakeTime()
    lim = ota.AdaptiveRateLimiter(
        max_rate=10, clock=time.clock, sleep=time.sleep, random=lambda: 0.5
    )
    for _ in range(11):
        await lim.acquire()
    assert time.now - 1000.0 == pytest.approx(1.0)
    assert all(s == pytest.approx(0.1) for s in time.slept)


async def test_2206_sets_the_rate_to_what_got_through() -> None:
    """A first 2206 sets the rate to the recent rate of successes (the provider's limit)."""
    time = FakeTime()
    lim = limiter(time)
    for _ in range(200):  # 200 successes over 2 s: 100/s
        ticket = await lim.acquire()
        lim.on_success(ticket)
        time.now += 0.01
    ticket = await lim.acquire()
    lim.on_throttle(ticket)
    assert lim.rate == pytest.approx(100, rel=0.05)


async def test_stale_2206_is_ignored() -> None:
    """A burst of 2206s from requests sent before a decrease lowers the rate once."""
    time = FakeTime()
    lim = limiter(time, max_rate=100)
    tickets = [await lim.acquire() for _ in range(50)]
    for ticket in tickets:
        lim.on_throttle(ticket)
    assert lim.rate == pytest.approx(95)
    assert lim.throttled == 50
    lim.on_throttle(await lim.acquire())  # a fresh one counts
    assert lim.rate == pytest.approx(95 * 0.95)


async def test_successes_grow_the_rate_up_to_max_rate() -> None:
    """Each success adds `growth` requests/s, never beyond max_rate."""
    time = FakeTime()
    lim = limiter(time, max_rate=100, growth=1.0)
    lim.on_throttle(await lim.acquire())
    assert lim.rate == pytest.approx(95)
    for _ in range(3):
        lim.on_success(0)
    assert lim.rate == pytest.approx(98)
    for _ in range(10):
        lim.on_success(0)
    assert lim.rate == 100


async def test_waiters_wake_one_at_a_time_at_jittered_intervals() -> None:
    """Concurrent waiters are served in turn, one per (jittered) interval, never together."""
    time = FakeTime()
    draws = iter([0.5, 0.25, 0.75, 0.1])
    lim = ota.AdaptiveRateLimiter(
        max_rate=4, clock=time.clock, sleep=time.sleep, random=lambda: next(draws)
    )
    granted: list[float] = []

    async def take() -> None:
        await lim.acquire()
        granted.append(time.now)

    await asyncio.gather(*(take() for _ in range(4)))
    # interval 0.25 s, scaled by 0.5 + draw: 0.25, 0.1875, 0.3125
    assert time.slept == [pytest.approx(0.25), pytest.approx(0.1875), pytest.approx(0.3125)]
    assert granted == [1000.0, 1000.25, pytest.approx(1000.4375), pytest.approx(1000.75)]


async def test_a_cancelled_waiter_takes_no_slot() -> None:
    """Cancelling a waiting call leaves the schedule to the others: no slot is lost."""
    time = FakeTime()
    gate = asyncio.Event()

    async def held_sleep(seconds: float) -> None:
        time.slept.append(seconds)
        await gate.wait()
        time.now += seconds

    lim = ota.AdaptiveRateLimiter(
        max_rate=1, clock=time.clock, sleep=held_sleep, random=lambda: 0.5
    )
    await lim.acquire()  # the first goes at once; the next slot is 1 s away
    waiter = asyncio.create_task(lim.acquire())
    second = asyncio.create_task(lim.acquire())
    await asyncio.sleep(0)
    waiter.cancel()
    gate.set()
    await second
    assert time.now == pytest.approx(1001.0)  # the slot the cancelled one was waiting for


def test_invalid_limiter_settings_are_refused() -> None:
    """Nonsense settings fail at construction, naming the setting."""
    with pytest.raises(ValueError, match="max_rate"):
        ota.AdaptiveRateLimiter(max_rate=0)
    with pytest.raises(ValueError, match="decrease"):
        ota.AdaptiveRateLimiter(decrease=1.5)


def test_retry_budget_caps_retries_to_a_share_of_traffic() -> None:
    """Retries beyond ratio x recent first attempts (plus the floor) are refused."""
    now = [0.0]
    budget = ota.RetryBudget(ratio=0.2, min_per_second=1, window=10, clock=lambda: now[0])
    for _ in range(100):
        budget.record_request()
    granted = sum(budget.try_spend() for _ in range(100))
    assert granted == 30  # 0.2 x 100 + 1/s x 10 s
    now[0] = 25.0  # the window has passed: the old traffic no longer counts
    assert sum(budget.try_spend() for _ in range(100)) == 10


async def test_client_learns_the_limit_and_exposes_the_rate() -> None:
    """A 2206 switches the client's limiter from unlimited to a paced rate."""
    time = FakeTime()
    recorder = Recorder(init_ok(), init_ok(), envelope(2206), init_ok())
    async with ota.AsyncOtaClient(
        access_key=ACCESS_KEY,
        access_secret=ACCESS_SECRET,
        app_key=APP_KEY,
        transport=recorder.transport,
        retry=ota.RetryPolicy.no_wait(),
        monotonic=time.clock,
        sleep=time.sleep,
    ) as client:
        assert isinstance(client.rate_limiter, ota.AdaptiveRateLimiter)
        assert client.rate_limiter.rate is None
        for _ in range(3):
            await client.init("8615800001795", "203.0.113.7")
            time.now += 0.5
        assert client.rate_limiter.rate is not None
        assert client.rate_limiter.throttled == 1


async def test_retry_storm_is_capped_by_the_budget() -> None:
    """Under a storm of 99s, many calls together retry no more than the budget allows."""
    recorder = Recorder(envelope(99))
    policy = ota.RetryPolicy(
        max_attempts=4, initial_wait=0, max_wait=0, budget_ratio=0.1, budget_min_per_second=0
    )
    async with ota.AsyncOtaClient(
        access_key=ACCESS_KEY,
        access_secret=ACCESS_SECRET,
        app_key=APP_KEY,
        transport=recorder.transport,
        retry=policy,
        monotonic=lambda: 0.0,
    ) as client:
        for _ in range(100):
            with pytest.raises(ota.InternalServerError):
                await client.verify("r")
    # 100 first attempts + at most 10% retries, not 100 x 4
    assert len(recorder.requests) <= 110


async def test_custom_limiter_is_used() -> None:
    """Any object with acquire/on_success/on_throttle can pace the client."""

    class Counting:
        def __init__(self) -> None:
            self.acquired = self.ok = self.throttled = 0

        async def acquire(self) -> int:
            self.acquired += 1
            return 7

        def on_success(self, ticket: int) -> None:
            assert ticket == 7
            self.ok += 1

        def on_throttle(self, ticket: int) -> None:
            self.throttled += 1

    counting = Counting()
    assert isinstance(counting, ota.RateLimiter)
    recorder = Recorder(envelope(2206), init_ok())
    async with ota.AsyncOtaClient(
        access_key=ACCESS_KEY,
        access_secret=ACCESS_SECRET,
        app_key=APP_KEY,
        transport=recorder.transport,
        retry=ota.RetryPolicy.no_wait(),
        rate_limiter=counting,
    ) as client:
        await client.init("8615800001795", "203.0.113.7")
    assert (counting.acquired, counting.ok, counting.throttled) == (2, 1, 1)
