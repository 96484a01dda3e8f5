"""aiohttp, the costliest import, loads only when the default transport is first used."""

from __future__ import annotations

import pytest

from tests._support import run_python


def loaded_after(code: str) -> set[str]:
    """The top-level modules a fresh interpreter has imported after running ``code``."""
    script = (
        f"{code}\nimport sys\nprint(' '.join(sorted({{m.split('.')[0] for m in sys.modules}})))"
    )
    done = run_python("-c", script)
    assert done.returncode == 0, done.stderr
    return set(done.stdout.split())


@pytest.mark.parametrize(
    "code",
    [
        "import nxcloud_ota",
        "import nxcloud_ota.testing._pytest_plugin",
        # A client with a transport of its own never needs aiohttp, not even for bulk runs.
        "import httpx, nxcloud_ota as o\n"
        "c = o.AsyncOtaClient(access_key='a', access_secret='s', app_key='k',"
        " transport=httpx.MockTransport(lambda r: httpx.Response(200)))\n"
        "c.init_many([], concurrency=5)",
    ],
    ids=["package", "pytest-plugin", "own-transport"],
)
def test_importing_does_not_load_aiohttp(code: str) -> None:
    """The package, the pytest plugin and a client on its own transport leave aiohttp unloaded."""
    loaded = loaded_after(code)
    assert "nxcloud_ota" in loaded
    assert "aiohttp" not in loaded


def test_the_default_transport_loads_aiohttp() -> None:
    """A client on the default transport, and the public name, do load it (the check works)."""
    assert "aiohttp" in loaded_after(
        "import nxcloud_ota as o\no.AsyncOtaClient(access_key='a', access_secret='s', app_key='k')"
    )
    assert "aiohttp" in loaded_after("from nxcloud_ota import AiohttpTransport")


def test_aiohttp_transport_stays_a_public_name() -> None:
    """``AiohttpTransport`` is in ``__all__``, ``dir()``, and is the transport class."""
    import nxcloud_ota
    from nxcloud_ota._aiohttp_transport import AiohttpTransport

    assert nxcloud_ota.AiohttpTransport is AiohttpTransport
    assert "AiohttpTransport" in nxcloud_ota.__all__
    assert "AiohttpTransport" in dir(nxcloud_ota)
    with pytest.raises(AttributeError, match="no_such_name"):
        _ = nxcloud_ota.no_such_name  # type: ignore[attr-defined]
