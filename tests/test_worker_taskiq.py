"""The taskiq recipe (examples/worker_taskiq.py): a real worker process, a real Redis
broker, the simulator on a loopback port."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from types import ModuleType

import pytest

from nxcloud_ota.testing import FakeNxCloud
from tests._engines import (
    WORKER_TIMEOUT,
    Worker,
    accepted_phones,
    inits_since,
    load_recipe,
    recipe_env,
    redis_database,
    run_worker,
)

pytest.importorskip("taskiq_redis")

pytestmark = pytest.mark.anyio
IP = "203.0.113.7"


@pytest.fixture
async def taskiq_worker(
    served_simulator: tuple[FakeNxCloud, str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> AsyncIterator[tuple[ModuleType, Worker]]:
    """The recipe's broker started as the sending side, and a taskiq worker running it."""
    fake, base_url = served_simulator
    env = recipe_env(fake, base_url, redis_database(2))
    recipe = load_recipe("worker_taskiq", monkeypatch, env)
    await recipe.broker.startup()
    args = ["taskiq", "worker", "worker_taskiq:broker", "--workers", "2", "--log-level", "INFO"]
    try:
        with run_worker(args, env, tmp_path / "worker.log") as worker:
            yield recipe, worker
    finally:
        await recipe.broker.shutdown()


async def test_a_task_starts_a_login_and_returns_its_request_id(
    taskiq_worker: tuple[ModuleType, Worker], served_simulator: tuple[FakeNxCloud, str]
) -> None:
    """Tasks sent through Redis start logins in the workers; the ids come back; each worker
    process closes its client when it stops."""
    recipe, worker = taskiq_worker
    fake, _ = served_simulator
    phones = [f"86158300{n:05d}" for n in range(6)]
    sent = [await recipe.start_login.kiq(phone, IP) for phone in phones]
    results = [await task.wait_result(timeout=WORKER_TIMEOUT) for task in sent]
    assert [r.is_err for r in results] == [False] * len(phones)
    started = [r.return_value for r in results]
    assert all(s["maybe_sent"] is False for s in started)
    assert len({s["request_id"] for s in started}) == len(phones)
    assert accepted_phones(fake, phones) == set(phones)
    check = await recipe.check_login.kiq(started[0]["request_id"])
    status = (await check.wait_result(timeout=WORKER_TIMEOUT)).return_value
    assert status in {"PENDING", "SUCCESS"}
    output = worker.stop()
    assert output.count("nxcloud client opened") == 2, output
    assert output.count("nxcloud client closed") == 2, output


async def test_a_login_that_may_have_started_is_recorded_never_retried(
    taskiq_worker: tuple[ModuleType, Worker], served_simulator: tuple[FakeNxCloud, str]
) -> None:
    """A dropped init comes back as maybe_sent, logged, and the init was sent exactly once."""
    recipe, worker = taskiq_worker
    fake, _ = served_simulator
    phone = "8615840000001"
    warm = await recipe.start_login.kiq("8615840000000", IP)
    await warm.wait_result(timeout=WORKER_TIMEOUT)  # the worker is up
    before = len(fake.requests)
    fake.drop_next(1)
    task = await recipe.start_login.kiq(phone, IP)
    outcome = (await task.wait_result(timeout=WORKER_TIMEOUT)).return_value
    assert outcome["maybe_sent"] is True
    assert outcome["request_id"] is None
    assert outcome["phone"] == "8615840****01"
    output = worker.stop()
    assert inits_since(fake, before, phone) == 1
    assert "a login may have started for 8615840****01" in output
