"""Soak: many calls through the simulator with injected faults; nothing lost, nothing leaked."""

from __future__ import annotations

import asyncio
from collections import Counter

import httpx
import pytest

import nxcloud_ota as ota
from nxcloud_ota.testing import FakeNxCloud, serve

# Soaks run in their own pass, without coverage tracing (which slows them tenfold).
pytestmark = [pytest.mark.anyio, pytest.mark.soak]


def rows(n: int) -> list[tuple[str, str]]:
    return [(f"86158{i:08d}", "203.0.113.7") for i in range(n)]


async def test_fifty_thousand_calls_with_five_percent_faults() -> None:
    """50,000 initiations with 5% faults: every one accounted for, no task left behind."""
    fake = FakeNxCloud(fail_rate=0.05, seed=7)
    before = asyncio.all_tasks()
    async with ota.AsyncOtaClient(
        access_key=fake.access_key,
        access_secret=fake.access_secret,
        app_key=fake.app_key,
        base_url="http://fake.nxcloud.test",
        transport=httpx.ASGITransport(app=fake),
        retry=ota.RetryPolicy.no_wait(max_attempts=3),
    ) as client:
        outcomes = [o async for o in client.init_many(rows(50_000), concurrency=200)]
    assert asyncio.all_tasks() == before
    assert sorted(o.index for o in outcomes) == list(range(50_000))
    failures = Counter(type(o.error).__name__ for o in outcomes if not o.ok)
    ok = sum(o.ok for o in outcomes)
    assert ok + sum(failures.values()) == 50_000
    # A 99 is retried: failing three times in a row at 5% is rare (about 1 in 8,000).
    assert set(failures) <= {"InternalServerError"}
    assert sum(failures.values()) < 50
    answered_99 = sum(r.code == 99 for r in fake.requests)
    assert 0.04 < answered_99 / len(fake.requests) < 0.06
    assert sum(o.attempts for o in outcomes) == len(fake.requests)


async def test_served_soak_releases_every_connection() -> None:
    """5,000 calls over real loopback sockets, with faults and drops: every slot comes back."""
    fake = FakeNxCloud(fail_rate=0.05, seed=11)
    transport = ota.AiohttpTransport(max_connections=50)
    async with (
        serve(fake) as base_url,
        ota.AsyncOtaClient(
            access_key=fake.access_key,
            access_secret=fake.access_secret,
            app_key=fake.app_key,
            base_url=base_url,
            transport=transport,
            retry=ota.RetryPolicy.no_wait(max_attempts=3),
        ) as client,
    ):
        fake.drop_next(25)
        outcomes = [o async for o in client.init_many(rows(5_000), concurrency=50)]
        assert len(outcomes) == 5_000
        dropped = [o for o in outcomes if isinstance(o.error, ota.RequestMaybeSentError)]
        assert len(dropped) == 25  # init is never resent after a dropped connection
        assert transport._slots.free == transport.max_connections
        assert (
            await client.verify(outcomes[-1].result.request_id if outcomes[-1].ok else "x")
        ).status
