from __future__ import annotations

import pytest


@pytest.fixture
def anyio_backend() -> str:
    """Run the async tests on asyncio: the library is asyncio-native."""
    return "asyncio"
