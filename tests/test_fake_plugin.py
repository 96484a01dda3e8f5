"""The pytest plugin's fixtures, used the way a user of the package would use them.

Nothing here defines them: they come from the ``pytest11`` entry point.
"""

from __future__ import annotations

import httpx
import pytest
from test_fake_support import Clock, call, init_body, signed_headers

from nxcloud_ota import AsyncOtaClient, InsufficientBalanceError, VerifyStatus
from nxcloud_ota.testing import FakeNxCloud


@pytest.mark.anyio
async def test_client_fixture_runs_a_whole_login(
    nxcloud_client: AsyncOtaClient, nxcloud_fake: FakeNxCloud
) -> None:
    """nxcloud_client talks to nxcloud_fake: init, open the url, verify is SUCCESS."""
    started = await nxcloud_client.init(phone="8615800001795", user_ip="203.0.113.7")
    await nxcloud_fake.open_url(started.url)
    assert (await nxcloud_client.verify(started.request_id)).status is VerifyStatus.SUCCESS


@pytest.mark.anyio
async def test_client_fixture_sees_the_fakes_knobs(
    nxcloud_client: AsyncOtaClient, nxcloud_fake: FakeNxCloud
) -> None:
    """Knobs set on nxcloud_fake reach nxcloud_client: an empty balance raises 9908."""
    nxcloud_fake.balance = 0
    with pytest.raises(InsufficientBalanceError):
        await nxcloud_client.init(phone="8615800001795", user_ip="203.0.113.7")
    assert nxcloud_fake.requests[0].headers["accessKey"] == "fake-access-key"


@pytest.mark.anyio
async def test_client_fixture_retries_without_waiting(
    nxcloud_client: AsyncOtaClient, nxcloud_fake: FakeNxCloud
) -> None:
    """nxcloud_client retries a 99 at once (RetryPolicy.no_wait) and then succeeds."""
    nxcloud_fake.fail_next(1, 99)
    started = await nxcloud_client.init(phone="8615800001795", user_ip="203.0.113.7")
    assert started.url.startswith("http://fake.nxcloud.test/ota/auth/")
    assert [r.code for r in nxcloud_fake.requests] == [99, 0]


def test_fake_fixture_is_fresh_and_default(nxcloud_fake: FakeNxCloud) -> None:
    """nxcloud_fake is a new simulator with the published default credentials."""
    assert (nxcloud_fake.access_key, nxcloud_fake.app_key) == ("fake-access-key", "fake-app-key")
    assert nxcloud_fake.requests == []


def test_server_fixture_serves_the_fake(nxcloud_server: str, nxcloud_fake: FakeNxCloud) -> None:
    """nxcloud_server serves nxcloud_fake on loopback; its state is shared with the test."""
    nxcloud_fake.fail_next(1, 2206)
    body = init_body()
    with httpx.Client(base_url=nxcloud_server) as http:
        refused = http.post("/api/ota/init", content=body, headers=signed_headers("init", body))
    assert refused.json()["code"] == 2206
    assert [r.code for r in nxcloud_fake.requests] == [2206]


@pytest.mark.anyio
async def test_server_fixture_works_from_async_tests(
    nxcloud_server: str, nxcloud_fake: FakeNxCloud
) -> None:
    """The threaded server answers an async client in the test's own loop."""
    nxcloud_fake.clock = Clock()
    async with httpx.AsyncClient(base_url=nxcloud_server) as http:
        assert (await call(http, "init", init_body()))["code"] == 0
