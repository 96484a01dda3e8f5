"""The little of ASGI the simulator needs: types, reading a body, answering, dropping."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from email.utils import formatdate

import httpx

__all__ = [
    "Message",
    "Receive",
    "Scope",
    "Send",
    "base_url",
    "drop_connection",
    "header_items",
    "lifespan",
    "read_body",
    "send_json",
    "send_text",
]

Message = MutableMapping[str, object]
"""An ASGI event or scope: a mutable mapping of string keys."""
Scope = MutableMapping[str, object]
"""The ASGI connection scope."""
Receive = Callable[[], Awaitable[Message]]
"""The ASGI ``receive`` callable."""
Send = Callable[[Message], Awaitable[None]]
"""The ASGI ``send`` callable."""

_DISCONNECT_WAIT = 5.0


def header_items(scope: Scope) -> list[tuple[str, str]]:
    """Return the request headers as ``(lower-case name, value)`` text pairs."""
    raw = scope.get("headers")
    items: list[tuple[str, str]] = []
    if isinstance(raw, Iterable):
        for pair in raw:
            name, value = pair
            items.append((bytes(name).decode("latin-1").lower(), bytes(value).decode("latin-1")))
    return items


async def read_body(receive: Receive) -> bytes:
    """Read the whole request body (empty if the client went away)."""
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message.get("type") != "http.request":
            break
        body = message.get("body", b"")
        if isinstance(body, (bytes, bytearray)):
            chunks.append(bytes(body))
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


async def _send(
    send: Send,
    *,
    status: int,
    body: bytes,
    content_type: str,
    date: float,
    extra: list[tuple[bytes, bytes]],
) -> None:
    headers = [
        (b"content-type", content_type.encode("latin-1")),
        (b"content-length", str(len(body)).encode("ascii")),
        (b"date", formatdate(date, usegmt=True).encode("ascii")),
        *extra,
    ]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body, "more_body": False})


async def send_json(send: Send, payload: object, *, date: float) -> None:
    """Answer HTTP 200 with ``payload`` as compact UTF-8 JSON and a ``Date`` header."""
    body = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()
    await _send(
        send,
        status=200,
        body=body,
        content_type="application/json;charset=UTF-8",
        date=date,
        extra=[],
    )


async def send_text(
    send: Send,
    status: int,
    text: str,
    *,
    date: float,
    html: bool = False,
    extra: Iterable[tuple[bytes, bytes]] = (),
) -> None:
    """Answer ``status`` with a plain-text (or HTML) body and a ``Date`` header."""
    content_type = "text/html; charset=utf-8" if html else "text/plain; charset=utf-8"
    await _send(
        send,
        status=status,
        body=text.encode(),
        content_type=content_type,
        date=date,
        extra=list(extra),
    )


async def drop_connection(receive: Receive, send: Send) -> None:
    """Close the connection without answering, as faithfully as the server allows.

    Under uvicorn, whose ``send`` is a method of an object holding the connection's
    asyncio transport, the transport is aborted: the client reads end-of-stream
    with no response at all (httpx raises ``RemoteProtocolError: Server disconnected
    without sending a response.``). We then wait for uvicorn to notice the
    disconnect, so that it does not answer 500 on our behalf.

    Anywhere else (``httpx.ASGITransport``, other servers) the same
    :class:`httpx.RemoteProtocolError` is raised from the app: ASGITransport hands it
    to the caller unchanged; another server would answer 500.
    """
    transport = getattr(getattr(send, "__self__", None), "transport", None)
    if not isinstance(transport, asyncio.Transport):
        raise httpx.RemoteProtocolError("Server disconnected without sending a response.")
    transport.abort()
    # uvicorn always reports the disconnect; the bound is only a safety net.
    with contextlib.suppress(asyncio.TimeoutError):
        await asyncio.wait_for(_until_disconnect(receive), _DISCONNECT_WAIT)


async def _until_disconnect(receive: Receive) -> None:
    while (await receive()).get("type") != "http.disconnect":
        pass


def base_url(scope: Scope) -> str:
    """``{scheme}://{host}`` as the caller addressed the simulator (its Host header)."""
    scheme = str(scope.get("scheme") or "http")
    host = dict(header_items(scope)).get("host")
    if not host:
        server = scope.get("server")
        if isinstance(server, (tuple, list)) and len(server) == 2:
            host = f"{server[0]}:{server[1]}" if server[1] else str(server[0])
        else:
            host = "localhost"
    return f"{scheme}://{host}"


async def lifespan(receive: Receive, send: Send) -> None:
    """Acknowledge the lifespan protocol's startup and shutdown."""
    while True:
        message = await receive()
        if message.get("type") == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message.get("type") == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return
