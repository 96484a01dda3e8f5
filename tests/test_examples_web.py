"""The FastAPI and aiohttp examples, end to end against the simulator, and the
framework-free pieces they share (``nxcloud_ota.contrib.web``).

FastAPI runs in process through ``httpx.ASGITransport``, its lifespan run by
``asgi_lifespan.LifespanManager``; aiohttp runs on a loopback port with its test
server. Either app's client reaches the simulator in process. The examples are
scripts, not a package: they are imported from their folder.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import logging
import os
import re
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator, Mapping
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, Protocol

import httpx
import pytest
from aiohttp import TCPConnector
from aiohttp.test_utils import TestClient, TestServer
from asgi_lifespan import LifespanManager
from uvicorn.logging import AccessFormatter

from nxcloud_ota import (
    AsyncOtaClient,
    ConnectionFailedError,
    EventLoopError,
    InvalidInputError,
    NxCloudError,
    ProtocolError,
    RateLimitedError,
    RecordNotFoundError,
    RequestMaybeSentError,
    RetryPolicy,
    VerifyStatus,
)
from nxcloud_ota.contrib.web import (
    HIDE_QUERY_STRINGS,
    ErrorReply,
    LoginPolicy,
    MemoryLoginStore,
    StartedLogin,
    TrustedProxies,
    client_ip,
    error_reply,
)
from nxcloud_ota.testing import FAKE_ACCESS_KEY, FAKE_ACCESS_SECRET, FAKE_APP_KEY, FakeNxCloud

sys.path.insert(0, str(Path(__file__).parent.parent / "examples"))
import aiohttp_app
import fastapi_app

ROOT = Path(__file__).parent.parent

PHONE = "8615800001795"
UNKNOWN_ID = "0" * 32
KINDS = ["fastapi", "aiohttp"]


class Reply:
    """An answer of the app under test, whichever framework served it."""

    def __init__(self, status: int, text: str, headers: Mapping[str, str] | None = None) -> None:
        self.status = status
        self.text = text
        self.headers = {name.lower(): value for name, value in (headers or {}).items()}

    def json(self) -> Any:
        """The body, parsed as JSON."""
        return json.loads(self.text)


class ProbeTransport(httpx.AsyncBaseTransport):
    """The app's way to the simulator, noting whether the app's client closed it."""

    def __init__(self, fake: FakeNxCloud) -> None:
        self.inner = httpx.ASGITransport(app=fake)
        self.closed = False

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """Pass the request to the simulator."""
        return await self.inner.handle_async_request(request)

    async def aclose(self) -> None:
        """Note the close."""
        self.closed = True


class Running(Protocol):
    """An example app, started, as the tests drive it."""

    async def request(
        self,
        method: str,
        path: str,
        *,
        json: object = None,
        content: bytes | None = None,
        params: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Reply:
        """Send one request to the app and read its answer."""
        ...


class ViaHttpx:
    """The FastAPI app, reached through ``httpx.ASGITransport``."""

    def __init__(self, http: httpx.AsyncClient) -> None:
        self.http = http

    async def request(
        self,
        method: str,
        path: str,
        *,
        json: object = None,
        content: bytes | None = None,
        params: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Reply:
        """Send one request to the app and read its answer."""
        response = await self.http.request(
            method, path, json=json, content=content, params=params, headers=headers
        )
        return Reply(response.status_code, response.text, response.headers)


class ViaAiohttp:
    """The aiohttp app, reached through its test client over loopback."""

    def __init__(self, client: TestClient[Any, Any]) -> None:
        self.client = client

    async def request(
        self,
        method: str,
        path: str,
        *,
        json: object = None,
        content: bytes | None = None,
        params: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Reply:
        """Send one request to the app and read its answer."""
        async with self.client.request(
            method, path, json=json, data=content, params=params, headers=headers
        ) as response:
            return Reply(response.status, await response.text(), response.headers)


class RecordingStore(MemoryLoginStore):
    """The app's store of started logins, noting the final statuses saved and the lookups."""

    def __init__(self) -> None:
        super().__init__()
        self.outcomes: dict[str, VerifyStatus] = {}
        self.lookups = 0
        self._awaited: tuple[int, asyncio.Event] | None = None

    async def save(self, login: StartedLogin, ttl: float) -> None:
        """Keep the login, noting a final status."""
        if login.status.is_final:
            self.outcomes[login.request_id] = login.status
        await super().save(login, ttl)

    async def get(self, request_id: str) -> StartedLogin | None:
        """Look the login up, counting the lookups."""
        self.lookups += 1
        if self._awaited is not None and self.lookups >= self._awaited[0]:
            self._awaited[1].set()
        return await super().get(request_id)

    async def wait_for_lookups(self, count: int) -> None:
        """Return once ``count`` lookups have been made in all."""
        reached = asyncio.Event()
        self._awaited = (count, reached)
        if self.lookups < count:
            await reached.wait()


class Stack:
    """An app under test with what the tests look at: the simulator, the store, the probe."""

    def __init__(
        self,
        kind: str,
        *,
        trusted: str = "",
        callback: bool = False,
        policy: LoginPolicy | None = None,
        redis_url: str = "",
        fake: FakeNxCloud | None = None,
        app_key: str = FAKE_APP_KEY,
    ) -> None:
        self.kind = kind
        self.trusted = TrustedProxies.parse(trusted)
        self.callback = callback
        self.policy = policy
        self.redis_url = redis_url
        self.app_key = app_key
        self.fake = FakeNxCloud() if fake is None else fake
        self.probe = ProbeTransport(self.fake)
        self.store = RecordingStore()
        self.outcomes = self.store.outcomes
        self.clients_made = 0

    def make_client(self) -> AsyncOtaClient:
        """The factory the app calls at startup."""
        self.clients_made += 1
        return AsyncOtaClient(
            access_key=FAKE_ACCESS_KEY,
            access_secret=FAKE_ACCESS_SECRET,
            app_key=self.app_key,
            base_url="http://fake.nxcloud.test",
            transport=self.probe,
            retry=RetryPolicy.no_wait(),
        )

    @asynccontextmanager
    async def run(self) -> AsyncIterator[Running]:
        """Start the app (its lifespan or cleanup_ctx included); stop it on exit."""
        if self.kind == "fastapi":
            async with self._fastapi() as app:
                yield app
        else:
            async with self._aiohttp() as app:
                yield app

    @asynccontextmanager
    async def _fastapi(self) -> AsyncIterator[Running]:
        app = fastapi_app.create_app(
            client_factory=self.make_client,
            trusted_proxies=self.trusted,
            policy=self.policy,
            store=None if self.redis_url else self.store,
            redis_url=self.redis_url,
        )
        async with LifespanManager(app):
            if self.callback:
                self.fake.callback_url = "http://app.test/nxcloud/callback"
                self.fake.callback_transport = httpx.ASGITransport(app=app)
            transport = httpx.ASGITransport(app=app)  # the peer is 127.0.0.1
            async with httpx.AsyncClient(transport=transport, base_url="http://app.test") as http:
                yield ViaHttpx(http)

    @asynccontextmanager
    async def _aiohttp(self) -> AsyncIterator[Running]:
        app = aiohttp_app.create_app(
            client_factory=self.make_client,
            trusted_proxies=self.trusted,
            policy=self.policy,
            store=None if self.redis_url else self.store,
            redis_url=self.redis_url,
        )
        # A plain TCP transport: no proxy from the environment between the
        # simulator and the app's loopback port.
        loopback = httpx.AsyncHTTPTransport()
        # No limit on the test client's connections: floods are sent all at once.
        server = TestServer(app, host="127.0.0.1")
        async with loopback, TestClient(server, connector=TCPConnector(limit=0)) as client:
            if self.callback:
                self.fake.callback_url = str(client.make_url("/nxcloud/callback"))
                self.fake.callback_transport = loopback
            yield ViaAiohttp(client)

    def calls(self, action: str) -> list[dict[str, str]]:
        """The bodies of the simulator's calls of one action, in order."""
        return [json.loads(r.body) for r in self.fake.requests if r.action == action]


@pytest.fixture(params=KINDS)
def kind(request: pytest.FixtureRequest) -> str:
    """Each test runs against both example apps."""
    value: str = request.param
    return value


async def start(app: Running, headers: Mapping[str, str] | None = None) -> tuple[str, str]:
    """Start a login for PHONE through the app; return its request id and url."""
    reply = await app.request("POST", "/login/start", json={"phone": PHONE}, headers=headers)
    assert reply.status == 200, reply.text
    body = reply.json()
    assert set(body) == {"request_id", "url"}
    return body["request_id"], body["url"]


def callback_query(request_id: str, status: str = "SUCCESS") -> dict[str, str]:
    """The query string of a status callback, as the provider (or a forger) sends it."""
    return {
        "requestId": request_id,
        "phone": PHONE,
        "status": status,
        "drTime": "2026-11-28 16:20:05",
    }


# -- the flow ---------------------------------------------------------------------------


@pytest.mark.anyio
async def test_login_completes_once_the_phone_opens_the_url(kind: str) -> None:
    """Start gives a url; after the phone opens it, the outcome endpoint reports SUCCESS."""
    stack = Stack(kind, policy=LoginPolicy(pending_ttl=0))  # no callback: each poll verifies
    async with stack.run() as app:
        request_id, url = await start(app)
        pending = (await app.request("GET", f"/login/{request_id}")).json()
        assert pending == {"request_id": request_id, "status": "PENDING", "final": False}
        assert await stack.fake.open_url(url) is VerifyStatus.SUCCESS
        done = (await app.request("GET", f"/login/{request_id}")).json()
    assert done == {"request_id": request_id, "status": "SUCCESS", "final": True}
    assert len(stack.calls("verify")) == 2  # each answer came from verify
    assert stack.calls("init") == [{"appkey": FAKE_APP_KEY, "phone": PHONE, "userIp": "127.0.0.1"}]
    assert stack.outcomes == {request_id: VerifyStatus.SUCCESS}


@pytest.mark.anyio
async def test_callback_success_is_recorded_only_after_verify_confirms_it(
    kind: str, caplog: pytest.LogCaptureFixture
) -> None:
    """The simulator's callback makes the app verify, then record SUCCESS; logs mask phones."""
    caplog.set_level(logging.DEBUG)
    stack = Stack(kind, callback=True)
    async with stack.run() as app:
        request_id, url = await start(app)
        assert stack.outcomes == {}
        await stack.fake.open_url(url)  # returns once the app has answered the callback
        assert stack.outcomes == {request_id: VerifyStatus.SUCCESS}
        assert stack.calls("verify") == [{"appkey": FAKE_APP_KEY, "requestId": request_id}]
        outcome = (await app.request("GET", f"/login/{request_id}")).json()
    assert outcome["status"] == "SUCCESS"
    assert len(stack.calls("verify")) == 1  # the recorded outcome was answered as is
    assert not [r for r in caplog.records if r.name == "nxcloud_ota.testing"]  # accepted
    ours = [r.getMessage() for r in caplog.records if r.name.startswith(("examples", "nxcloud"))]
    assert any("confirmed by verify" in line for line in ours)
    assert not [line for line in ours if PHONE in line]


@pytest.mark.anyio
async def test_forged_success_for_a_pending_login_is_not_recorded(kind: str) -> None:
    """A SUCCESS callback for a login the simulator has PENDING is acknowledged, not recorded."""
    stack = Stack(kind)
    async with stack.run() as app:
        request_id, _ = await start(app)
        reply = await app.request("POST", "/nxcloud/callback", params=callback_query(request_id))
        outcome = (await app.request("GET", f"/login/{request_id}")).json()
    assert (reply.status, reply.text) == (200, "success")
    assert stack.outcomes == {}
    assert outcome["status"] == "PENDING"


@pytest.mark.anyio
async def test_forged_success_for_an_unknown_login_is_not_recorded(kind: str) -> None:
    """A SUCCESS callback for a requestId the app did not start records nothing, asks nothing."""
    stack = Stack(kind)
    async with stack.run() as app:
        reply = await app.request("POST", "/nxcloud/callback", params=callback_query(UNKNOWN_ID))
    assert (reply.status, reply.text) == (200, "success")
    assert stack.outcomes == {}
    assert stack.fake.requests == []


@pytest.mark.anyio
async def test_a_callback_is_recorded_as_verify_says_not_as_it_says(kind: str) -> None:
    """A forged FAILURE callback for a successful login leaves SUCCESS recorded."""
    stack = Stack(kind)
    async with stack.run() as app:
        request_id, url = await start(app)
        await stack.fake.open_url(url)
        query = callback_query(request_id, "FAILURE")
        reply = await app.request("POST", "/nxcloud/callback", params=query)
    assert (reply.status, reply.text) == (200, "success")
    assert stack.outcomes == {request_id: VerifyStatus.SUCCESS}


@pytest.mark.anyio
async def test_malformed_callback_is_answered_error_400(kind: str) -> None:
    """A callback without a status answers 400 "error" and asks verify nothing."""
    stack = Stack(kind)
    query = callback_query(UNKNOWN_ID)
    del query["status"]
    async with stack.run() as app:
        reply = await app.request("POST", "/nxcloud/callback", params=query)
    assert (reply.status, reply.text) == (400, "error")
    assert stack.fake.requests == []


@pytest.mark.anyio
async def test_callback_that_cannot_be_confirmed_is_answered_error(kind: str) -> None:
    """When verify fails, the callback is answered "error" (502 here) and nothing is recorded."""
    stack = Stack(kind)
    async with stack.run() as app:
        request_id, _ = await start(app)
        stack.fake.fail_next(1, 1005)
        reply = await app.request("POST", "/nxcloud/callback", params=callback_query(request_id))
    assert (reply.status, reply.text) == (502, "error")
    assert stack.outcomes == {}


# -- the end user's IP --------------------------------------------------------------------


@pytest.mark.anyio
async def test_x_forwarded_for_is_ignored_from_an_untrusted_peer(kind: str) -> None:
    """With no trusted proxy, a client's X-Forwarded-For is ignored: init gets the peer."""
    stack = Stack(kind)
    async with stack.run() as app:
        await start(app, headers={"X-Forwarded-For": "203.0.113.7"})
    assert [call["userIp"] for call in stack.calls("init")] == ["127.0.0.1"]


@pytest.mark.anyio
async def test_x_forwarded_for_from_a_trusted_proxy_gives_the_rightmost_untrusted(
    kind: str,
) -> None:
    """Behind trusted proxies, init gets the right-most address that is not one of them."""
    stack = Stack(kind, trusted="127.0.0.1, 10.0.0.0/8")
    forwarded = {"X-Forwarded-For": "198.51.100.66, 203.0.113.7, 10.0.0.9"}
    async with stack.run() as app:
        await start(app, headers=forwarded)
    assert [call["userIp"] for call in stack.calls("init")] == ["203.0.113.7"]


@pytest.mark.anyio
async def test_malformed_x_forwarded_for_from_a_trusted_proxy_is_422(kind: str) -> None:
    """A trusted proxy passing on a non-address: 422 naming X-Forwarded-For; nothing is sent."""
    stack = Stack(kind, trusted="127.0.0.1")
    async with stack.run() as app:
        reply = await app.request(
            "POST", "/login/start", json={"phone": PHONE}, headers={"X-Forwarded-For": "nope"}
        )
    assert (reply.status, reply.json()["field"]) == (422, "X-Forwarded-For")
    assert stack.fake.requests == []


# -- errors -------------------------------------------------------------------------------


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("body", "field"),
    [({"phone": "12"}, "phone"), ({"phone": 8615800001795}, "phone"), ({}, "phone")],
    ids=["too-short", "not-a-string", "missing"],
)
async def test_bad_phone_is_422_naming_phone(kind: str, body: object, field: str) -> None:
    """A bad or missing phone answers 422 with field "phone", before anything is sent."""
    stack = Stack(kind)
    async with stack.run() as app:
        reply = await app.request("POST", "/login/start", json=body)
    assert reply.status == 422
    assert (reply.json()["error"], reply.json()["field"]) == ("invalid_input", field)
    assert stack.fake.requests == []


@pytest.mark.anyio
async def test_body_that_is_not_json_is_422_naming_the_body(kind: str) -> None:
    """A body that is not JSON answers 422 with field "body"."""
    stack = Stack(kind)
    headers = {"Content-Type": "application/json"}
    async with stack.run() as app:
        reply = await app.request("POST", "/login/start", content=b"{not json", headers=headers)
    assert (reply.status, reply.json()["field"]) == (422, "body")


@pytest.mark.anyio
async def test_api_error_is_502_with_its_code(kind: str) -> None:
    """The provider refusing init (9906, app disabled) answers 502 with the code."""
    stack = Stack(kind)
    stack.fake.add_app(FAKE_APP_KEY, enabled=False)
    async with stack.run() as app:
        reply = await app.request("POST", "/login/start", json={"phone": PHONE})
    assert reply.status == 502
    assert reply.json()["code"] == 9906


@pytest.mark.anyio
async def test_init_without_an_answer_is_503_saying_a_login_may_have_started(kind: str) -> None:
    """An init the provider may have received but never answered is a 503 that says so."""
    stack = Stack(kind)
    stack.fake.drop_next(1)
    async with stack.run() as app:
        reply = await app.request("POST", "/login/start", json={"phone": PHONE})
    assert reply.status == 503
    assert reply.json()["error"] == "login_may_have_started"
    assert "may have started" in reply.json()["detail"]


@pytest.mark.anyio
async def test_unknown_login_is_404(kind: str) -> None:
    """The outcome of a requestId the app did not start is a 404, and asks the provider nothing."""
    stack = Stack(kind)
    async with stack.run() as app:
        reply = await app.request("GET", f"/login/{UNKNOWN_ID}")
    assert (reply.status, reply.json()["error"]) == (404, "not_found")
    assert stack.fake.requests == []


@pytest.mark.anyio
async def test_one_client_per_app_closed_on_shutdown(kind: str) -> None:
    """The startup hook makes one client for all requests, and shutdown closes it."""
    stack = Stack(kind)
    async with stack.run() as app:
        await start(app)
        await start(app)
        assert (stack.clients_made, stack.probe.closed) == (1, False)
    assert stack.probe.closed


# -- running them -------------------------------------------------------------------------


@pytest.mark.anyio
async def test_fastapi_startup_hides_query_strings_from_uvicorns_access_log() -> None:
    """The lifespan filters uvicorn's access log, whose lines lose the query (the phone)."""
    access = logging.getLogger("uvicorn.access")
    access.removeFilter(HIDE_QUERY_STRINGS)
    async with Stack("fastapi").run():
        assert HIDE_QUERY_STRINGS in access.filters
    record = logging.LogRecord(
        "uvicorn.access",
        logging.INFO,
        __file__,
        1,
        '%s - "%s %s HTTP/%s" %d',  # uvicorn's message and arguments
        ("127.0.0.1:5", "POST", f"/nxcloud/callback?phone={PHONE}&status=SUCCESS", "1.1", 200),
        None,
    )
    assert access.filter(record)
    line = AccessFormatter('%(client_addr)s - "%(request_line)s" %(status_code)s').format(record)
    assert line == '127.0.0.1:5 - "POST /nxcloud/callback HTTP/1.1" 200 OK'


def test_apps_build_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """The module-level builders read TRUSTED_PROXIES and need no credentials until startup."""
    monkeypatch.setenv("TRUSTED_PROXIES", "10.0.0.0/8")
    fastapi = fastapi_app.create_app()
    aiohttp = aiohttp_app.init_app([])
    address = ipaddress.ip_address("10.1.2.3")
    assert address in fastapi.state.trusted_proxies
    assert address in aiohttp[aiohttp_app.TRUSTED_PROXIES]


@pytest.mark.anyio
async def test_aiohttp_access_log_loses_query_strings(caplog: pytest.LogCaptureFixture) -> None:
    """With the app's filter, aiohttp's own access log writes the callback without its query."""
    caplog.set_level(logging.INFO, logger="aiohttp.access")
    logging.getLogger("aiohttp.access").removeFilter(HIDE_QUERY_STRINGS)
    stack = Stack("aiohttp")
    async with stack.run() as app:
        reply = await app.request("POST", "/nxcloud/callback", params=callback_query(UNKNOWN_ID))
        assert reply.status == 200
    lines = [r.getMessage() for r in caplog.records if r.name == "aiohttp.access"]
    assert any('"POST /nxcloud/callback HTTP/1.1" 200' in line for line in lines)
    assert all(PHONE not in line and "requestId" not in line for line in lines)


DOC_EXAMPLES = [
    pytest.param(block, id=f"{page}#{number}")
    for page in ["docs/fastapi.md", "docs/aiohttp.md"]
    for number, block in enumerate(
        re.findall(r"```python\n(.*?)```", (ROOT / page).read_text(encoding="utf-8"), re.DOTALL),
        start=1,
    )
]


@pytest.mark.parametrize("code", DOC_EXAMPLES)
def test_doc_page_example_runs(code: str) -> None:
    """The pages' test examples run as written, from the repository's root."""
    env = {k: v for k, v in os.environ.items() if not k.upper().endswith("_PROXY")}
    done = subprocess.run(  # noqa: S603 - our own interpreter and docs
        [sys.executable, "-c", code],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_doc_pages_include_the_example_files() -> None:
    """Each page shows its example file whole, so what is documented is what is tested."""
    for page, example in [("fastapi", "fastapi_app"), ("aiohttp", "aiohttp_app")]:
        text = (ROOT / "docs" / f"{page}.md").read_text(encoding="utf-8")
        assert f"```{{literalinclude}} ../examples/{example}.py" in text


# -- nxcloud_ota.contrib.web ----------------------------------------------------------------

TRUSTED = TrustedProxies.parse(["127.0.0.1", "10.0.0.0/8", "2001:db8:ffff::/48"])


@pytest.mark.parametrize(
    ("peer", "forwarded", "expected"),
    [
        ("203.0.113.7", ["198.51.100.66"], "203.0.113.7"),
        ("10.0.0.2", [], "10.0.0.2"),
        ("10.0.0.2", ["198.51.100.66, 203.0.113.7"], "203.0.113.7"),
        ("10.0.0.2", ["198.51.100.66", "203.0.113.7, 10.0.0.3"], "203.0.113.7"),
        ("10.0.0.2", ["10.0.0.4, 10.0.0.3"], "10.0.0.4"),
        ("10.0.0.2", ["garbage, 203.0.113.7"], "203.0.113.7"),
        ("10.0.0.2", ["203.0.113.7:4711"], "203.0.113.7"),
        ("10.0.0.2", ["[2001:DB8::7]:4711"], "2001:db8::7"),
        ("10.0.0.2", ["2001:db8::7"], "2001:db8::7"),
        ("::ffff:10.0.0.2", ["203.0.113.7"], "203.0.113.7"),
        ("::ffff:203.0.113.9", ["203.0.113.7"], "203.0.113.9"),
        ("2001:db8:ffff::1", ["::ffff:203.0.113.7"], "203.0.113.7"),
        ("10.0.0.2", [" , "], "10.0.0.2"),
    ],
    ids=[
        "untrusted-peer",
        "trusted-peer-no-header",
        "right-most-untrusted",
        "several-header-lines",
        "all-trusted-left-most",
        "forged-left-part-never-read",
        "ipv4-with-port",
        "bracketed-ipv6-with-port",
        "ipv6",
        "mapped-trusted-peer",
        "mapped-untrusted-peer",
        "trusted-ipv6-network",
        "empty-header",
    ],
)
def test_client_ip_rule(peer: str, forwarded: list[str], expected: str) -> None:
    """The header counts only from a trusted peer, read from the right past trusted hops."""
    assert client_ip(peer, forwarded, TRUSTED) == expected


@pytest.mark.parametrize(
    ("peer", "forwarded", "field"),
    [
        (None, [], "user_ip"),
        ("", ["203.0.113.7"], "user_ip"),
        ("/run/app.sock", [], "user_ip"),
        ("10.0.0.2", ["203.0.113.7, unknown"], "X-Forwarded-For"),
    ],
    ids=["no-peer", "empty-peer", "unix-socket", "trusted-hop-sent-garbage"],
)
def test_client_ip_refuses_what_it_cannot_tell(
    peer: str | None, forwarded: list[str], field: str
) -> None:
    """No peer address, or garbage from a trusted hop, is InvalidInputError naming the source."""
    with pytest.raises(InvalidInputError) as caught:
        client_ip(peer, forwarded, TRUSTED)
    assert caught.value.field == field


def test_trusted_proxies_parse() -> None:
    """Addresses and networks parse from a string or a list; a bad entry names trusted_proxies."""
    assert TrustedProxies.parse("") == TrustedProxies()
    assert TrustedProxies.parse(" 10.0.0.1 ,, ") == TrustedProxies.parse(["10.0.0.1/32"])
    assert "10.0.0.1" not in TrustedProxies.parse("10.0.0.1")  # addresses, not strings
    with pytest.raises(InvalidInputError) as caught:
        TrustedProxies.parse("10.0.0.0/8, proxy.internal")
    assert caught.value.field == "trusted_proxies"


@pytest.mark.parametrize(
    ("msg", "args", "expected"),
    [
        ('"%s %s" %d', ("POST", f"/cb?phone={PHONE}", 200), '"POST /cb" 200'),
        ("%(line)s", ({"line": f"GET /cb?phone={PHONE} HTTP/1.1"},), "GET /cb HTTP/1.1"),
        (
            f'"POST /cb?phone={PHONE}&a=b HTTP/1.1" "http://x.test/p?q=1"',
            (),
            '"POST /cb HTTP/1.1" "http://x.test/p"',
        ),
        ("no path here? %s", ("/plain",), "no path here? /plain"),
    ],
    ids=["arguments", "mapping", "preformatted", "nothing-to-cut"],
)
def test_hide_query_strings(msg: str, args: Any, expected: str) -> None:
    """The access-log filter cuts queries from arguments or from a preformatted message."""
    record = logging.LogRecord("access", logging.INFO, __file__, 1, msg, args, None)
    assert HIDE_QUERY_STRINGS.filter(record)
    assert record.getMessage() == expected


def _maybe_sent(action: str) -> RequestMaybeSentError:
    return RequestMaybeSentError("no answer", action=action)


def _errors() -> Iterator[tuple[NxCloudError, int, str]]:
    yield InvalidInputError("phone", "must be 6-15 digits"), 422, "invalid_input"
    yield RecordNotFoundError(2205, "record does not exist"), 404, "not_found"
    yield RateLimitedError(2206, "too frequent"), 502, "provider_error"
    yield ProtocolError("not JSON", status_code=502, excerpt="<html>"), 502, "provider_error"
    yield _maybe_sent("init"), 503, "login_may_have_started"
    yield _maybe_sent("verify"), 503, "provider_unavailable"
    yield ConnectionFailedError("refused", action="init"), 503, "provider_unavailable"
    yield EventLoopError("another loop"), 500, "internal_error"


@pytest.mark.parametrize(("exc", "status", "error"), list(_errors()), ids=lambda v: str(v)[:20])
def test_error_reply_table(exc: NxCloudError, status: int, error: str) -> None:
    """Each error maps to its status and error name, never passing on the provider's msg."""
    reply = error_reply(exc)
    assert isinstance(reply, ErrorReply)
    assert (reply.status, reply.body["error"]) == (status, error)
    assert "too frequent" not in json.dumps(reply.body)
