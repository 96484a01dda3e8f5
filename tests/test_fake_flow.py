"""FakeNxCloud's login flow, status callback, Date header and recorded requests."""

from __future__ import annotations

import asyncio
import logging

import attrs
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

from nxcloud_ota import VerifyStatus
from nxcloud_ota.testing import FakeNxCloud

pytestmark = pytest.mark.anyio


async def _status(http: httpx.AsyncClient, request_id: str, ts: int = NOW_MS) -> object:
    body = verify_body(request_id)
    envelope = await call(http, "verify", body, signed_headers("verify", body, ts=ts))
    if envelope["code"] != 0:
        return envelope["code"]
    data = envelope["data"]
    assert isinstance(data, dict)
    assert data["requestId"] == request_id
    return data["status"]


async def test_init_open_url_verify_succeeds() -> None:
    """init, then verify is PENDING; a GET on the url answers a page; then verify is SUCCESS."""
    fake = FakeNxCloud(clock=Clock())
    async with http_client(fake) as http:
        request_id, url = await start_login(http)
        assert await _status(http, request_id) == "PENDING"
        page = await http.get(url)
        assert page.status_code == 200
        assert page.headers["content-type"].startswith("text/html")
        assert "SUCCESS" in page.text
        assert await _status(http, request_id) == "SUCCESS"


async def test_set_outcome_decides_what_opening_yields() -> None:
    """``set_outcome(phone, MISMATCH)`` makes that phone's logins end in MISMATCH only."""
    fake = FakeNxCloud(clock=Clock())
    fake.set_outcome("8615800001795", VerifyStatus.MISMATCH)
    fake.set_outcome("447700900123", "FAILURE")
    async with http_client(fake) as http:
        mismatched, url = await start_login(http)
        failed, failed_url = await start_login(http, phone="447700900123")
        fine, fine_url = await start_login(http, phone="4915112345678")
        for opened in (url, failed_url, fine_url):
            await http.get(opened)
        assert await _status(http, mismatched) == "MISMATCH"
        assert await _status(http, failed) == "FAILURE"
        assert await _status(http, fine) == "SUCCESS"


async def test_pending_outcome_never_completes() -> None:
    """A phone set to PENDING stays PENDING after its url is opened."""
    fake = FakeNxCloud(clock=Clock())
    fake.set_outcome("8615800001795", VerifyStatus.PENDING)
    async with http_client(fake) as http:
        request_id, url = await start_login(http)
        assert await fake.open_url(url) is VerifyStatus.PENDING
        assert await _status(http, request_id) == "PENDING"


async def test_open_url_completes_without_http() -> None:
    """``await fake.open_url(url)`` completes the login and returns its status."""
    fake = FakeNxCloud(clock=Clock())
    async with http_client(fake) as http:
        request_id, url = await start_login(http)
        assert await fake.open_url(url) is VerifyStatus.SUCCESS
        assert await _status(http, request_id) == "SUCCESS"


async def test_opening_twice_keeps_the_first_outcome() -> None:
    """A second opening changes nothing, even if the configured outcome changed meanwhile."""
    fake = FakeNxCloud(clock=Clock())
    async with http_client(fake) as http:
        request_id, url = await start_login(http)
        await fake.open_url(url)
        fake.set_outcome("8615800001795", VerifyStatus.MISMATCH)
        assert (await http.get(url)).status_code == 200
        assert await _status(http, request_id) == "SUCCESS"


async def test_unknown_request_id_is_2205() -> None:
    """verify of an id the simulator never issued is 2205."""
    async with http_client(FakeNxCloud(clock=Clock())) as http:
        assert await _status(http, "0123456789abcdef0123456789abcdef") == 2205


async def test_request_id_of_another_app_is_2205() -> None:
    """A login started for one app is not found when verified with another app's key."""
    fake = FakeNxCloud(clock=Clock())
    fake.add_app("second-app")
    async with http_client(fake) as http:
        request_id, _ = await start_login(http)
        body = verify_body(request_id, appkey="second-app")
        assert (await call(http, "verify", body))["code"] == 2205


async def test_login_expires_after_record_ttl() -> None:
    """A login lives ``record_ttl`` seconds: verify is 2205 and its url a 404 afterwards."""
    clock = Clock()
    fake = FakeNxCloud(clock=clock, record_ttl=600.0)
    async with http_client(fake) as http:
        request_id, url = await start_login(http)
        clock.now += 599.0
        assert await _status(http, request_id, ts=NOW_MS + 599_000) == "PENDING"
        clock.now += 1.0
        assert await _status(http, request_id, ts=NOW_MS + 600_000) == 2205
        assert (await http.get(url)).status_code == 404
    with pytest.raises(LookupError):
        await fake.open_url(url)


async def test_open_url_rejects_other_urls() -> None:
    """``open_url`` of a url that is not a login url raises ValueError."""
    with pytest.raises(ValueError, match="not a login url"):
        await FakeNxCloud().open_url("http://fake.nxcloud.test/api/ota/init")


async def test_date_header_follows_the_offset_clock() -> None:
    """Every answer (envelope, page, 404) carries Date from clock() + clock_offset_ms."""
    fake = FakeNxCloud(clock=Clock(), clock_offset_ms=90_000)
    body = init_body()
    async with http_client(fake) as http:
        headers = signed_headers("init", body, ts=NOW_MS + 90_000)
        response = await http.post("/api/ota/init", content=body, headers=headers)
        page = await http.get(response.json()["data"]["url"])
        missing = await http.get("/nowhere")
    for answer in (response, page, missing):
        assert answer.headers.get_list("date") == ["Tue, 14 Nov 2023 22:14:50 GMT"]


async def test_callback_is_posted_with_query_parameters() -> None:
    """On completion the callback is POSTed once, its parameters in the query string."""
    received: list[httpx.Request] = []

    def receiver(request: httpx.Request) -> httpx.Response:
        received.append(request)
        return httpx.Response(200, text="success")

    fake = FakeNxCloud(
        clock=Clock(),
        callback_url="https://customer.example/ota/callback?tenant=7",
        callback_transport=httpx.MockTransport(receiver),
    )
    fake.set_outcome("8615800001795", VerifyStatus.MISMATCH)
    async with http_client(fake) as http:
        request_id, url = await start_login(http)
        assert received == []
        await http.get(url)
        await http.get(url)
    assert len(received) == 1
    callback = received[0]
    assert callback.method == "POST"
    assert callback.url.path == "/ota/callback"
    assert dict(callback.url.params) == {
        "tenant": "7",
        "requestId": request_id,
        "phone": "8615800001795",
        "status": "MISMATCH",
        "drTime": "2023-11-14 22:13:20",
    }
    assert callback.content == b""


async def test_no_callback_while_pending() -> None:
    """A login that stays PENDING sends no callback."""
    received: list[httpx.Request] = []

    def receiver(request: httpx.Request) -> httpx.Response:
        received.append(request)
        return httpx.Response(200, text="success")

    fake = FakeNxCloud(
        clock=Clock(),
        callback_url="https://customer.example/cb",
        callback_transport=httpx.MockTransport(receiver),
    )
    fake.set_outcome("8615800001795", VerifyStatus.PENDING)
    async with http_client(fake) as http:
        _, url = await start_login(http)
        await fake.open_url(url)
    assert received == []


@pytest.mark.parametrize(
    "receiver",
    [
        lambda request: httpx.Response(500, text="boom"),
        lambda request: httpx.Response(200, text="error"),
    ],
)
async def test_rejected_callback_is_logged_not_raised(
    receiver: object, caplog: pytest.LogCaptureFixture
) -> None:
    """A receiver answering 500 or ``error`` is logged as a warning; the login still succeeds."""
    fake = FakeNxCloud(
        clock=Clock(),
        callback_url="https://customer.example/cb",
        callback_transport=httpx.MockTransport(receiver),  # type: ignore[arg-type]
    )
    caplog.set_level(logging.WARNING, logger="nxcloud_ota.testing")
    async with http_client(fake) as http:
        request_id, url = await start_login(http)
        assert (await http.get(url)).status_code == 200
        assert await _status(http, request_id) == "SUCCESS"
    assert [r.levelno for r in caplog.records] == [logging.WARNING]
    assert request_id in caplog.text
    assert "8615800001795" not in caplog.text


async def test_unreachable_callback_is_logged_not_raised(caplog: pytest.LogCaptureFixture) -> None:
    """A receiver that cannot be reached is logged; open_url still returns the status."""

    def unreachable(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    fake = FakeNxCloud(
        clock=Clock(),
        callback_url="https://customer.example/cb",
        callback_transport=httpx.MockTransport(unreachable),
    )
    caplog.set_level(logging.WARNING, logger="nxcloud_ota.testing")
    async with http_client(fake) as http:
        _, url = await start_login(http)
    assert await fake.open_url(url) is VerifyStatus.SUCCESS
    assert "ConnectError" in caplog.text


async def test_recorded_requests_redact_sign() -> None:
    """``fake.requests`` keeps action, path, headers (sign redacted), raw body and code."""
    fake = FakeNxCloud(clock=Clock())
    body = init_body()
    headers = signed_headers("init", body)
    async with http_client(fake) as http:
        _, url = await start_login(http)
        await http.get(url)
        await call(http, "verify", verify_body("c" * 32))
    first, second = fake.requests
    assert (first.action, first.path, first.code) == ("init", "/api/ota/init", 0)
    assert (second.action, second.path, second.code) == ("verify", "/api/ota/verify", 2205)
    assert first.body == body
    assert first.headers["sign"] == "<redacted>"
    assert first.headers["accessKey"] == "fake-access-key"
    assert first.headers["ts"] == str(NOW_MS)
    assert headers["sign"] not in repr(first)
    assert headers["sign"] not in repr(first.headers)
    assert first.received_at <= second.received_at
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        first.code = 1  # type: ignore[misc]


async def test_auto_open_completes_logins_by_itself() -> None:
    """With auto_open, the phone opens the url by itself after that delay: verify turns final."""
    slept: list[float] = []
    opened = asyncio.Event()

    async def sleep(seconds: float) -> None:
        slept.append(seconds)
        await opened.wait()

    fake = FakeNxCloud(clock=Clock(), auto_open=5.0, sleep=sleep)
    async with http_client(fake) as http:
        request_id, _ = await start_login(http)
        assert await _status(http, request_id) == "PENDING"
        opened.set()
        await asyncio.gather(*fake._phones)
        assert await _status(http, request_id) == "SUCCESS"
    assert slept == [5.0]
