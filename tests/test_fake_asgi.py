"""FakeNxCloud as a bare ASGI application, driven without any HTTP client."""

from __future__ import annotations

import json
from collections.abc import MutableMapping

import pytest
from test_fake_support import Clock, init_body, signed_headers

from nxcloud_ota.testing import FakeNxCloud

pytestmark = pytest.mark.anyio

Message = MutableMapping[str, object]


class Channel:
    """Scripted ``receive`` messages and the ``send`` messages collected."""

    def __init__(self, *incoming: Message) -> None:
        self.incoming = list(incoming)
        self.sent: list[Message] = []

    async def receive(self) -> Message:
        return self.incoming.pop(0)

    async def send(self, message: Message) -> None:
        self.sent.append(message)


async def test_lifespan_is_acknowledged() -> None:
    """The lifespan protocol's startup and shutdown are both completed."""
    channel = Channel({"type": "lifespan.startup"}, {"type": "lifespan.shutdown"})
    await FakeNxCloud()({"type": "lifespan"}, channel.receive, channel.send)
    assert channel.sent == [
        {"type": "lifespan.startup.complete"},
        {"type": "lifespan.shutdown.complete"},
    ]


async def test_other_scope_types_are_ignored() -> None:
    """A websocket scope gets no answer and changes nothing."""
    fake = FakeNxCloud()
    channel = Channel()
    await fake({"type": "websocket", "path": "/api/ota/init"}, channel.receive, channel.send)
    assert channel.sent == []
    assert fake.requests == []


async def test_url_without_host_header_uses_the_server_address() -> None:
    """Without a Host header, the login url is built from the scope's server address."""
    body = init_body()
    headers = [(k.lower().encode(), v.encode()) for k, v in signed_headers("init", body).items()]
    scope: Message = {
        "type": "http",
        "method": "POST",
        "path": "/api/ota/init",
        "scheme": "https",
        "server": ("10.1.2.3", 8443),
        "headers": headers,
    }
    # The body arrives in two chunks.
    channel = Channel(
        {"type": "http.request", "body": body[:10], "more_body": True},
        {"type": "http.request", "body": body[10:], "more_body": False},
    )
    await FakeNxCloud(clock=Clock())(scope, channel.receive, channel.send)
    start, answer = channel.sent
    assert start["status"] == 200
    payload = answer["body"]
    assert isinstance(payload, bytes)
    data = json.loads(payload)["data"]
    assert data["url"] == f"https://10.1.2.3:8443/ota/auth/{data['requestId']}"


async def test_recorded_headers_read_like_a_mapping() -> None:
    """Recorded headers iterate in lower case, look up case-insensitively, keep the first."""
    body = init_body()
    headers = [(k.lower().encode(), v.encode()) for k, v in signed_headers("init", body).items()]
    headers.append((b"x-trace", b"first"))
    headers.append((b"x-trace", b"second"))
    scope: Message = {
        "type": "http",
        "method": "POST",
        "path": "/api/ota/init",
        "headers": headers,
    }
    channel = Channel({"type": "http.request", "body": body, "more_body": False})
    fake = FakeNxCloud(clock=Clock())
    await fake(scope, channel.receive, channel.send)
    recorded = fake.requests[0].headers
    assert "accesskey" in list(recorded)
    # Content-Type, the five common headers and one x-trace: the repeat collapses.
    assert len(recorded) == 7
    assert recorded["X-Trace"] == "first"
    assert dict(recorded)["sign"] == "<redacted>"


@pytest.mark.parametrize(
    ("knob", "value"),
    [("rate", 0.0), ("burst", 0), ("fail_rate", 1.5), ("latency", -0.1), ("record_ttl", 0.0)],
)
def test_out_of_range_knobs_are_refused(knob: str, value: float) -> None:
    """Nonsense knob values raise ValueError at construction and on assignment."""
    with pytest.raises(ValueError, match=knob):
        FakeNxCloud(**{knob: value})  # type: ignore[arg-type]
    fake = FakeNxCloud()
    with pytest.raises(ValueError, match=knob):
        setattr(fake, knob, value)
