"""The Celery recipe (examples/worker_celery.py): a real worker process, a real Redis
broker, the simulator on a loopback port, for the prefork and the threads pools."""

from __future__ import annotations

from collections.abc import Iterator
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

pytest.importorskip("celery")

IP = "203.0.113.7"


@pytest.fixture(params=["prefork", "threads"])
def celery_worker(
    request: pytest.FixtureRequest,
    served_simulator: tuple[FakeNxCloud, str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> Iterator[tuple[ModuleType, Worker, str]]:
    """The recipe imported as the sending side, and a Celery worker running it."""
    fake, base_url = served_simulator
    env = recipe_env(fake, base_url, redis_database(1))
    recipe = load_recipe("worker_celery", monkeypatch, env)
    pool = str(request.param)
    args = ["celery", "-A", "worker_celery", "worker", "--pool", pool, "--concurrency", "2"]
    args += ["--loglevel", "INFO", "--without-gossip", "--without-mingle", "--without-heartbeat"]
    with run_worker(args, env, tmp_path / "worker.log") as worker:
        yield recipe, worker, pool


def test_a_task_starts_a_login_and_returns_its_request_id(
    celery_worker: tuple[ModuleType, Worker, str], served_simulator: tuple[FakeNxCloud, str]
) -> None:
    """Tasks sent through Redis start logins in the worker; the ids come back; the client
    is opened once per worker process and closed when the worker stops."""
    recipe, worker, pool = celery_worker
    fake, _ = served_simulator
    phones = [f"86158100{n:05d}" for n in range(6)]
    results = [recipe.start_login.delay(phone, IP) for phone in phones]
    started = [r.get(timeout=WORKER_TIMEOUT) for r in results]
    assert all(s["maybe_sent"] is False for s in started)
    ids = {s["request_id"] for s in started}
    assert len(ids) == len(phones)
    assert accepted_phones(fake, phones) == set(phones)
    first = started[0]["request_id"]
    status = recipe.check_login.delay(first).get(timeout=WORKER_TIMEOUT)
    assert status in {"PENDING", "SUCCESS"}
    output = worker.stop()
    processes = 2 if pool == "prefork" else 1
    # A client is closed only if it was opened: one per process that ran tasks.
    assert output.count("nxcloud client closed") == processes, output


def test_a_login_that_may_have_started_is_recorded_never_retried(
    celery_worker: tuple[ModuleType, Worker, str], served_simulator: tuple[FakeNxCloud, str]
) -> None:
    """A dropped init comes back as maybe_sent, logged, and the init was sent exactly once."""
    recipe, worker, _ = celery_worker
    fake, _ = served_simulator
    phone = "8615820000001"
    # The worker is up once it has answered a task.
    recipe.start_login.delay("8615820000000", IP).get(timeout=WORKER_TIMEOUT)
    before = len(fake.requests)
    fake.drop_next(1)
    outcome = recipe.start_login.delay(phone, IP).get(timeout=WORKER_TIMEOUT)
    assert outcome["maybe_sent"] is True
    assert outcome["request_id"] is None
    assert outcome["phone"] == "8615820****01"
    output = worker.stop()
    assert inits_since(fake, before, phone) == 1
    assert "a login may have started for 8615820****01" in output
