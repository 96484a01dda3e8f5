"""The pytest plugin (entry point ``pytest11``): fixtures around the simulator.

The fixtures are synchronous, so they work under pytest-asyncio and anyio alike:

- ``nxcloud_fake``: a fresh :class:`~nxcloud_ota.testing.FakeNxCloud` per test.
- ``nxcloud_client``: an :class:`~nxcloud_ota.AsyncOtaClient` wired to
  ``nxcloud_fake`` in process (``httpx.ASGITransport``), with its credentials and
  retries that never wait. It holds no sockets, so it needs no closing.
- ``nxcloud_server``: ``nxcloud_fake`` served by uvicorn on a free loopback port,
  in a background thread with its own event loop; yields the base URL. Skipped
  when uvicorn is not installed.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import httpx
import pytest

from ._fake import FakeNxCloud
from ._server import serve_in_thread

if TYPE_CHECKING:
    from .. import AsyncOtaClient

__all__ = ["FAKE_BASE_URL", "nxcloud_client", "nxcloud_fake", "nxcloud_server"]

FAKE_BASE_URL = "http://fake.nxcloud.test"
"""The base URL ``nxcloud_client`` uses; the simulator builds login urls from it."""


@pytest.fixture
def nxcloud_fake() -> FakeNxCloud:
    """A fresh NXCloud simulator with the default credentials (see ``FAKE_*``)."""
    return FakeNxCloud()


@pytest.fixture
def nxcloud_client(nxcloud_fake: FakeNxCloud) -> AsyncOtaClient:
    """An ``AsyncOtaClient`` talking to ``nxcloud_fake`` in process, retrying without waits."""
    # Imported here: the plugin loads in every pytest run of an environment that has
    # the package, and must stay cheap.
    from .. import AsyncOtaClient, RetryPolicy  # noqa: PLC0415

    return AsyncOtaClient(
        access_key=nxcloud_fake.access_key,
        access_secret=nxcloud_fake.access_secret,
        app_key=nxcloud_fake.app_key,
        base_url=FAKE_BASE_URL,
        transport=httpx.ASGITransport(app=nxcloud_fake),
        retry=RetryPolicy.no_wait(),
    )


@pytest.fixture
def nxcloud_server(nxcloud_fake: FakeNxCloud) -> Iterator[str]:
    """``nxcloud_fake`` served on a free loopback port; the base URL, e.g. ``http://127.0.0.1:5xxxx``."""
    pytest.importorskip("uvicorn", reason="nxcloud_server needs uvicorn (the 'cli' extra)")
    with serve_in_thread(nxcloud_fake) as base_url:
        yield base_url
