"""Every request names the package, httpx and Python in its ``User-Agent``."""

from __future__ import annotations

import asyncio
import platform

import httpx
import pytest

import nxcloud_ota as ota
from nxcloud_ota.testing import FakeNxCloud
from tests._servers import OK_BODY, http_response, read_request

pytestmark = pytest.mark.anyio

EXPECTED = (
    f"nxcloud-ota/{ota.__version__} httpx/{httpx.__version__} python/{platform.python_version()}"
)


async def test_the_default_transport_sends_it_on_the_wire() -> None:
    """The bytes that reach a loopback server carry the User-Agent header, once."""
    heads: list[bytes] = []

    async def record(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        heads.append(await read_request(reader))
        writer.write(http_response(OK_BODY))
        await writer.drain()
        writer.close()

    listener = await asyncio.start_server(record, "127.0.0.1", 0)
    port = listener.sockets[0].getsockname()[1]
    async with listener:
        async with ota.AsyncOtaClient(
            access_key="ak",
            access_secret="s3cret",
            app_key="app",
            base_url=f"http://127.0.0.1:{port}",
        ) as client:
            await client.init("8615800001795", "203.0.113.7")
        listener.close()
    lines = heads[0].decode().lower().split("\r\n")
    agents = [line for line in lines if line.startswith("user-agent:")]
    assert agents == [f"user-agent: {EXPECTED.lower()}"]


async def test_a_shared_http_client_still_sends_it(nxcloud_fake: FakeNxCloud) -> None:
    """With an ``http_client`` of the application's (its own default headers), init and verify
    still go out as nxcloud-ota, as the simulator recorded them."""
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=nxcloud_fake), headers={"User-Agent": "app/1.0"}
    ) as http:
        client = ota.AsyncOtaClient(
            access_key=nxcloud_fake.access_key,
            access_secret=nxcloud_fake.access_secret,
            app_key=nxcloud_fake.app_key,
            base_url="http://fake.nxcloud.test",
            http_client=http,
        )
        started = await client.init("8615800001795", "203.0.113.7")
        await client.verify(started.request_id)
    assert [r.headers["User-Agent"] for r in nxcloud_fake.requests] == [EXPECTED, EXPECTED]
