"""The ``nxcloud-ota fake-server`` command, as a separate process, answers like the provider.

Requests are signed by hand (``test_fake_support.hand_sign``), independently of
the client's own signer.
"""

from __future__ import annotations

import contextlib
import json
import signal
import subprocess
import sys
import time
from collections.abc import Iterator

import httpx
import pytest
from test_fake_support import (
    ACCESS_KEY,
    APP_KEY,
    PHONE,
    SECRET,
    USER_IP,
    init_body,
    signed_headers,
)

from nxcloud_ota import AsyncOtaClient, RetryPolicy, VerifyStatus


@contextlib.contextmanager
def fake_server(*options: str) -> Iterator[str]:
    """Run ``nxcloud-ota fake-server --port 0 OPTIONS`` in its own process; yield its URL,
    read from its banner; interrupt it (Ctrl-C) at the end."""
    with subprocess.Popen(  # noqa: S603 - our own interpreter and command
        [
            sys.executable,
            "-c",
            "from nxcloud_ota._cli import main; main()",
            "fake-server",
            "--port",
            "0",
            *options,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    ) as proc:
        try:
            assert proc.stdout is not None
            first = proc.stdout.readline()
            assert first.startswith("NXCloud simulator on http://127.0.0.1:"), first
            yield first.split(" on ", 1)[1].strip()
        finally:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:  # pragma: no cover - only if shutdown hangs
                proc.kill()


@pytest.fixture(scope="module")
def base_url() -> Iterator[str]:
    """The command with its defaults, shared by the tests of this module."""
    with fake_server() as url:
        yield url


def now_ms() -> int:
    return int(time.time() * 1000)


def post(base_url: str, action: str, body: bytes, headers: dict[str, str]) -> int:
    answer = httpx.post(f"{base_url}/api/ota/{action}", content=body, headers=headers)
    assert answer.status_code == 200
    return int(answer.json()["code"])


@pytest.mark.anyio
async def test_client_with_correct_credentials_succeeds(base_url: str) -> None:
    """The client logs in against the served command: init, open the url, verify SUCCESS."""
    async with AsyncOtaClient(
        access_key=ACCESS_KEY,
        access_secret=SECRET,
        app_key=APP_KEY,
        base_url=base_url,
        retry=RetryPolicy.no_wait(),
    ) as client:
        started = await client.init(PHONE, USER_IP)
        async with httpx.AsyncClient() as phone:
            assert (await phone.get(started.url)).status_code == 200
        assert (await client.verify(started.request_id)).status is VerifyStatus.SUCCESS


def test_hand_signed_request_succeeds(base_url: str) -> None:
    """A request signed by hand with the right secret is accepted (code 0)."""
    body = init_body()
    assert post(base_url, "init", body, signed_headers("init", body, ts=now_ms())) == 0


def test_wrong_secret_gets_1003(base_url: str) -> None:
    """A signature made with another secret is refused with 1003."""
    body = init_body()
    headers = signed_headers("init", body, ts=now_ms(), secret="not-the-secret")
    assert post(base_url, "init", body, headers) == 1003


def test_old_ts_gets_1004(base_url: str) -> None:
    """A correctly signed request with a ts two minutes old is refused with 1004."""
    body = init_body()
    headers = signed_headers("init", body, ts=now_ms() - 120_000)
    assert post(base_url, "init", body, headers) == 1004


def test_missing_field_gets_9901(base_url: str) -> None:
    """A correctly signed init without userIp is refused with 9901."""
    body = json.dumps({"appkey": APP_KEY, "phone": PHONE}).encode()
    assert post(base_url, "init", body, signed_headers("init", body, ts=now_ms())) == 9901


def test_unknown_app_gets_9906(base_url: str) -> None:
    """A correctly signed init for an app the account does not have is refused with 9906."""
    body = init_body(appkey="no-such-app")
    assert post(base_url, "init", body, signed_headers("init", body, ts=now_ms())) == 9906


def test_scripted_faults_from_the_command_line() -> None:
    """fake-server --fail-next 2 --fail-code 2206 answers 2206 twice, then serves normally."""
    body = init_body()
    with fake_server("--fail-next", "2", "--fail-code", "2206") as url:
        codes = [
            post(url, "init", body, signed_headers("init", body, ts=now_ms())) for _ in range(3)
        ]
    assert codes == [2206, 2206, 0]
