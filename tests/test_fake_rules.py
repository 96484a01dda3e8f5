"""FakeNxCloud's business rules and knobs: body, apps, balance, rate limit, faults, latency."""

from __future__ import annotations

import json

import httpx
import pytest
from test_fake_support import (
    NOW_MS,
    Clock,
    call,
    http_client,
    init_body,
    signed_headers,
    start_login,
    verify_body,
)

from nxcloud_ota.testing import FakeNxCloud

pytestmark = pytest.mark.anyio


def _without(fields: dict[str, object], name: str) -> bytes:
    return json.dumps({k: v for k, v in fields.items() if k != name}).encode()


INIT_FIELDS: dict[str, object] = {
    "appkey": "fake-app-key",
    "phone": "8615800001795",
    "userIp": "203.0.113.7",
}


@pytest.mark.parametrize("missing", ["appkey", "phone", "userIp"])
async def test_init_without_a_field_is_9901(missing: str) -> None:
    """Each init body field is required: without it the answer is 9901."""
    async with http_client(FakeNxCloud(clock=Clock())) as http:
        assert (await call(http, "init", _without(INIT_FIELDS, missing)))["code"] == 9901


@pytest.mark.parametrize("missing", ["appkey", "requestId"])
async def test_verify_without_a_field_is_9901(missing: str) -> None:
    """Each verify body field is required: without it the answer is 9901."""
    fields: dict[str, object] = {"appkey": "fake-app-key", "requestId": "a" * 32}
    async with http_client(FakeNxCloud(clock=Clock())) as http:
        assert (await call(http, "verify", _without(fields, missing)))["code"] == 9901


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"not json",
        b'["appkey"]',
        b'{"appkey":"fake-app-key","phone":8615800001795,"userIp":"203.0.113.7"}',
        b'{"appkey":"fake-app-key","phone":"","userIp":"203.0.113.7"}',
        b'{"appkey":"fake-app-key","phone":"+8615800001795","userIp":"203.0.113.7"}',
        b'{"appkey":"fake-app-key","phone":"8615800001795","userIp":"not-an-ip"}',
    ],
)
async def test_malformed_init_body_is_9901(body: bytes) -> None:
    """A correctly signed body that is not a JSON object of valid strings is 9901."""
    async with http_client(FakeNxCloud(clock=Clock())) as http:
        assert (await call(http, "init", body))["code"] == 9901


async def test_unknown_app_is_9906() -> None:
    """An appkey the simulator does not know is 9906."""
    async with http_client(FakeNxCloud(clock=Clock())) as http:
        assert (await call(http, "init", init_body(appkey="other-app")))["code"] == 9906


async def test_disabled_app_is_9906() -> None:
    """An app registered with ``enabled=False`` is 9906; enabling it again lets init pass."""
    fake = FakeNxCloud(clock=Clock())
    fake.add_app("fake-app-key", enabled=False)
    async with http_client(fake) as http:
        assert (await call(http, "init", init_body()))["code"] == 9906
        fake.add_app("fake-app-key")
        assert (await call(http, "init", init_body()))["code"] == 0


async def test_unpriced_app_is_9907() -> None:
    """An app registered with ``priced=False`` is 9907."""
    fake = FakeNxCloud(clock=Clock())
    fake.add_app("unpriced-app", priced=False)
    async with http_client(fake) as http:
        assert (await call(http, "init", init_body(appkey="unpriced-app")))["code"] == 9907


async def test_balance_runs_out_with_9908() -> None:
    """With ``balance=2`` two inits pass, the third is 9908; verify is not billed."""
    fake = FakeNxCloud(clock=Clock(), balance=2)
    async with http_client(fake) as http:
        request_id, _ = await start_login(http)
        await start_login(http)
        assert fake.balance == 0
        assert (await call(http, "init", init_body()))["code"] == 9908
        assert (await call(http, "verify", verify_body(request_id)))["code"] == 0
        fake.balance = 1
        await start_login(http)
        assert (await call(http, "init", init_body()))["code"] == 9908


async def test_refused_init_is_not_billed() -> None:
    """An init refused before the debit (here 9906) leaves the balance alone."""
    fake = FakeNxCloud(clock=Clock(), balance=1)
    async with http_client(fake) as http:
        assert (await call(http, "init", init_body(appkey="nope")))["code"] == 9906
        await start_login(http)
    assert fake.balance == 0


async def test_each_account_has_its_own_balance() -> None:
    """An account added with ``balance=0`` gets 9908 while the default one still passes."""
    fake = FakeNxCloud(clock=Clock())
    fake.add_account("poor-key", "poor-secret", balance=0)
    body = init_body()
    poor = signed_headers("init", body, access_key="poor-key", secret="poor-secret")
    async with http_client(fake) as http:
        assert (await call(http, "init", body, poor))["code"] == 9908
        assert (await call(http, "init", body))["code"] == 0


async def test_rate_limit_answers_2206_and_refills_with_the_clock() -> None:
    """rate=2/s, burst=2: two calls pass, the third is 2206; 0.5 s later one more passes."""
    clock = Clock()
    fake = FakeNxCloud(clock=clock, rate=2.0, burst=2)
    async with http_client(fake) as http:
        codes = [(await call(http, "init", init_body()))["code"] for _ in range(3)]
        assert codes == [0, 0, 2206]
        clock.now += 0.5
        assert (
            await call(
                http, "init", init_body(), signed_headers("init", init_body(), ts=NOW_MS + 500)
            )
        )["code"] == 0
        assert (
            await call(
                http, "init", init_body(), signed_headers("init", init_body(), ts=NOW_MS + 500)
            )
        )["code"] == 2206


async def test_default_burst_is_the_rate() -> None:
    """Without ``burst``, rate=3/s lets exactly three calls through at one instant."""
    fake = FakeNxCloud(clock=Clock(), rate=3.0)
    async with http_client(fake) as http:
        codes = [(await call(http, "verify", verify_body("f" * 32)))["code"] for _ in range(4)]
    assert codes == [2205, 2205, 2205, 2206]


async def test_rate_limit_counts_only_authenticated_calls() -> None:
    """A call refused by authentication (1003) takes no token from the bucket."""
    fake = FakeNxCloud(clock=Clock(), rate=1.0)
    body = init_body()
    async with http_client(fake) as http:
        assert (await call(http, "init", body, signed_headers("init", body, secret="x")))[
            "code"
        ] == 1003
        assert (await call(http, "init", body))["code"] == 0
        assert (await call(http, "init", body))["code"] == 2206


async def test_rate_can_be_switched_on_at_run_time() -> None:
    """Setting ``fake.rate`` on a running simulator starts limiting at once."""
    fake = FakeNxCloud(clock=Clock())
    async with http_client(fake) as http:
        assert [(await call(http, "init", init_body()))["code"] for _ in range(3)] == [0, 0, 0]
        fake.rate = 1.0
        assert [(await call(http, "init", init_body()))["code"] for _ in range(2)] == [0, 2206]


async def test_fail_next_answers_the_scripted_codes_first() -> None:
    """``fail_next`` answers its codes, in order, before any check (even a bad signature)."""
    fake = FakeNxCloud(clock=Clock())
    fake.fail_next(2, 2206)
    fake.fail_next(1)
    body = init_body()
    bad = signed_headers("init", body, secret="wrong")
    async with http_client(fake) as http:
        codes = [(await call(http, "init", body, bad))["code"] for _ in range(4)]
        assert codes == [2206, 2206, 99, 1003]
        assert (await call(http, "init", body))["code"] == 0


def test_fail_next_rejects_nonsense() -> None:
    """``fail_next`` refuses a negative count or code 0; ``drop_next`` a negative count."""
    fake = FakeNxCloud()
    with pytest.raises(ValueError, match="fail_next"):
        fake.fail_next(-1)
    with pytest.raises(ValueError, match="fail_next"):
        fake.fail_next(1, 0)
    with pytest.raises(ValueError, match="drop_next"):
        fake.drop_next(-1)


async def test_fail_rate_one_always_answers_99() -> None:
    """``fail_rate=1.0`` makes every authenticated call a 99."""
    async with http_client(FakeNxCloud(clock=Clock(), fail_rate=1.0)) as http:
        assert [(await call(http, "init", init_body()))["code"] for _ in range(5)] == [99] * 5


async def test_fail_rate_is_seeded_and_roughly_the_probability() -> None:
    """Two simulators with the same seed fail the same calls; about half fail at 0.5."""

    async def codes(seed: int) -> list[object]:
        fake = FakeNxCloud(clock=Clock(), fail_rate=0.5, seed=seed)
        async with http_client(fake) as http:
            return [
                (await call(http, "verify", verify_body("e" * 32)))["code"] for _ in range(200)
            ]

    first, again, other = await codes(7), await codes(7), await codes(8)
    assert first == again
    assert first != other
    assert set(first) == {99, 2205}
    assert 60 <= first.count(99) <= 140


async def test_drop_next_gives_no_answer_and_changes_nothing() -> None:
    """A dropped init raises RemoteProtocolError, is recorded with code None, and bills nothing."""
    fake = FakeNxCloud(clock=Clock(), balance=5)
    fake.drop_next(1)
    async with http_client(fake) as http:
        with pytest.raises(httpx.RemoteProtocolError, match="without sending a response"):
            await call(http, "init", init_body())
        await start_login(http)
    assert fake.balance == 4
    assert [r.code for r in fake.requests] == [None, 0]


async def test_latency_sleeps_before_each_api_answer() -> None:
    """``latency`` is awaited through the injected ``sleep`` once per API call, not for pages."""
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    fake = FakeNxCloud(clock=Clock(), latency=0.25, sleep=sleep)
    async with http_client(fake) as http:
        _, url = await start_login(http)
        await http.get(url)
        fake.latency = 0.5
        await call(http, "verify", verify_body("d" * 32))
    assert slept == [0.25, 0.5]
