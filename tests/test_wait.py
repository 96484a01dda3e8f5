"""``AsyncOtaClient.wait``: polls ``verify`` with backoff until the login ends."""

from __future__ import annotations

import itertools
from collections.abc import Awaitable, Callable

import httpx
import pytest

from nxcloud_ota import (
    AsyncOtaClient,
    InvalidInputError,
    NxCloudError,
    RetryPolicy,
    VerifyStatus,
    WaitTimeoutError,
)
from nxcloud_ota._wait import backoff_delays
from nxcloud_ota.testing import FakeNxCloud
from tests._support import FakeTime

pytestmark = pytest.mark.anyio


def _client(
    fake: FakeNxCloud, time: FakeTime, sleep: Callable[[float], Awaitable[None]] | None = None
) -> AsyncOtaClient:
    return AsyncOtaClient(
        access_key=fake.access_key,
        access_secret=fake.access_secret,
        app_key=fake.app_key,
        base_url="http://fake.test",
        transport=httpx.ASGITransport(app=fake),
        retry=RetryPolicy.no_wait(),
        sleep=sleep or time.sleep,
        monotonic=time.clock,
    )


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        ((), [0.5, 1.0, 2.0, 4.0, 5.0, 5.0, 5.0]),
        ((1, 3, 10), [1, 3, 9, 10, 10, 10, 10]),
        ((2, 2, 2), [2, 2, 2, 2, 2, 2, 2]),
    ],
)
async def test_backoff_delays(args: tuple[float, ...], expected: list[float]) -> None:
    """The pauses start at the interval and grow by the factor up to the cap, forever."""
    assert list(itertools.islice(backoff_delays(*args), 7)) == expected


async def test_wait_returns_the_first_final_status() -> None:
    """PENDING answers are polled again after 0.5 s then 1 s; the first final one is returned."""
    fake = FakeNxCloud()
    time = FakeTime()
    fake.set_outcome("8615800001795", VerifyStatus.MISMATCH)
    urls: list[str] = []

    async def sleep_then_open(seconds: float) -> None:
        await time.sleep(seconds)
        if len(time.slept) == 2:  # the phone opens the url during the second pause
            await fake.open_url(urls[0])

    async with _client(fake, time, sleep_then_open) as client:
        started = await client.init(phone="8615800001795", user_ip="203.0.113.7")
        urls.append(started.url)
        result = await client.wait(started.request_id, timeout=60)
    assert result.status is VerifyStatus.MISMATCH
    assert result.request_id == started.request_id
    assert time.slept == [0.5, 1.0]
    assert [r.action for r in fake.requests].count("verify") == 3


async def test_wait_on_a_final_login_polls_once() -> None:
    """A login that has already ended is returned by one verify, with no pause."""
    fake = FakeNxCloud()
    time = FakeTime()
    async with _client(fake, time) as client:
        started = await client.init(phone="8615800001795", user_ip="203.0.113.7")
        await fake.open_url(started.url)
        result = await client.wait(started.request_id, timeout=0)
    assert result.status is VerifyStatus.SUCCESS
    assert time.slept == []


async def test_wait_times_out_with_the_last_status() -> None:
    """Past the timeout a PENDING login raises a TimeoutError carrying its last result."""
    fake = FakeNxCloud()
    time = FakeTime()
    async with _client(fake, time) as client:
        started = await client.init(phone="8615800001795", user_ip="203.0.113.7")
        with pytest.raises(WaitTimeoutError) as info:
            await client.wait(started.request_id, timeout=4.0, interval=1.0, max_interval=2.0)
    error = info.value
    assert isinstance(error, NxCloudError)
    assert isinstance(error, TimeoutError)
    assert error.last.request_id == started.request_id
    assert error.last.status is VerifyStatus.PENDING
    assert error.timeout == 4.0
    # 1 + 2 + then cut to the deadline: 4 s in all, with a last poll at the deadline.
    assert time.slept == [1.0, 2.0, 1.0]
    assert [r.action for r in fake.requests].count("verify") == 4
    assert "still PENDING after 4 s" in str(error)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"timeout": -1.0}, "timeout"),
        ({"timeout": float("nan")}, "timeout"),
        ({"timeout": 5.0, "interval": 0.0}, "interval"),
        ({"timeout": 5.0, "interval": 2.0, "max_interval": 1.0}, "max_interval"),
    ],
)
async def test_wait_rejects_a_bad_schedule_before_sending(
    kwargs: dict[str, float], field: str
) -> None:
    """A negative timeout or a non-positive pause is refused, naming it, with nothing sent."""
    fake = FakeNxCloud()
    async with _client(fake, FakeTime()) as client:
        with pytest.raises(InvalidInputError) as info:
            await client.wait("req-1", **kwargs)
    assert info.value.field == field
    assert fake.requests == []
