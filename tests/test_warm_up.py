"""AsyncOtaClient.warm_up: connections opened ahead of the first calls, on real sockets."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

import httpx
import pytest

from nxcloud_ota import AiohttpTransport, AsyncOtaClient, InvalidInputError
from nxcloud_ota.testing import FAKE_ACCESS_KEY, FAKE_ACCESS_SECRET, FAKE_APP_KEY, FakeNxCloud
from tests._servers import OK_BODY, free_port_refusing, http_response, read_request

pytestmark = pytest.mark.anyio


class Counting:
    """A loopback HTTP/1.1 server that counts the connections it accepts and the
    requests of each method; answers HEAD with an empty 404, POST with success."""

    def __init__(self) -> None:
        self.connections = 0
        self.methods: dict[str, int] = {}
        self.url = ""

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            while True:
                try:
                    request = await read_request(reader)
                except (asyncio.IncompleteReadError, ConnectionError):
                    return
                method = request.split(b" ", 1)[0].decode()
                self.methods[method] = self.methods.get(method, 0) + 1
                if method == "HEAD":
                    writer.write(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")
                else:
                    writer.write(http_response(OK_BODY))
                await writer.drain()
        finally:
            writer.close()


@contextlib.asynccontextmanager
async def counting_server() -> AsyncIterator[Counting]:
    server = Counting()
    listener = await asyncio.start_server(server.handle, "127.0.0.1", 0)
    server.url = f"http://127.0.0.1:{listener.sockets[0].getsockname()[1]}"
    async with listener:
        yield server


def client_for(url: str, **options: httpx.AsyncBaseTransport) -> AsyncOtaClient:
    return AsyncOtaClient(
        access_key="ak", access_secret="sk", app_key="app", base_url=url, **options
    )


async def test_warm_up_opens_the_connections_the_calls_then_use() -> None:
    """warm_up(connections=8) opens 8 connections; 8 concurrent calls then open none."""
    async with counting_server() as server, client_for(server.url) as client:
        assert await client.warm_up(connections=8) == 8
        assert server.connections == 8
        assert server.methods == {"HEAD": 8}
        await asyncio.gather(*(client.init("8615800001795", "203.0.113.7") for _ in range(8)))
        assert server.methods == {"HEAD": 8, "POST": 8}
        assert server.connections == 8


async def test_warm_up_grows_the_default_pool() -> None:
    """The default transport's pool grows to the connections warmed up, as init_many's does."""
    transport = AiohttpTransport(max_connections=4)
    async with counting_server() as server, client_for(server.url, transport=transport) as client:
        assert await client.warm_up(connections=12) == 12
        assert transport.max_connections == 12
        assert server.connections == 12


async def test_warm_up_sends_no_api_call() -> None:
    """The simulator records no API call for a warm-up: nothing billed, nothing rate limited."""
    fake = FakeNxCloud(rate=1, burst=1)
    async with AsyncOtaClient(
        access_key=FAKE_ACCESS_KEY,
        access_secret=FAKE_ACCESS_SECRET,
        app_key=FAKE_APP_KEY,
        base_url="https://nxcloud.test",
        transport=httpx.ASGITransport(app=fake),
    ) as client:
        assert await client.warm_up(connections=3) == 3
        await client.init("8615800001795", "203.0.113.7")  # the one token is still there
    assert [(r.action, r.code) for r in fake.requests] == [("init", 0)]


async def test_an_unreachable_host_is_logged_not_raised(caplog: pytest.LogCaptureFixture) -> None:
    """Connections that cannot be opened make warm_up return 0, with one warning."""
    async with client_for(free_port_refusing()) as client:
        with caplog.at_level(logging.WARNING, logger="nxcloud_ota"):
            assert await client.warm_up(connections=3) == 0
    assert [r.getMessage() for r in caplog.records] == [
        f"warm-up: 3 of 3 connections to {client.base_url}/ failed (ConnectError)"
    ]


async def test_bad_connections_fail_before_anything_is_sent() -> None:
    """A count that is not a whole number >= 1 raises InvalidInputError naming it."""
    async with counting_server() as server, client_for(server.url) as client:
        for bad in (0, -1, 2.5, True):
            with pytest.raises(InvalidInputError, match="connections"):
                await client.warm_up(connections=bad)  # type: ignore[arg-type]
        assert server.connections == 0


async def test_an_error_other_than_a_transport_error_propagates() -> None:
    """An error other than a transport error (a bug in a transport) is raised, not counted."""

    def broken(request: httpx.Request) -> httpx.Response:
        raise RuntimeError("broken transport")

    async with client_for("https://nxcloud.test", transport=httpx.MockTransport(broken)) as client:
        with pytest.raises(RuntimeError, match="broken transport"):
            await client.warm_up(connections=2)
