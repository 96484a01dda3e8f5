"""RedisLoginStore and RedisBudgets, and the example apps sharing them, against a real Redis.

The server is the one of ``test_redis_limiter.py`` (``NXCLOUD_TEST_REDIS_URL``;
skipped when none answers, failing instead under ``NXCLOUD_REQUIRE_REDIS``).
Every test works under keys of its own, deleted afterwards.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as redis_asyncio
from test_examples_web import Stack
from test_redis_limiter import redis_url, socket_refusing
from test_web_floods import ATTACKER, USER, flood, start
from test_web_guard import Clock, check_window_slides

from nxcloud_ota import VerifyStatus
from nxcloud_ota.contrib.redis import RedisBudgets, RedisLoginStore
from nxcloud_ota.contrib.web import Budgets, Limit, LoginPolicy, LoginStore, StartedLogin
from nxcloud_ota.testing import FakeNxCloud

__all__ = ["redis_url"]  # the fixture, shared with the limiter's tests

PHONE = "8615800001795"


@pytest.fixture
def tag() -> str:
    """A name of this test's own, in every key it makes."""
    return f"test-{uuid.uuid4().hex}"


@pytest.fixture(params=[False, True], ids=["bytes", "text"])
async def conn(
    request: pytest.FixtureRequest, redis_url: str, tag: str
) -> AsyncIterator[redis_asyncio.Redis]:
    """A Redis client (answering bytes, or text); the test's keys are deleted afterwards."""
    client = redis_asyncio.Redis.from_url(redis_url, decode_responses=request.param)
    yield client
    keys = [key async for key in client.scan_iter(match=f"*{tag}*")]
    if keys:
        await client.delete(*keys)
    await client.aclose()


@pytest.mark.anyio
async def test_login_store_keeps_logins_for_their_ttl(conn: redis_asyncio.Redis, tag: str) -> None:
    """A saved login reads back as saved, expires with its ttl, and can be discarded."""
    store = RedisLoginStore(conn, prefix=f"{tag}:")
    assert isinstance(store, LoginStore)
    await store.save(StartedLogin("a1", PHONE), ttl=30)
    await store.save(StartedLogin("b2", PHONE, VerifyStatus.MISMATCH), ttl=3600)
    assert await store.get("a1") == StartedLogin("a1", PHONE)
    assert await store.get("b2") == StartedLogin("b2", PHONE, VerifyStatus.MISMATCH)
    assert await store.get("c3") is None
    assert 0 < await conn.pttl(f"{tag}:login:a1") <= 30_000
    await store.discard("a1")
    assert await store.get("a1") is None
    assert tag in repr(store)


@pytest.mark.anyio
async def test_budgets_slide_as_the_memory_ones_do(conn: redis_asyncio.Redis, tag: str) -> None:
    """The Redis budgets keep the window's contract, and the key expires with its period."""
    clock = Clock()
    budgets = RedisBudgets(conn, prefix=f"{tag}:", clock=clock)
    assert isinstance(budgets, Budgets)
    await check_window_slides(budgets, clock)
    assert 0 < await conn.pttl(f"{tag}:budget:k") <= 10_000
    assert tag in repr(budgets)


@pytest.mark.anyio
async def test_budgets_are_shared_and_read_the_servers_clock(
    conn: redis_asyncio.Redis, tag: str
) -> None:
    """Two processes' budgets count together, on the Redis server's clock."""
    first, second = RedisBudgets(conn, prefix=f"{tag}:"), RedisBudgets(conn, prefix=f"{tag}:")
    limit = Limit(3, 60)
    spent = [await budgets.spend("shared", limit) for budgets in [first, second, first, second]]
    assert spent[:3] == [0.0, 0.0, 0.0]
    assert 59 < spent[3] <= 60


@pytest.mark.anyio
async def test_budgets_count_in_memory_while_redis_is_down(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Without Redis, budgets still hold, per process, and one warning says so."""
    with socket_refusing() as port:
        down = redis_asyncio.Redis(port=port, socket_connect_timeout=1)
        budgets = RedisBudgets(down, retry_after=60)
        limit = Limit(2, 60)
        spent = [await budgets.spend("k", limit) for _ in range(3)]
        await down.aclose()
    assert spent[:2] == [0.0, 0.0]
    assert spent[2] > 59
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "counting in this process alone" in warnings[0].getMessage()


@pytest.fixture
async def app_key(redis_url: str) -> AsyncIterator[str]:
    """An app key of this test's own (so its Redis keys are); they are deleted afterwards."""
    key = f"app-{uuid.uuid4().hex}"
    yield key
    client = redis_asyncio.Redis.from_url(redis_url)
    keys = [k async for k in client.scan_iter(match=f"*{key}*")]
    if keys:
        await client.delete(*keys)
    await client.aclose()


def two_processes(kind: str, redis_url: str, app_key: str) -> tuple[Stack, Stack]:
    """Two instances of one example app, one provider, one Redis; the second takes callbacks."""
    fake = FakeNxCloud()
    fake.add_app(app_key)
    common = {"trusted": "127.0.0.1", "redis_url": redis_url, "fake": fake, "app_key": app_key}
    return Stack(kind, **common), Stack(kind, callback=True, **common)  # type: ignore[arg-type]


@pytest.fixture(params=["fastapi", "aiohttp"])
def kind(request: pytest.FixtureRequest) -> str:
    """Each test runs against both example apps."""
    value: str = request.param
    return value


@pytest.mark.anyio
async def test_two_processes_share_the_start_budgets(
    kind: str, redis_url: str, app_key: str
) -> None:
    """200 starts for one phone, spread over two processes, send one budget of init calls."""
    first, second = two_processes(kind, redis_url, app_key)
    async with first.run() as one, second.run() as two:
        apps = [one, two]
        replies = await flood(200, lambda n: start(apps[n % 2], PHONE, ATTACKER))
    per_phone = LoginPolicy().per_phone.count
    assert [r.status for r in replies].count(200) == per_phone
    assert [r.status for r in replies].count(429) == 200 - per_phone
    assert len(first.calls("init")) == per_phone


@pytest.mark.anyio
async def test_a_login_started_by_one_process_is_confirmed_by_another(
    kind: str, redis_url: str, app_key: str
) -> None:
    """One process starts a login, the other takes its callback (one verify), and the first
    answers the poll from Redis; an id neither started asks nothing of either."""
    first, second = two_processes(kind, redis_url, app_key)
    async with first.run() as one, second.run() as two:
        reply = await start(one, PHONE, USER)
        request_id = reply.json()["request_id"]
        await first.fake.open_url(reply.json()["url"])  # the callback goes to the second
        outcome = (await one.request("GET", f"/login/{request_id}")).json()
        unknown = await asyncio.gather(
            one.request("GET", f"/login/{uuid.uuid4().hex}"),
            two.request("GET", f"/login/{uuid.uuid4().hex}"),
        )
    assert outcome["status"] == "SUCCESS"
    assert [c["requestId"] for c in first.calls("verify")] == [request_id]
    assert [r.status for r in unknown] == [404, 404]
