from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator

import httpx
import pytest

import nxcloud_ota as ota
from nxcloud_ota._httpclient import CookielessAsyncClient, RequestTemplate
from tests._servers import OK_BODY, http_response, read_request
from tests._support import (
    ACCESS_KEY,
    ACCESS_SECRET,
    APP_KEY,
    Recorder,
    envelope,
    expected_sign,
    init_ok,
)

pytestmark = pytest.mark.anyio

PHONE, IP = "8615800001795", "203.0.113.7"


def with_cookie(request: httpx.Request) -> httpx.Response:
    answer = init_ok()
    answer.headers["Set-Cookie"] = "session=abc; Path=/"
    return answer


@contextlib.asynccontextmanager
async def recording_server(answer: bytes) -> AsyncIterator[tuple[str, list[bytes]]]:
    """A loopback server that keeps every request's bytes and answers each with ``answer``."""
    heads: list[bytes] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(asyncio.IncompleteReadError, ConnectionError):
            while True:
                heads.append(await read_request(reader))
                writer.write(answer)
                await writer.drain()
        writer.close()

    listener = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = listener.sockets[0].getsockname()[1]
    async with listener:
        yield f"http://127.0.0.1:{port}", heads
        listener.close()


def header_names(raw: bytes) -> list[bytes]:
    head = raw.split(b"\r\n\r\n", 1)[0]
    return [line.split(b":", 1)[0] for line in head.split(b"\r\n")[1:]]


async def test_default_client_keeps_and_sends_no_cookies() -> None:
    """A Set-Cookie answer leaves no cookie in the client's own pool and none on the next call."""
    recorder = Recorder(with_cookie)
    async with ota.AsyncOtaClient(
        access_key=ACCESS_KEY,
        access_secret=ACCESS_SECRET,
        app_key=APP_KEY,
        transport=recorder.transport,
    ) as client:
        await client.init(PHONE, IP)
        await client.init(PHONE, IP)
        assert not client._http.cookies
    assert [r.headers.get("Cookie") for r in recorder.requests] == [None, None]
    assert recorder.bad_signatures == 0


async def test_default_transport_sends_the_signed_headers_and_no_cookie() -> None:
    """Over a real socket each signed header goes once, and no Cookie follows a Set-Cookie."""
    answer = http_response(OK_BODY, extra=b"Set-Cookie: session=abc; Path=/\r\n")
    async with (
        recording_server(answer) as (url, heads),
        ota.AsyncOtaClient(
            access_key=ACCESS_KEY, access_secret=ACCESS_SECRET, app_key=APP_KEY, base_url=url
        ) as client,
    ):
        await client.init(PHONE, IP)
        await client.init(PHONE, IP)
    assert len(heads) == 2
    for raw in heads:
        names = [name.lower() for name in header_names(raw)]
        for name in (b"accesskey", b"ts", b"biztype", b"action", b"sign", b"content-type"):
            assert names.count(name) == 1, name
        assert b"cookie" not in names
        assert raw.endswith(b'"userIp":"203.0.113.7"}')


def test_cookies_given_to_the_cookieless_client_are_dropped() -> None:
    """Cookies passed at construction, assigned or set later are not kept."""
    http = CookielessAsyncClient(cookies={"a": "1"})
    http.cookies = httpx.Cookies({"b": "2"})
    http.cookies.set("c", "3")
    http.cookies["d"] = "4"
    http.cookies.update({"e": "5"})
    assert not http.cookies
    assert "Cookie" not in http.build_request("GET", "https://x.example/").headers


@pytest.mark.parametrize("body", [b'{"a":"\xe7\x89\x9b"}', b""])
def test_template_builds_what_build_request_builds(body: bytes) -> None:
    """Requests after the first equal build_request's, headers in order, whatever the first got."""
    http = CookielessAsyncClient(timeout=httpx.Timeout(3.0, connect=1.0), headers={"X-Base": "b"})
    url = httpx.URL("https://api.example:8443/api/ota/init")
    headers = {"Content-Type": "application/json", "bizType": "6", "action": "init"}
    extensions = {"custom": ("init", "6")}
    template = RequestTemplate(http, url, headers, extensions, merge_per_call=False)
    first = template.build(b'{"first":1}')
    first.headers["sign"] = "signed in place"
    built = template.build(body)
    expected = http.build_request(
        "POST", url, content=body, headers=headers, extensions=dict(extensions)
    )
    assert built.method == expected.method
    assert built.url == expected.url
    assert built.headers.raw == expected.headers.raw
    assert built.content == expected.content == body
    assert built.extensions == expected.extensions


async def test_a_given_http_client_keeps_its_headers_cookies_hooks_and_changes() -> None:
    """A caller's client merges its own headers and cookies on every call, and runs its hooks."""
    recorder = Recorder(init_ok(), envelope(0, {"requestId": "abc", "status": "PENDING"}))
    seen: list[str] = []

    async def on_request(request: httpx.Request) -> None:
        seen.append(f"request {request.headers['action']}")

    async def on_response(response: httpx.Response) -> None:
        seen.append(f"response {response.status_code}")

    async with httpx.AsyncClient(
        transport=recorder.transport,
        headers={"X-Trace": "t1"},
        cookies={"session": "s1"},
        event_hooks={"request": [on_request], "response": [on_response]},
        auth=("user", "pass"),
    ) as shared:
        client = ota.AsyncOtaClient(
            access_key=ACCESS_KEY, access_secret=ACCESS_SECRET, app_key=APP_KEY, http_client=shared
        )
        await client.init(PHONE, IP)
        shared.headers["X-Trace"] = "t2"
        shared.cookies.set("session", "s2")
        await client.verify("abc")
    first, second = recorder.requests
    assert (first.headers["X-Trace"], second.headers["X-Trace"]) == ("t1", "t2")
    assert (first.headers["Cookie"], second.headers["Cookie"]) == ("session=s1", "session=s2")
    assert seen == ["request init", "response 200", "request verify", "response 200"]
    # The signing hook is the auth of every call: the client's own is not applied.
    assert "Authorization" not in first.headers
    assert recorder.bad_signatures == 0
    assert first.headers["sign"] == expected_sign(first)
    assert json.loads(second.content) == {"appkey": APP_KEY, "requestId": "abc"}
