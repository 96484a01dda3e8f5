from __future__ import annotations

import pytest

# The project's own pytest plugin (users get it through its entry point).
pytest_plugins = ["nxcloud_ota.testing._pytest_plugin"]


@pytest.fixture
def anyio_backend() -> str:
    """Run the async tests on asyncio: the library is asyncio-native."""
    return "asyncio"
