"""LoginGuard and its in-memory store and budgets, against the simulator, with a hand-moved clock.

The HTTP-level floods are in ``test_web_floods.py``; here each rule is taken
alone: which logins are asked about, how often, and within which budget.
"""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest

from nxcloud_ota import (
    AdaptiveRateLimiter,
    AsyncOtaClient,
    InvalidInputError,
    RecordNotFoundError,
    RetryPolicy,
    VerifyStatus,
)
from nxcloud_ota.contrib import web
from nxcloud_ota.contrib.web import (
    BudgetExceededError,
    Budgets,
    Limit,
    LoginGuard,
    LoginPolicy,
    LoginStore,
    MemoryBudgets,
    MemoryLoginStore,
    StartedLogin,
    UnknownLoginError,
    address_key,
    error_reply,
    receive_callback,
)
from nxcloud_ota.contrib.web._budgets import window_wait
from nxcloud_ota.contrib.web._expiring import ExpiringMap
from nxcloud_ota.testing import FAKE_ACCESS_KEY, FAKE_ACCESS_SECRET, FAKE_APP_KEY, FakeNxCloud

PHONE = "8615800001795"
USER_IP = "203.0.113.7"


class Clock:
    """A clock moved by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Rig:
    """A guard in front of a client of the simulator, all on one hand-moved clock."""

    def __init__(self, policy: LoginPolicy | None = None, **limiter: float) -> None:
        self.clock = Clock()
        self.fake = FakeNxCloud(clock=self.clock)
        self.client = AsyncOtaClient(
            access_key=FAKE_ACCESS_KEY,
            access_secret=FAKE_ACCESS_SECRET,
            app_key=FAKE_APP_KEY,
            base_url="http://fake.nxcloud.test",
            transport=httpx.ASGITransport(app=self.fake),
            retry=RetryPolicy.no_wait(),
            rate_limiter=AdaptiveRateLimiter(**limiter) if limiter else None,
            clock=self.clock,  # the simulator's: its ts check moves with the hand
        )
        self.store = MemoryLoginStore(clock=self.clock)
        self.guard = LoginGuard(
            self.client,
            store=self.store,
            budgets=MemoryBudgets(clock=self.clock),
            policy=policy or LoginPolicy(),
            clock=self.clock,
        )

    def verifies(self) -> int:
        """How many verify calls reached the simulator."""
        return len([r for r in self.fake.requests if r.action == "verify"])

    async def start(self, phone: str = PHONE, user_ip: str = USER_IP) -> str:
        """Start a login through the guard; its request id."""
        return (await self.guard.start(phone, user_ip)).request_id


def callback(request_id: str, phone: str = PHONE, status: str = "SUCCESS") -> dict[str, str]:
    """A status callback's query."""
    return {
        "requestId": request_id,
        "phone": phone,
        "status": status,
        "drTime": "2026-11-28 16:20:05",
    }


@pytest.mark.anyio
async def test_a_pending_answer_is_reused_for_pending_ttl() -> None:
    """Polls of a pending login within pending_ttl share one verify; after it, one more."""
    rig = Rig(LoginPolicy(pending_ttl=2.0))
    request_id = await rig.start()
    statuses = [await rig.guard.status(request_id) for _ in range(50)]
    assert (set(statuses), rig.verifies()) == ({VerifyStatus.PENDING}, 1)
    rig.clock.now += 1.9
    await rig.guard.status(request_id)
    assert rig.verifies() == 1
    rig.clock.now += 0.2
    await rig.guard.status(request_id)
    assert rig.verifies() == 2


@pytest.mark.anyio
async def test_a_final_status_is_kept_and_answered_without_verify() -> None:
    """Once verify says SUCCESS, polls and callbacks are answered from the store, for final_ttl."""
    rig = Rig(LoginPolicy(login_ttl=60, final_ttl=3600))
    request_id = await rig.start()
    await rig.fake.open_url(f"http://fake.nxcloud.test/ota/auth/{request_id}")
    assert await rig.guard.status(request_id) is VerifyStatus.SUCCESS
    rig.clock.now += 600  # past login_ttl, within final_ttl
    assert await rig.guard.status(request_id) is VerifyStatus.SUCCESS
    reply = await rig.guard.receive_callback(callback(request_id, status="FAILURE"))
    assert (reply.status, reply.confirmed) == (200, VerifyStatus.SUCCESS)
    assert rig.verifies() == 1
    rig.clock.now += 3600
    with pytest.raises(UnknownLoginError):
        await rig.guard.status(request_id)


@pytest.mark.anyio
async def test_a_pending_login_is_forgotten_after_login_ttl() -> None:
    """A login still pending after login_ttl is unknown: a 404's worth, no provider call."""
    rig = Rig(LoginPolicy(login_ttl=60))
    request_id = await rig.start()
    rig.clock.now += 61
    with pytest.raises(UnknownLoginError) as caught:
        await rig.guard.status(request_id)
    assert caught.value.request_id == request_id
    assert error_reply(caught.value).status == 404
    assert rig.verifies() == 0


@pytest.mark.anyio
async def test_a_login_the_provider_forgot_is_forgotten_here_too() -> None:
    """A 2205 from verify raises once and drops the login; the next poll asks nothing."""
    rig = Rig(LoginPolicy(login_ttl=3600))
    request_id = await rig.start()
    rig.clock.now += rig.fake.record_ttl + 1  # the simulator's record expires
    with pytest.raises(RecordNotFoundError):
        await rig.guard.status(request_id)
    with pytest.raises(UnknownLoginError):
        await rig.guard.status(request_id)
    reply = await rig.guard.receive_callback(callback(request_id))
    assert (reply.status, reply.text, rig.verifies()) == (200, "success", 1)


@pytest.mark.anyio
async def test_a_callback_naming_another_phone_is_ignored() -> None:
    """A callback for a started login but another phone number is acknowledged, not verified."""
    rig = Rig()
    request_id = await rig.start()
    reply = await rig.guard.receive_callback(callback(request_id, phone="8613900001111"))
    assert (reply.status, reply.text, reply.confirmed) == (200, "success", None)
    assert rig.verifies() == 0


@pytest.mark.anyio
async def test_a_malformed_request_id_is_refused_before_the_store() -> None:
    """A request id with a control character is a 422 naming request_id."""
    rig = Rig()
    with pytest.raises(InvalidInputError) as caught:
        await rig.guard.status("abc\r\nX-Evil: 1")
    assert caught.value.field == "request_id"


@pytest.mark.anyio
async def test_an_asker_going_away_leaves_the_shared_verify_to_the_others() -> None:
    """Cancelling one of two polls waiting on a verify does not cancel it for the other."""
    rig = Rig()
    request_id = await rig.start()
    arrived, release = asyncio.Event(), asyncio.Event()

    async def hold(_: float) -> None:
        arrived.set()
        await release.wait()

    rig.fake.latency, rig.fake.sleep = 1.0, hold
    first = asyncio.ensure_future(rig.guard.status(request_id))
    second = asyncio.ensure_future(rig.guard.status(request_id))
    await arrived.wait()
    first.cancel()
    release.set()
    assert await second is VerifyStatus.PENDING
    assert first.cancelled()
    assert rig.verifies() == 1


def test_the_verify_budget_is_a_share_of_the_account_rate() -> None:
    """Share x the limiter's rate when it has one, else x account_rate; at least 1 a second."""
    paced = Rig(LoginPolicy(verify_share=0.25), max_rate=40.0)
    assert paced.guard.verify_limit() == Limit(10, 1.0)
    unlimited = Rig(LoginPolicy(verify_share=0.5, account_rate=30))
    assert unlimited.guard.verify_limit() == Limit(15, 1.0)
    tiny = Rig(LoginPolicy(verify_share=0.1), max_rate=2.0)
    assert tiny.guard.verify_limit() == Limit(1, 1.0)


@pytest.mark.anyio
async def test_verify_beyond_its_share_is_refused_without_a_call() -> None:
    """Past the verify budget a poll raises BudgetExceededError (429) and a callback is
    answered 429 "error" with Retry-After; neither reaches the provider."""
    rig = Rig(LoginPolicy(verify_share=0.5, account_rate=4))  # 2 verify calls a second
    ids = [await rig.start(phone=f"86158000017{n:02d}") for n in range(4)]
    await rig.guard.status(ids[0])
    await rig.guard.status(ids[1])
    with pytest.raises(BudgetExceededError) as caught:
        await rig.guard.status(ids[2])
    assert (caught.value.scope, caught.value.retry_after) == ("verify", 1.0)
    assert error_reply(caught.value).status == 429
    reply = await rig.guard.receive_callback(callback(ids[3], phone="8615800001703"))
    assert (reply.status, reply.text, reply.headers) == (429, "error", {"Retry-After": "1"})
    assert rig.verifies() == 2
    rig.clock.now += 1.0
    assert await rig.guard.status(ids[2]) is VerifyStatus.PENDING


@pytest.mark.anyio
async def test_starts_stop_at_each_budget_and_bad_input_spends_none() -> None:
    """The address's and the phone's budgets refuse before init; bad input spends neither."""
    rig = Rig(LoginPolicy(per_phone=Limit(2, 600), per_address=Limit(4, 60)))
    with pytest.raises(InvalidInputError):
        await rig.start(phone="12")
    await rig.start()
    await rig.start()
    with pytest.raises(BudgetExceededError) as by_phone:
        await rig.start()  # the address's third: a refused start counts against it
    await rig.start(phone="8613900001111")  # the address's fourth, its last
    with pytest.raises(BudgetExceededError) as by_address:
        await rig.start(phone="8613900002222")
    assert (by_phone.value.scope, by_address.value.scope) == ("phone", "address")
    assert len([r for r in rig.fake.requests if r.action == "init"]) == 3
    rig.clock.now += 60
    await rig.start(phone="8613900002222")  # the address's window has moved on


@pytest.mark.anyio
async def test_an_ipv6_client_is_counted_by_its_network() -> None:
    """Addresses of one /64 share a budget; another /64 has its own."""
    rig = Rig(LoginPolicy(per_address=Limit(1, 60)))
    await rig.start(user_ip="2001:db8:1:2::1")
    with pytest.raises(BudgetExceededError):
        await rig.start(phone="8613900001111", user_ip="2001:db8:1:2::ffff")
    await rig.start(phone="8613900002222", user_ip="2001:db8:1:3::1")


@pytest.mark.parametrize(
    ("user_ip", "key"),
    [
        ("203.0.113.7", "203.0.113.7"),
        ("2001:db8:1:2:3:4:5:6", "2001:db8:1:2::/64"),
        ("::ffff:203.0.113.7", "203.0.113.7"),
    ],
    ids=["ipv4", "ipv6-network", "mapped-ipv4"],
)
def test_address_key(user_ip: str, key: str) -> None:
    """IPv4 addresses count alone, IPv6 ones by their /64, mapped IPv4 as IPv4."""
    assert address_key(user_ip) == key


def test_address_key_refuses_what_is_not_an_address() -> None:
    """A non-address is an InvalidInputError naming user_ip."""
    with pytest.raises(InvalidInputError) as caught:
        address_key("localhost")
    assert caught.value.field == "user_ip"


@pytest.mark.parametrize(
    ("times", "now", "limit", "wait"),
    [
        ([], 0.0, Limit(1, 10), 0.0),
        ([1.0, 2.0], 3.0, Limit(3, 10), 0.0),
        ([1.0, 2.0, 3.0], 4.0, Limit(3, 10), 7.0),
        ([1.0, 2.0, 3.0, 4.0], 5.0, Limit(2, 10), 8.0),
    ],
    ids=["empty", "room-left", "full-oldest-leaves", "over-a-lowered-limit"],
)
def test_window_wait(times: list[float], now: float, limit: Limit, wait: float) -> None:
    """One more is allowed once all but count - 1 events have left the window."""
    assert window_wait(times, now, limit) == wait


async def check_window_slides(budgets: Budgets, clock: Clock) -> None:
    """The contract of every Budgets: at most count events in any period, a refusal
    counts nothing, and a lowered limit waits for enough events to leave."""
    limit = Limit(2, 10)
    assert await budgets.spend("k", limit) == 0.0
    clock.now += 5
    assert [await budgets.spend("k", limit) for _ in range(2)] == [0.0, 5.0]
    clock.now += 5  # the first event leaves the window
    assert await budgets.spend("k", limit) == 0.0
    assert await budgets.spend("k", Limit(1, 10)) == 10.0
    assert await budgets.spend("other", limit) == 0.0


@pytest.mark.anyio
async def test_memory_budgets_slide_and_forget() -> None:
    """The in-memory budgets keep the window's contract, holding only live keys."""
    clock = Clock()
    budgets = MemoryBudgets(clock=clock)
    await check_window_slides(budgets, clock)
    assert "keys=2" in repr(budgets)


def test_expiring_map_sweeps_what_an_attacker_leaves() -> None:
    """Expired entries go when read, and in sweeps as the map grows, so memory follows the live."""
    clock = Clock()
    entries: ExpiringMap[int] = ExpiringMap(clock)
    for n in range(5000):
        entries.put(f"forged-{n}", n, 1.0)
    clock.now += 2
    for n in range(10_000):
        entries.put(f"live-{n}", n, 60.0)
    assert len(entries) == 10_000  # every forged entry swept
    assert entries.get("forged-1") is None
    assert entries.get("live-1") == 1
    entries.pop("live-1")
    assert entries.get("live-1") is None


def test_the_stores_and_budgets_are_the_protocols() -> None:
    """The in-memory store and budgets satisfy the protocols users implement."""
    assert isinstance(MemoryLoginStore(), LoginStore)
    assert isinstance(MemoryBudgets(), Budgets)
    assert "8615800001795" not in repr(StartedLogin("abc", PHONE))
    assert "logins=0" in repr(MemoryLoginStore())


@pytest.mark.parametrize(
    "make",
    [
        lambda: Limit(0, 10),
        lambda: Limit(1, 0),
        lambda: LoginPolicy(verify_share=0),
        lambda: LoginPolicy(verify_share=1.5),
        lambda: LoginPolicy(ipv6_prefix=129),
        lambda: LoginPolicy(pending_ttl=-1),
    ],
    ids=["no-events", "no-period", "no-share", "share-over-1", "prefix", "negative-ttl"],
)
def test_settings_out_of_range_are_refused(make: object) -> None:
    """Budgets and policies out of range raise ValueError at construction."""
    assert callable(make)
    with pytest.raises(ValueError):  # noqa: PT011 - attrs' validators word their own messages
        make()


def test_budget_error_reply_carries_retry_after() -> None:
    """A refused budget is a 429 naming its scope, with Retry-After rounded up."""
    reply = error_reply(BudgetExceededError("phone", 119.2))
    assert (reply.status, reply.headers) == (429, {"Retry-After": "120"})
    assert json.loads(json.dumps(reply.body))["scope"] == "phone"
    assert reply.body["retry_after"] == 120


@pytest.mark.anyio
async def test_receive_callback_alone_asks_verify_about_any_login() -> None:
    """The guard-less receive_callback verifies every well-formed callback: a final status
    is confirmed, an id the provider does not know is acknowledged and ignored."""
    rig = Rig()
    request_id = await rig.start()
    await rig.fake.open_url(f"http://fake.nxcloud.test/ota/auth/{request_id}")
    confirmed = await receive_callback(rig.client, callback(request_id, status="FAILURE"))
    unknown = await receive_callback(rig.client, callback("0" * 32))
    assert (confirmed.status, confirmed.confirmed) == (200, VerifyStatus.SUCCESS)
    assert (unknown.status, unknown.text, unknown.confirmed) == (200, "success", None)
    assert rig.verifies() == 2


def test_contrib_web_exports_what_it_did_as_one_module() -> None:
    """Every name in contrib.web's __all__ imports, the names it had as one module among them."""
    assert all(hasattr(web, name) for name in web.__all__)
    before = {"HIDE_QUERY_STRINGS", "CallbackReply", "ErrorReply", "HideQueryStrings"}
    before |= {"TrustedProxies", "client_ip", "error_reply", "receive_callback"}
    assert before <= set(web.__all__)


class LaggingStore(MemoryLoginStore):
    """A store whose reads lag its writes (a replica, say): it answers the first save."""

    def __init__(self) -> None:
        super().__init__()
        self.first: dict[str, StartedLogin] = {}

    async def save(self, login: StartedLogin, ttl: float) -> None:
        """Keep the login; remember the first version saved."""
        self.first.setdefault(login.request_id, login)
        await super().save(login, ttl)

    async def get(self, request_id: str) -> StartedLogin | None:
        """The first version saved, however stale."""
        return self.first.get(request_id)


@pytest.mark.anyio
async def test_an_asker_with_a_stale_read_does_not_ask_again() -> None:
    """A final answer is also kept in process for pending_ttl, so an asker whose store
    read still says PENDING gets it without a second verify."""
    rig = Rig(LoginPolicy(pending_ttl=2.0))
    rig.guard.store = LaggingStore()
    request_id = await rig.start()
    await rig.fake.open_url(f"http://fake.nxcloud.test/ota/auth/{request_id}")
    assert await rig.guard.status(request_id) is VerifyStatus.SUCCESS
    assert await rig.guard.status(request_id) is VerifyStatus.SUCCESS
    assert rig.verifies() == 1
