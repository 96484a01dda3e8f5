"""Serving a FakeNxCloud on a real port with uvicorn (the optional ``cli`` extra).

uvicorn is imported only inside these functions, so ``import nxcloud_ota.testing``
works without it. The simulator writes its own ``Date`` header (from its possibly
offset clock), so uvicorn's is switched off.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import AsyncIterator, Iterator
from types import ModuleType
from typing import TYPE_CHECKING

from ._fake import FakeNxCloud

if TYPE_CHECKING:
    import uvicorn

__all__ = ["run_server", "serve", "serve_in_thread"]

_STARTUP_TIMEOUT = 10.0
_POLL = 0.005


def _uvicorn() -> ModuleType:
    """Import uvicorn, or say which extra provides it."""
    try:
        import uvicorn  # noqa: PLC0415 - optional dependency, imported on use
    except ImportError as exc:
        raise ModuleNotFoundError(
            "serving the simulator needs uvicorn: pip install 'nxcloud-ota[cli]'",
            name="uvicorn",
        ) from exc
    return uvicorn


def _server(fake: FakeNxCloud, host: str, port: int, log_level: str) -> uvicorn.Server:
    uvicorn = _uvicorn()
    config = uvicorn.Config(
        fake,
        host=host,
        port=port,
        log_level=log_level,
        lifespan="off",
        date_header=False,
        server_header=False,
    )
    return uvicorn.Server(config)  # type: ignore[no-any-return]


def _base_url(server: uvicorn.Server, host: str) -> str:
    port = server.servers[0].sockets[0].getsockname()[1]
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}"


async def _run(server: uvicorn.Server) -> None:
    try:
        await server.serve()
    except SystemExit as exc:  # uvicorn exits when it cannot bind
        raise OSError(f"uvicorn could not start the simulator (exit {exc.code})") from None


@contextlib.asynccontextmanager
async def serve(fake: FakeNxCloud, host: str = "127.0.0.1", port: int = 0) -> AsyncIterator[str]:
    """Serve ``fake`` with uvicorn as a task of the running loop; yield its base URL.

    The URL carries the port actually bound, e.g. ``"http://127.0.0.1:54321"``.
    The server shuts down when the block exits. Raises ``OSError`` if it cannot
    bind, ``TimeoutError`` if it does not start within 10 s, and
    ``ModuleNotFoundError`` without uvicorn.

    Args:
        fake: The simulator to serve.
        host: The address to bind.
        port: The port to bind; 0 picks a free one.
    """
    server = _server(fake, host, port, "warning")
    task = asyncio.create_task(_run(server))
    started = False
    try:
        deadline = time.monotonic() + _STARTUP_TIMEOUT
        while not server.started:
            if task.done():
                await task  # raises the OSError of a failed start
                raise OSError("uvicorn stopped before it started")
            if time.monotonic() > deadline:
                raise TimeoutError("uvicorn did not start the simulator in time")
            await asyncio.sleep(_POLL)
        started = True
        yield _base_url(server, host)
    finally:
        if started or not task.done():
            server.should_exit = True
            await task


@contextlib.contextmanager
def serve_in_thread(fake: FakeNxCloud, host: str = "127.0.0.1", port: int = 0) -> Iterator[str]:
    """Like :func:`serve`, from synchronous code: uvicorn runs in a thread with its own loop.

    The simulator's state is shared with the calling thread; its mutations are
    guarded by a lock, so tests may configure it and inspect ``fake.requests``
    while it serves.

    Args:
        fake: The simulator to serve.
        host: The address to bind.
        port: The port to bind; 0 picks a free one.
    """
    server = _server(fake, host, port, "warning")
    failures: list[BaseException] = []

    def main() -> None:
        try:
            asyncio.run(_run(server))
        except BaseException as exc:  # handed to the caller below
            failures.append(exc)

    thread = threading.Thread(target=main, name="nxcloud-fake-server", daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + _STARTUP_TIMEOUT
        while not server.started:
            if not thread.is_alive():
                raise failures[0] if failures else OSError("uvicorn stopped before it started")
            if time.monotonic() > deadline:
                raise TimeoutError("uvicorn did not start the simulator in time")
            time.sleep(_POLL)
        yield _base_url(server, host)
    finally:
        server.should_exit = True
        thread.join(_STARTUP_TIMEOUT)


def run_server(
    fake: FakeNxCloud, host: str = "127.0.0.1", port: int = 8000, *, log_level: str = "info"
) -> None:
    """Serve ``fake`` with uvicorn on ``host`` and ``port`` until interrupted (Ctrl-C);
    blocks. ``log_level`` is uvicorn's (``"info"`` logs every request).

    Raises ``OSError`` if the address cannot be bound and ``ModuleNotFoundError``
    without uvicorn.

    Args:
        fake: The simulator to serve.
        host: The address to bind.
        port: The port to bind.
        log_level: uvicorn's log level (``"info"`` logs every request).
    """
    server = _server(fake, host, port, log_level)
    try:
        server.run()
    except SystemExit as exc:
        raise OSError(f"uvicorn could not start the simulator (exit {exc.code})") from None
