"""RedisRateLimiter and the arq worker recipe, against a real Redis server.

The server is the one at ``NXCLOUD_TEST_REDIS_URL`` (default
``redis://127.0.0.1:6399/0``; ``.ci/redis.sh start 6399`` starts one); every test
is skipped when none answers there. Each test uses keys of its own account and
deletes them afterwards.

Deterministic tests inject the limiter's clock (the script then uses it instead
of the server's) and a ``sleep`` that records the delays instead of sleeping, so
they assert on the schedule the script returns, not on wall-clock time.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import logging
import os
import socket
import time
import uuid
import warnings
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any, cast

import pytest

redis = pytest.importorskip("redis")

import redis.asyncio as redis_asyncio  # noqa: E402

from nxcloud_ota.contrib.redis import RedisRateLimiter  # noqa: E402
from nxcloud_ota.testing import (  # noqa: E402
    FAKE_ACCESS_KEY,
    FAKE_ACCESS_SECRET,
    FAKE_APP_KEY,
    FakeNxCloud,
)
from nxcloud_ota.testing._server import serve_in_thread  # noqa: E402
from tests._fleet import run_fleet  # noqa: E402

ROOT = Path(__file__).parent.parent
REDIS_URL = os.environ.get("NXCLOUD_TEST_REDIS_URL", "redis://127.0.0.1:6399/0")


@pytest.fixture(scope="module")
def redis_url() -> str:
    """The test Redis's URL; skips the test when nothing answers there (fails instead
    when NXCLOUD_REQUIRE_REDIS is set, as CI does, so a missing server cannot pass)."""
    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1, socket_timeout=2)
    try:
        client.ping()
    except (redis.RedisError, OSError) as exc:
        message = f"no Redis at {REDIS_URL} ({exc}); start one with .ci/redis.sh start 6399"
        if os.environ.get("NXCLOUD_REQUIRE_REDIS"):
            pytest.fail(message)
        pytest.skip(message)
    finally:
        client.close()
    return REDIS_URL


@pytest.fixture
def account() -> str:
    """An account name (and so a key prefix) of this test's own."""
    return f"test-{uuid.uuid4().hex}"


@pytest.fixture
async def conn(redis_url: str, account: str) -> AsyncIterator[redis_asyncio.Redis]:
    """An asyncio Redis client; the test account's keys are deleted afterwards."""
    client = redis_asyncio.Redis.from_url(redis_url, decode_responses=True)
    yield client
    keys = [key async for key in client.scan_iter(match=f"*{account}*")]
    if keys:
        await client.delete(*keys)
    await client.aclose()


@contextlib.contextmanager
def socket_refusing() -> Iterator[int]:
    """A loopback port where nothing listens (bound, never listening)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield sock.getsockname()[1]


async def hget(conn: redis_asyncio.Redis, key: str, field: str) -> str | None:
    """One field of a hash (typed: redis-py's own annotation is a union with sync)."""
    return await cast("Awaitable[str | None]", conn.hget(key, field))


async def eventually(read: Callable[[], Awaitable[object]], expected: object) -> bool:
    """Whether ``read()`` returns ``expected`` within 5 s: waits for a condition
    that Redis or a timer brings about, polling every 10 ms."""
    deadline = time.monotonic() + 5
    while (value := await read()) != expected:
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.01)
    return value == expected


class Clock:
    """A clock moved by hand, and a sleep that records instead of sleeping."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)


def limiter(
    conn: redis_asyncio.Redis, account: str, clock: Clock, **options: float
) -> RedisRateLimiter:
    """A limiter on ``clock`` with mean jitter (every interval exactly 1/rate)."""
    return RedisRateLimiter(
        conn,
        account=account,
        clock=clock,
        sleep=clock.sleep,
        random=lambda: 0.5,
        **options,  # type: ignore[arg-type]
    )


# -- the shared schedule --------------------------------------------------------------


@pytest.mark.anyio
async def test_concurrent_acquirers_get_slots_at_max_rate(
    conn: redis_asyncio.Redis, account: str
) -> None:
    """100 concurrent acquirers in 4 limiters get 100 distinct slots exactly 1/max_rate apart."""
    clock = Clock()
    limiters = [limiter(conn, account, clock, max_rate=50) for _ in range(4)]
    tickets = await asyncio.gather(*(limiters[i % 4].acquire() for i in range(100)))
    assert tickets == [0] * 100
    # The first slot is now (no sleep); each acquirer sleeps once, until its own slot.
    assert sorted(clock.slept) == pytest.approx([i / 50 for i in range(1, 100)])
    assert await hget(conn, limiters[0].key, "nc") == "100"


@pytest.mark.anyio
async def test_unlimited_until_the_first_2206(conn: redis_asyncio.Redis, account: str) -> None:
    """Without max_rate nobody waits and the rate is None until a 2206."""
    clock = Clock()
    lim = limiter(conn, account, clock)
    for _ in range(50):
        lim.on_success(await lim.acquire())
    await lim.flush()
    assert clock.slept == []
    assert lim.rate is None
    assert await hget(conn, lim.key, "sc") == "50"


@pytest.mark.anyio
async def test_the_default_key_is_per_account(conn: redis_asyncio.Redis, account: str) -> None:
    """The state lives under nxcloud:{account}:, and one account never paces another."""
    clock = Clock()
    busy = limiter(conn, account, clock, max_rate=1)
    other = limiter(conn, account + "-other", clock, max_rate=1)
    assert busy.key == f"nxcloud:{{{account}}}:ratelimit"
    await busy.acquire()
    await busy.acquire()
    await other.acquire()
    assert clock.slept == [pytest.approx(1.0)]  # only busy's second slot waited


# -- adapting to 2206 --------------------------------------------------------------------


@pytest.mark.anyio
async def test_fresh_2206_lowers_the_shared_rate_and_stale_does_not(
    conn: redis_asyncio.Redis, account: str
) -> None:
    """A fresh 2206 from one process lowers every process's rate; a stale one is ignored."""
    clock = Clock()
    first, second = (limiter(conn, account, clock, max_rate=100) for _ in range(2))
    old_ticket = await second.acquire()  # sent before the decrease
    first.on_throttle(await first.acquire())
    await first.flush()
    assert first.rate == pytest.approx(95)
    second.on_throttle(old_ticket)  # stale: the generation moved on in Redis
    await second.flush()
    assert second.rate == pytest.approx(95)
    assert second.generation == 1
    second.on_throttle(old_ticket)  # now known locally to be stale: no round trip at all
    assert second.throttled == 2
    second.on_throttle(await second.acquire())  # a fresh one counts
    await second.flush()
    assert second.rate == pytest.approx(95 * 0.95)
    assert await hget(conn, first.key, "gen") == "2"


@pytest.mark.anyio
async def test_a_2206_sets_the_rate_to_the_shared_success_rate(
    conn: redis_asyncio.Redis, account: str
) -> None:
    """The decrease goes to the rate of successes of all processes, when that is lower."""
    clock = Clock()
    first, second = (limiter(conn, account, clock, max_rate=100) for _ in range(2))
    for _ in range(30):
        first.on_success(0)
    await first.flush()  # 30 at t=1000.0
    clock.now = 1001.0
    for _ in range(30):
        second.on_success(0)
    await second.flush()  # 30 more at t=1001.0
    clock.now = 1001.5
    first.on_throttle(await first.acquire())
    await first.flush()
    assert first.rate == pytest.approx(60 / 1.5)  # 60 successes over 1.5 s, not 95


@pytest.mark.anyio
async def test_the_first_2206_ends_the_unlimited_state(
    conn: redis_asyncio.Redis, account: str
) -> None:
    """Leaving the unlimited state, the rate becomes the successes' rate, as locally."""
    clock = Clock()
    lim = limiter(conn, account, clock)
    for _ in range(20):
        lim.on_success(await lim.acquire())
    await lim.flush()
    clock.now += 0.5
    lim.on_throttle(await lim.acquire())
    await lim.flush()
    assert lim.rate == pytest.approx(20 / 0.5)
    await lim.acquire()
    assert clock.slept == [pytest.approx(1 / 40)]  # paced from the next slot on


@pytest.mark.anyio
async def test_successes_grow_the_shared_rate_up_to_max_rate(
    conn: redis_asyncio.Redis, account: str
) -> None:
    """Each success adds `growth`, whichever process counted it, never beyond max_rate."""
    clock = Clock()
    first, second = (limiter(conn, account, clock, max_rate=100) for _ in range(2))
    first.on_throttle(await first.acquire())
    await first.flush()
    for _ in range(40):
        second.on_success(1)
    await second.flush()
    assert second.rate == pytest.approx(95 + 40 * 0.05)
    for _ in range(1000):
        second.on_success(1)
    await second.flush()
    assert second.rate == pytest.approx(100)


@pytest.mark.anyio
async def test_successes_are_batched(conn: redis_asyncio.Redis, account: str) -> None:
    """Successes cost no round trip each: they ride on the next call or on a timed flush."""
    clock = Clock()
    lim = limiter(conn, account, clock, flush_interval=0.05)
    for _ in range(100):
        lim.on_success(0)
    assert await hget(conn, lim.key, "sc") is None  # nothing sent yet
    await lim.acquire()  # the reservation carries them
    assert await hget(conn, lim.key, "sc") == "100"
    for _ in range(10):
        lim.on_success(0)
    assert await eventually(lambda: hget(conn, lim.key, "sc"), "110")  # the timer flushed


# -- keys, failures, cancellation -------------------------------------------------------


@pytest.mark.anyio
async def test_the_state_expires(conn: redis_asyncio.Redis, account: str) -> None:
    """Every call renews the key's time to live; once it lapses the state starts afresh."""
    clock = Clock()
    lim = limiter(conn, account, clock, max_rate=100, ttl=0.2)
    lim.on_throttle(await lim.acquire())
    await lim.flush()
    assert 0 < await conn.pttl(lim.key) <= 200
    assert await eventually(lambda: conn.exists(lim.key), 0)  # Redis expired it
    assert await lim.acquire() == 0
    assert lim.rate == 100
    assert await hget(conn, lim.key, "gen") == "0"


@pytest.mark.anyio
async def test_without_redis_it_paces_locally(caplog: pytest.LogCaptureFixture) -> None:
    """With Redis unreachable, calls go on through a local limiter, with one warning."""
    with socket_refusing() as port:
        down = redis_asyncio.Redis(host="127.0.0.1", port=port, socket_connect_timeout=1)
        clock = Clock()
        lim = RedisRateLimiter(
            down, account="down", clock=clock, sleep=clock.sleep, retry_after=60
        )
        with caplog.at_level(logging.WARNING, logger="nxcloud_ota"):
            tickets = [await lim.acquire() for _ in range(3)]
            for ticket in tickets:
                lim.on_success(ticket)
            lim.on_throttle(tickets[0])
            await lim.flush()
        await down.aclose()
    assert all(ticket < 0 for ticket in tickets)
    assert lim.throttled == 1
    assert len(caplog.records) == 1
    assert "pacing this process alone" in caplog.records[0].getMessage()


@pytest.mark.anyio
async def test_a_waiter_cancelled_in_the_round_trip_leaves_a_gap(
    conn: redis_asyncio.Redis, account: str
) -> None:
    """An acquirer cancelled while its slot is being reserved wastes that slot, nobody else's."""
    clock = Clock()
    lim = limiter(conn, account, clock, max_rate=10)
    tasks = [asyncio.create_task(lim.acquire()) for _ in range(3)]
    await asyncio.sleep(0)  # the three acquirers queue up
    await asyncio.sleep(0)  # the reservation of their three slots leaves
    tasks[1].cancel()
    done = await asyncio.gather(*tasks, return_exceptions=True)
    assert done[0] == done[2] == 0
    assert isinstance(done[1], asyncio.CancelledError)
    assert clock.slept == [pytest.approx(0.2)]  # the third kept its own slot
    assert await hget(conn, lim.key, "nc") == "3"


@pytest.mark.anyio
async def test_waiters_cancelled_before_the_round_trip_cost_nothing(
    conn: redis_asyncio.Redis, account: str
) -> None:
    """Acquirers cancelled before their reservation left reserve nothing at all."""
    lim = limiter(conn, account, Clock(), max_rate=10)
    tasks = [asyncio.create_task(lim.acquire()) for _ in range(3)]
    await asyncio.sleep(0)  # queued, the reservation not yet sent
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    await lim.flush()
    assert not await conn.exists(lim.key)


@pytest.mark.anyio
async def test_a_decrease_keeps_the_slots_reserved_before_it(
    conn: redis_asyncio.Redis, account: str
) -> None:
    """Slots reserved before a decrease stand; later ones follow them, at the new pace."""
    clock = Clock()
    lim = limiter(conn, account, clock, max_rate=10)
    other = limiter(conn, account, clock, max_rate=10)  # another process
    tickets = await asyncio.gather(*(lim.acquire() for _ in range(3)))  # 0, 0.1 and 0.2 s
    other.on_throttle(await other.acquire())  # the 0.3 s slot; a fresh 2206: rate 9.5
    await other.flush()
    assert [await lim.acquire() for _ in range(2)] == [1, 1]  # 0.4 s, then 1/9.5 s later
    assert tickets == [0, 0, 0]
    assert sorted(clock.slept) == pytest.approx([0.1, 0.2, 0.3, 0.4, 0.4 + 1 / 9.5])


@pytest.mark.anyio
async def test_a_worker_that_starts_late_paces_at_the_learnt_rate(
    conn: redis_asyncio.Redis, account: str
) -> None:
    """A new process's first request waits its turn at the rate the others learnt, not max_rate."""
    clock = Clock()
    early = limiter(conn, account, clock, max_rate=100)
    early.on_throttle(await early.acquire())  # the fleet learns: 95/s
    await early.flush()
    clock.now += 5.0  # the schedule is idle again
    late = limiter(conn, account, clock, max_rate=100)
    assert late.rate == 100  # nothing heard yet
    await late.acquire()  # the first slot is free
    await late.acquire()  # the second is one learnt interval later
    assert clock.slept == [pytest.approx(1 / 95)]
    assert (late.rate, late.generation) == (pytest.approx(95), 1)
    late.on_throttle(0)  # a 2206 to its first request is stale: no second decrease
    await late.flush()
    assert late.rate == pytest.approx(95)


@pytest.mark.anyio
async def test_a_waiter_that_wakes_past_late_after_takes_a_new_slot(
    conn: redis_asyncio.Redis, account: str
) -> None:
    """A process stalled past its slot by more than late_after re-reserves, not sends late."""
    clock = Clock()
    stalls = [0.5]  # the first sleep overruns by 0.5 s, the next one is on time

    async def sleep(seconds: float) -> None:
        clock.slept.append(seconds)
        clock.now += seconds + (stalls.pop() if stalls else 0.0)

    lim = RedisRateLimiter(
        conn,
        account=account,
        max_rate=10,
        late_after=0.05,
        clock=clock,
        sleep=sleep,
        random=lambda: 0.5,
    )
    await lim.acquire()  # the slot at 1000.0, at once
    await lim.acquire()  # slot 1000.1, woken at 1000.6: too late, so a new one (free now)
    assert clock.slept == [pytest.approx(0.1)]
    assert await hget(conn, lim.key, "nc") == "3"  # three slots reserved, one wasted


@pytest.mark.anyio
async def test_a_late_reservation_is_used_at_once(conn: redis_asyncio.Redis, account: str) -> None:
    """A slot already past when its reservation comes back is taken (no endless re-reserving)."""
    clock = Clock()

    class SlowRedis:
        """Moves the clock 0.2 s on during each round trip: a slow link to Redis."""

        def register_script(self, script: str) -> Callable[..., Awaitable[object]]:
            real = conn.register_script(script)

            async def run(**kwargs: list[str]) -> object:
                reply = await real(**kwargs)
                clock.now += 0.2
                return reply

            return run

    lim = RedisRateLimiter(
        cast("redis_asyncio.Redis", SlowRedis()),
        account=account,
        max_rate=100,
        late_after=0.05,
        clock=clock,
        sleep=clock.sleep,
        random=lambda: 0.5,
    )
    assert [await lim.acquire() for _ in range(3)] == [0, 0, 0]
    assert clock.slept == []
    assert await hget(conn, lim.key, "nc") == "3"


@pytest.mark.anyio
async def test_options_are_checked(conn: redis_asyncio.Redis, account: str) -> None:
    """Nonsense options fail at once; a valid limiter works as an async context manager."""
    for options in (
        {"ttl": 0},
        {"window": 0},
        {"flush_interval": -1},
        {"late_after": -1},
        {"decrease": 1},
    ):
        with pytest.raises(ValueError, match="must be"):
            RedisRateLimiter(conn, account=account, **options)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="account"):
        RedisRateLimiter(conn, account="")
    async with RedisRateLimiter(conn, account=account, max_rate=5, prefix="p:") as lim:
        assert (lim.key, lim.max_rate) == ("p:ratelimit", 5)
        assert repr(lim) == "RedisRateLimiter(key='p:ratelimit', rate=5)"
        lim.on_success(await lim.acquire())
    assert await hget(conn, "p:ratelimit", "sc") == "1"  # aclose() flushed it
    await conn.delete("p:ratelimit")


# -- many processes, one account ---------------------------------------------------------


@pytest.mark.soak  # half a minute of four processes: once per CI run, not once per Python
def test_four_processes_share_the_account_limit(redis_url: str, account: str) -> None:
    """4 fresh processes x 500 initiations at a 200/s limit, from a cold start (no warm-up)
    with a CPU-bound process competing: shared pacing starts every login, keeps 2206 under
    5%, and beats per-process pacing of the same run on goodput with no more attempts per
    success (give or take 1%)."""
    prefix = f"nxcloud:{{{account}}}:"
    shared = run_fleet("shared", redis_url, prefix, contention=True, warm_up=False)
    local = run_fleet("local", redis_url, prefix, contention=True, warm_up=False)
    for run in (shared, local):
        print(run.row())  # pytest -s shows them; benchmarks/fleet.py measures more runs
    assert (shared.ok, shared.accepted) == (2000, 2000)
    assert shared.share < 0.05
    assert shared.goodput > local.goodput
    assert shared.attempts_per_success <= local.attempts_per_success + 0.01
    assert local.ok == 2000  # per-process pacing gets there too, later


# -- the arq recipe ----------------------------------------------------------------------


def load_example(monkeypatch: pytest.MonkeyPatch, redis_url: str, base_url: str) -> ModuleType:
    """Import examples/worker_arq.py with the environment it reads pointed at the tests'."""
    pytest.importorskip("arq")
    for name, value in {
        "REDIS_URL": redis_url,
        "NXCLOUD_BASE_URL": base_url,
        "NXCLOUD_ACCESS_KEY": FAKE_ACCESS_KEY,
        "NXCLOUD_ACCESS_SECRET": FAKE_ACCESS_SECRET,
        "NXCLOUD_APP_KEY": FAKE_APP_KEY,
        "NXCLOUD_MAX_RATE": "500",
    }.items():
        monkeypatch.setenv(name, value)
    spec = importlib.util.spec_from_file_location("worker_arq", ROOT / "examples/worker_arq.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def served_fake() -> Iterator[tuple[FakeNxCloud, str]]:
    """A simulator on a loopback port, and its base URL."""
    fake = FakeNxCloud()
    with serve_in_thread(fake) as base_url:
        yield fake, base_url


@pytest.mark.anyio
async def test_the_arq_job_initiates_a_batch(
    monkeypatch: pytest.MonkeyPatch,
    redis_url: str,
    conn: redis_asyncio.Redis,
    served_fake: tuple[FakeNxCloud, str],
) -> None:
    """The recipe's job, called with a ctx dict, starts each login and reports each failure."""
    fake, base_url = served_fake
    example = load_example(monkeypatch, redis_url, base_url)
    ctx: dict[str, Any] = {"redis": conn}
    await example.startup(ctx)
    try:
        pairs = [(f"861580000{i:04d}", "203.0.113.7") for i in range(20)] + [("12", "x")]
        result = await example.initiate_logins(ctx, pairs)
    finally:
        await example.shutdown(ctx)
    assert [item["index"] for item in result["started"]] == list(range(20))
    assert result["failed"] == [{"index": 20, "error": "InvalidInputError", "code": None}]
    assert sum(r.code == 0 for r in fake.requests) == 20
    assert ctx["limiter"].key == f"nxcloud:{{{FAKE_ACCESS_KEY}}}:ratelimit"
    await conn.delete(ctx["limiter"].key)


@pytest.mark.anyio
async def test_an_arq_worker_runs_the_recipe(
    monkeypatch: pytest.MonkeyPatch,
    redis_url: str,
    account: str,
    conn: redis_asyncio.Redis,
    served_fake: tuple[FakeNxCloud, str],
) -> None:
    """arq's own worker loop (in burst mode) runs an enqueued batch with the recipe's settings."""
    pytest.importorskip("arq")  # in its own environment: arq pins redis<6
    from arq import create_pool
    from arq.worker import Worker

    fake, base_url = served_fake
    example = load_example(monkeypatch, redis_url, base_url)
    settings = example.WorkerSettings
    queue = f"arq:queue:{account}"
    pool = await create_pool(settings.redis_settings, default_queue_name=queue)
    worker = Worker(
        settings.functions,
        queue_name=queue,
        redis_settings=settings.redis_settings,
        on_startup=settings.on_startup,
        on_shutdown=settings.on_shutdown,
        max_jobs=settings.max_jobs,
        burst=True,
        handle_signals=False,
        poll_delay=0.01,
    )
    try:
        pairs = [(f"861580001{i:04d}", "203.0.113.7") for i in range(30)]
        job = await pool.enqueue_job("initiate_logins", pairs, _job_id=f"{account}-job")
        assert job is not None
        assert await worker.run_check() == 1
        result = await job.result(timeout=10)
    finally:
        with warnings.catch_warnings():
            # arq's close() calls redis-py's deprecated Redis.close().
            warnings.filterwarnings("ignore", "Call to deprecated close", DeprecationWarning)
            await worker.close()  # runs on_shutdown
        await pool.aclose()
    assert len(result["started"]) == 30
    assert result["failed"] == []
    assert sum(r.code == 0 for r in fake.requests) == 30
    await conn.delete(f"nxcloud:{{{FAKE_ACCESS_KEY}}}:ratelimit")
