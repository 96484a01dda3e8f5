"""Raw loopback socket servers with scripted misbehaviour, for transport tests."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Protocol, TypeVar

from nxcloud_ota import AsyncOtaClient
from tests._support import ACCESS_KEY, ACCESS_SECRET, APP_KEY

Behaviour = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]

OK_BODY = b'{"code":0,"msg":"ok","data":{"requestId":"r1","url":"https://u/r1"}}'


async def read_request(reader: asyncio.StreamReader) -> bytes:
    """Read one HTTP/1.1 request with a Content-Length body; b'' at EOF."""
    head = await reader.readuntil(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n"):
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    return head + await reader.readexactly(length)


def http_response(
    body: bytes,
    *,
    status: bytes = b"200 OK",
    extra: bytes = b"",
    content_type: bytes = b"application/json",
) -> bytes:
    return (
        b"HTTP/1.1 "
        + status
        + b"\r\nContent-Type: "
        + content_type
        + b"\r\n"
        + extra
        + b"Content-Length: "
        + str(len(body)).encode()
        + b"\r\n\r\n"
        + body
    )


class Server:
    """Counts the connections it accepted and the complete requests it read; answers each
    request with ``behaviour``."""

    def __init__(self, behaviour: Behaviour) -> None:
        self.behaviour = behaviour
        self.connections = 0
        self.requests = 0
        self.url = ""

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            while True:
                try:
                    await read_request(reader)
                except (asyncio.IncompleteReadError, ConnectionError):
                    return
                self.requests += 1
                await self.behaviour(reader, writer)
                if writer.is_closing():
                    return
        finally:
            writer.close()


class Listening(Protocol):
    url: str

    async def _handle(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None: ...


ListeningT = TypeVar("ListeningT", bound=Listening)


@contextlib.asynccontextmanager
async def listen(server: ListeningT) -> AsyncIterator[ListeningT]:
    """Run ``server`` on a free loopback port, setting its ``url``."""
    # A listen queue for the tests that open a thousand connections at once.
    listener = await asyncio.start_server(server._handle, "127.0.0.1", 0, backlog=1024)
    port = listener.sockets[0].getsockname()[1]
    server.url = f"http://127.0.0.1:{port}"
    async with listener:
        yield server
        listener.close()


@contextlib.asynccontextmanager
async def serve(behaviour: Behaviour) -> AsyncIterator[Server]:
    async with listen(Server(behaviour)) as server:
        yield server


async def answer_ok(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    writer.write(http_response(OK_BODY))
    await writer.drain()


async def hang_up(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Read the request, then close without a word: the request was sent."""
    writer.close()


def free_port_refusing() -> str:
    """A loopback URL where nothing listens: connecting is refused."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def client_at(url: str, **options: object) -> AsyncOtaClient:
    """A client of the test credentials for a loopback server: the default
    transport and retry policy unless ``options`` say otherwise."""
    return AsyncOtaClient(
        access_key=ACCESS_KEY,
        access_secret=ACCESS_SECRET,
        app_key=APP_KEY,
        base_url=url,
        **options,  # type: ignore[arg-type]
    )
