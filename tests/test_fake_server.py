"""serve(), run_server() and serve_in_thread(): the simulator on a real loopback port."""

from __future__ import annotations

import logging
import re
import socket
import subprocess
import sys

import httpx
import pytest
from test_fake_support import NOW_MS, Clock, call, init_body, signed_headers, start_login

from nxcloud_ota.testing import FakeNxCloud, run_server, serve
from nxcloud_ota.testing._server import serve_in_thread


@pytest.mark.anyio
async def test_serve_answers_raw_http_on_loopback() -> None:
    """Under ``serve()`` a hand-signed init, the url and verify all work over real TCP."""
    fake = FakeNxCloud(clock=Clock())
    async with serve(fake) as base_url:
        assert re.fullmatch(r"http://127\.0\.0\.1:[1-9][0-9]*", base_url)
        async with httpx.AsyncClient(base_url=base_url) as http:
            request_id, url = await start_login(http)
            assert url == f"{base_url}/ota/auth/{request_id}"
            assert (await http.get(url)).status_code == 200
            body = b'{"appkey":"fake-app-key","requestId":"' + request_id.encode() + b'"}'
            envelope = await call(http, "verify", body)
        assert envelope["data"] == {"requestId": request_id, "status": "SUCCESS"}
    with pytest.raises(httpx.ConnectError):
        async with httpx.AsyncClient() as http:
            await http.get(base_url)


@pytest.mark.anyio
async def test_served_date_header_is_the_simulators_only() -> None:
    """Over uvicorn there is exactly one Date header, from the simulator's offset clock."""
    fake = FakeNxCloud(clock=Clock(), clock_offset_ms=-30_000)
    body = init_body()
    async with serve(fake) as base_url, httpx.AsyncClient(base_url=base_url) as http:
        headers = signed_headers("init", body, ts=NOW_MS - 30_000)
        response = await http.post("/api/ota/init", content=body, headers=headers)
    assert response.json()["code"] == 0
    assert response.headers.get_list("date") == ["Tue, 14 Nov 2023 22:12:50 GMT"]


@pytest.mark.anyio
async def test_drop_under_uvicorn_closes_without_an_answer(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Under uvicorn a dropped call reads as "disconnected without a response", not a 500."""
    fake = FakeNxCloud(clock=Clock())
    caplog.set_level(logging.INFO, logger="uvicorn.error")
    async with serve(fake) as base_url, httpx.AsyncClient(base_url=base_url) as http:
        await start_login(http)  # a kept-alive connection, then dropped
        fake.drop_next(1)
        with pytest.raises(httpx.RemoteProtocolError, match="without sending a response"):
            await call(http, "init", init_body())
        await start_login(http)
    assert [r.code for r in fake.requests] == [0, None, 0]
    assert "Exception in ASGI application" not in caplog.text
    assert "without starting response" not in caplog.text


@pytest.mark.anyio
async def test_serve_reports_a_port_in_use() -> None:
    """``serve()`` on a port another socket listens on raises OSError, not SystemExit."""
    taken, port = _listening_port()
    with taken, pytest.raises(OSError, match="could not start"):
        async with serve(FakeNxCloud(), port=port):
            pytest.fail("the server should not have started")


def _listening_port() -> tuple[socket.socket, int]:
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    return taken, taken.getsockname()[1]


def test_run_server_reports_a_port_in_use() -> None:
    """``run_server`` on a taken port raises OSError instead of serving or exiting."""
    taken, port = _listening_port()
    with taken, pytest.raises(OSError, match="could not start"):
        run_server(FakeNxCloud(), port=port, log_level="critical")


def test_serve_in_thread_reports_a_port_in_use() -> None:
    """``serve_in_thread`` on a taken port raises the server thread's OSError."""
    taken, port = _listening_port()
    with (
        taken,
        pytest.raises(OSError, match="could not start"),
        serve_in_thread(FakeNxCloud(), port=port),
    ):
        pytest.fail("the server should not have started")


def test_serve_in_thread_serves_sync_callers() -> None:
    """``serve_in_thread`` runs uvicorn in its own thread; a sync client gets answers."""
    fake = FakeNxCloud()
    with serve_in_thread(fake) as base_url, httpx.Client(base_url=base_url) as http:
        response = http.get("/nowhere")
    assert response.status_code == 404
    assert response.text == "Not Found"


@pytest.mark.anyio
async def test_without_uvicorn_serving_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without uvicorn, serve() and run_server() raise ModuleNotFoundError naming the extra."""
    monkeypatch.setitem(sys.modules, "uvicorn", None)
    with pytest.raises(ModuleNotFoundError, match=re.escape("pip install 'nxcloud-ota[cli]'")):
        async with serve(FakeNxCloud()):
            pytest.fail("served without uvicorn")
    with pytest.raises(ModuleNotFoundError, match=re.escape("nxcloud-ota[cli]")):
        run_server(FakeNxCloud())


def test_testing_imports_without_uvicorn() -> None:
    """``import nxcloud_ota.testing`` (and its pytest plugin) works when uvicorn is absent."""
    code = (
        "import sys; sys.modules['uvicorn'] = None\n"
        "import nxcloud_ota.testing, nxcloud_ota.testing._pytest_plugin\n"
        "print(nxcloud_ota.testing.FakeNxCloud().app_key)\n"
    )
    done = subprocess.run(  # noqa: S603 - our own interpreter and code
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "fake-app-key"
