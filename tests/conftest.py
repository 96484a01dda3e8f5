from __future__ import annotations

from collections.abc import Iterator

import pytest

from nxcloud_ota.testing import FakeNxCloud
from nxcloud_ota.testing._server import serve_in_thread

# The project's own pytest plugin (users get it through its entry point).
pytest_plugins = ["nxcloud_ota.testing._pytest_plugin"]


@pytest.fixture
def anyio_backend() -> str:
    """Run the async tests on asyncio: the library is asyncio-native."""
    return "asyncio"


@pytest.fixture(scope="module")
def served_simulator() -> Iterator[tuple[FakeNxCloud, str]]:
    """The simulator on a loopback port (and its base URL); its phones open their login
    urls by themselves after 50 ms."""
    fake = FakeNxCloud(auto_open=0.05)
    with serve_in_thread(fake) as base_url:
        yield fake, base_url
