"""The example apps under attack, over HTTP, against the simulator.

Each flood comes from one attacker's address (through a trusted proxy, so each
request names its client in ``X-Forwarded-For``); provider calls are counted from
the simulator's recorded requests. A legitimate user, from another address,
must still start, complete and see confirmed a login of their own.
"""

from __future__ import annotations

import asyncio
import math
import resource
import secrets
import time
from collections.abc import Awaitable, Callable, Iterator

import pytest
from test_examples_web import Reply, Running, Stack, callback_query

from nxcloud_ota import VerifyStatus
from nxcloud_ota.contrib.web import LoginPolicy

PER_PHONE = LoginPolicy().per_phone
PER_ADDRESS = LoginPolicy().per_address

ATTACKER = {"X-Forwarded-For": "198.51.100.66"}
USER = {"X-Forwarded-For": "203.0.113.7"}
VICTIM_PHONE = "8613900001111"
USER_PHONE = "8615800001795"
PROXY = "127.0.0.1"  # the test client's peer: a trusted proxy


@pytest.fixture(params=["fastapi", "aiohttp"])
def kind(request: pytest.FixtureRequest) -> str:
    """Each test runs against both example apps."""
    value: str = request.param
    return value


async def flood(
    count: int, send: Callable[[int], Awaitable[Reply]], width: int = 50
) -> list[Reply]:
    """Send ``count`` requests, ``width`` at a time; return the answers in order."""
    gate = asyncio.Semaphore(width)

    async def one(number: int) -> Reply:
        async with gate:
            return await send(number)

    return list(await asyncio.gather(*(one(n) for n in range(count))))


@pytest.fixture
def many_sockets() -> Iterator[None]:
    """Room for 1,000 connections at once (client and server ends: 2,000 descriptors),
    raising the soft limit of open files towards the hard one while the test runs."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = 4096 if hard == resource.RLIM_INFINITY else min(4096, hard)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, wanted), hard))
    yield
    resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def random_id() -> str:
    """A request id as the provider writes them, that nobody started."""
    return secrets.token_hex(16)


async def start(app: Running, phone: str, headers: dict[str, str]) -> Reply:
    """Ask the app to start a login."""
    return await app.request("POST", "/login/start", json={"phone": phone}, headers=headers)


async def forged_callback(app: Running, request_id: str, status: str = "SUCCESS") -> Reply:
    """A status callback as a forger sends it (no signature exists to forge)."""
    query = callback_query(request_id, status)
    return await app.request("POST", "/nxcloud/callback", params=query, headers=ATTACKER)


def verifies(stack: Stack, request_id: str | None = None) -> int:
    """How many verify calls reached the simulator (for one request id, if given)."""
    calls = stack.calls("verify")
    return len([c for c in calls if request_id is None or c["requestId"] == request_id])


@pytest.mark.anyio
async def test_forged_callbacks_with_random_ids_cause_no_verify(kind: str) -> None:
    """2,000 callbacks for ids the app never started are acknowledged; none reaches verify."""
    stack = Stack(kind, trusted=PROXY)
    async with stack.run() as app:
        replies = await flood(2000, lambda _: forged_callback(app, random_id()))
    assert {(r.status, r.text) for r in replies} == {(200, "success")}
    assert stack.fake.requests == []
    assert stack.outcomes == {}


@pytest.mark.anyio
async def test_polls_of_unknown_ids_cause_no_verify(kind: str) -> None:
    """500 status polls of ids the app never started answer 404 without asking the provider."""
    stack = Stack(kind, trusted=PROXY)
    async with stack.run() as app:
        replies = await flood(
            500, lambda _: app.request("GET", f"/login/{random_id()}", headers=ATTACKER)
        )
    assert {r.status for r in replies} == {404}
    assert stack.fake.requests == []


@pytest.mark.anyio
@pytest.mark.usefixtures("many_sockets")
async def test_repeated_callbacks_of_a_pending_login_share_one_verify(kind: str) -> None:
    """1,000 concurrent callbacks of one pending login share one verify; once it is final,
    1,000 more ask nothing.

    The cache of PENDING answers is off here, so only the one-at-a-time rule can
    keep the count at one: every callback has been looked up (so is waiting for
    an answer) before the held verify is let go.
    """
    stack = Stack(kind, trusted=PROXY, callback=True, policy=LoginPolicy(pending_ttl=0))
    arrived, release = asyncio.Event(), asyncio.Event()

    async def hold(_: float) -> None:
        arrived.set()
        await release.wait()

    async with stack.run() as app:
        reply = await start(app, USER_PHONE, USER)
        request_id, url = reply.json()["request_id"], reply.json()["url"]
        stack.fake.latency, stack.fake.sleep = 1.0, hold  # verify answers when released
        before = stack.store.lookups
        pending = asyncio.ensure_future(
            flood(1000, lambda _: forged_callback(app, request_id), 1000)
        )
        await arrived.wait()
        await stack.store.wait_for_lookups(before + 1000)
        release.set()
        replies = await pending
        assert verifies(stack, request_id) == 1
        assert {(r.status, r.text) for r in replies} == {(200, "success")}  # PENDING, noted
        assert stack.outcomes == {}

        stack.fake.latency = 0.0
        await stack.fake.open_url(url)  # the provider's own callback: verified, now final
        assert stack.outcomes == {request_id: VerifyStatus.SUCCESS}
        assert verifies(stack, request_id) == 2
        claims = ["SUCCESS", "FAILURE", "MISMATCH", "UNKNOWN"]
        replies = await flood(1000, lambda n: forged_callback(app, request_id, claims[n % 4]))
        polled = await flood(100, lambda _: app.request("GET", f"/login/{request_id}"))
    assert verifies(stack, request_id) == 2
    assert {(r.status, r.text) for r in replies} == {(200, "success")}
    assert {r.json()["status"] for r in polled} == {"SUCCESS"}


@pytest.mark.anyio
async def test_starts_for_one_phone_stop_at_its_budget(kind: str) -> None:
    """200 starts for one phone from one address send the phone's budget of init calls
    (5 per 10 minutes by default); the rest are 429 with Retry-After, sending nothing."""
    stack = Stack(kind, trusted=PROXY)
    async with stack.run() as app:
        replies = await flood(200, lambda _: start(app, VICTIM_PHONE, ATTACKER))
    started = [r for r in replies if r.status == 200]
    refused = [r for r in replies if r.status == 429]
    assert (len(started), len(refused)) == (PER_PHONE.count, 200 - PER_PHONE.count)
    assert len(stack.calls("init")) == PER_PHONE.count
    # Past the phone's budget the address's runs out too (the refusals count against it).
    by_phone = [r for r in refused if r.json()["scope"] == "phone"]
    by_address = [r for r in refused if r.json()["scope"] == "address"]
    assert (len(by_phone), len(by_address)) == (PER_ADDRESS.count - PER_PHONE.count, 180)
    # The first start leaves the phone's window in about 10 minutes, the address's in 1.
    assert all(500 < int(r.headers["retry-after"]) <= 600 for r in by_phone)
    assert all(0 < int(r.headers["retry-after"]) <= 60 for r in by_address)


@pytest.mark.anyio
async def test_starts_from_one_address_stop_at_its_budget(kind: str) -> None:
    """Starts for many phones from one address send that address's budget of init calls
    (20 per minute by default); the rest are 429 naming the address."""
    stack = Stack(kind, trusted=PROXY)
    phones = [f"86139000{n:05d}" for n in range(60)]
    async with stack.run() as app:
        replies = await flood(60, lambda n: start(app, phones[n], ATTACKER))
    refused = [r for r in replies if r.status == 429]
    assert len(stack.calls("init")) == PER_ADDRESS.count
    assert len(refused) == 60 - PER_ADDRESS.count
    assert {r.json()["scope"] for r in refused} == {"address"}
    assert all(0 < int(r.headers["retry-after"]) <= 60 for r in refused)


async def legitimate_login(stack: Stack, app: Running) -> str:
    """A user starts a login, the phone opens its url (the provider's callback comes in),
    and the user's poll sees it confirmed; return its request id."""
    reply = await start(app, USER_PHONE, USER)
    assert reply.status == 200, reply.text
    request_id: str = reply.json()["request_id"]
    assert await stack.fake.open_url(reply.json()["url"]) is VerifyStatus.SUCCESS
    outcome = (await app.request("GET", f"/login/{request_id}", headers=USER)).json()
    assert outcome == {"request_id": request_id, "status": "SUCCESS", "final": True}
    return request_id


@pytest.mark.anyio
async def test_a_user_logs_in_during_and_after_the_floods(kind: str) -> None:
    """While one address floods every endpoint, a user from another address starts,
    completes and sees confirmed a login, each by one verify; and again afterwards."""
    stack = Stack(kind, trusted=PROXY, callback=True)
    async with stack.run() as app:
        own = (await start(app, VICTIM_PHONE, ATTACKER)).json()["request_id"]
        began = time.monotonic()
        floods = asyncio.gather(
            flood(2000, lambda _: forged_callback(app, random_id())),
            flood(1000, lambda _: forged_callback(app, own)),
            flood(500, lambda _: app.request("GET", f"/login/{random_id()}", headers=ATTACKER)),
            flood(200, lambda _: start(app, VICTIM_PHONE, ATTACKER)),
        )
        during = await legitimate_login(stack, app)
        forged, repeated, polls, starts = await floods
        elapsed = time.monotonic() - began
        after = await legitimate_login(stack, app)
    assert stack.outcomes == {during: VerifyStatus.SUCCESS, after: VerifyStatus.SUCCESS}
    assert (verifies(stack, during), verifies(stack, after)) == (1, 1)
    # The attacker's own pending login: one verify per PENDING answer's life at most.
    assert verifies(stack, own) <= 1 + math.ceil(elapsed / LoginPolicy().pending_ttl)
    assert {(r.status, r.text) for r in repeated} == {(200, "success")}
    assert len(stack.calls("init")) == PER_PHONE.count + 2
    assert [r.status for r in starts].count(200) == PER_PHONE.count - 1
    assert {r.status for r in polls} == {404}
    assert {r.status for r in forged} == {200}
