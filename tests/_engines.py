"""What the task-engine recipes' tests share: a Redis database of their own, the
simulator on a loopback port, the recipe imported with its environment, and a real
worker process."""

from __future__ import annotations

import contextlib
import importlib.util
import os
import signal
import subprocess
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from types import ModuleType

import pytest

from nxcloud_ota.testing import FakeNxCloud

ROOT = Path(__file__).parent.parent
EXAMPLES = ROOT / "examples"
REDIS_URL = os.environ.get("NXCLOUD_TEST_REDIS_URL", "redis://127.0.0.1:6399/0")
WORKER_TIMEOUT = 60.0  # seconds for a worker to start, run a task, or stop


def redis_database(db: int) -> str:
    """The URL of database ``db`` of the test Redis, emptied; skips the test when no
    Redis answers (fails instead when NXCLOUD_REQUIRE_REDIS is set, as CI does)."""
    redis = pytest.importorskip("redis")
    base, _, _ = REDIS_URL.rpartition("/")
    url = f"{base}/{db}"
    client = redis.Redis.from_url(url, socket_connect_timeout=1, socket_timeout=5)
    try:
        client.flushdb()
    except (redis.RedisError, OSError) as exc:
        message = f"no Redis at {url} ({exc}); start one with .ci/redis.sh start 6399"
        if os.environ.get("NXCLOUD_REQUIRE_REDIS"):
            pytest.fail(message)
        pytest.skip(message)
    finally:
        client.close()
    return url


def recipe_env(fake: FakeNxCloud, base_url: str, redis_url: str) -> dict[str, str]:
    """The variables a recipe reads: the simulator's credentials and URL, and the broker."""
    return {
        "NXCLOUD_ACCESS_KEY": fake.access_key,
        "NXCLOUD_ACCESS_SECRET": fake.access_secret,
        "NXCLOUD_APP_KEY": fake.app_key,
        "NXCLOUD_BASE_URL": base_url,
        "REDIS_URL": redis_url,
    }


def load_recipe(name: str, monkeypatch: pytest.MonkeyPatch, env: Mapping[str, str]) -> ModuleType:
    """Import ``examples/<name>.py`` with ``env`` set, as the process that sends tasks."""
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.syspath_prepend(str(EXAMPLES))
    spec = importlib.util.spec_from_file_location(name, EXAMPLES / f"{name}.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, name, module)
    spec.loader.exec_module(module)
    return module


class Worker:
    """A worker process started by :func:`run_worker`; ``output`` is filled once it stopped."""

    def __init__(self, process: subprocess.Popen[bytes], log: Path) -> None:
        self.process = process
        self.log = log
        self.output = ""

    def stop(self) -> str:
        """Ask for a warm shutdown (SIGTERM), wait for the exit, return everything it wrote."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(WORKER_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.output = self.log.read_text(encoding="utf-8", errors="replace")
        return self.output


@contextlib.contextmanager
def run_worker(args: list[str], env: Mapping[str, str], log: Path) -> Iterator[Worker]:
    """Run ``python -m <args>`` in ``examples/`` with ``env`` added; stop it on exit."""
    with open(log, "wb") as out:
        process = subprocess.Popen(  # noqa: S603 - our own interpreter and recipe
            [sys.executable, "-m", *args],
            cwd=EXAMPLES,
            env={**os.environ, **env, "PYTHONPATH": str(EXAMPLES)},
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    worker = Worker(process, log)
    try:
        yield worker
    finally:
        worker.stop()


def accepted_phones(fake: FakeNxCloud, phones: list[str]) -> set[str]:
    """Which of ``phones`` the simulator started a login for."""
    accepted = [r for r in fake.requests if r.action == "init" and r.code == 0]
    return {phone for phone in phones for r in accepted if phone.encode() in r.body}


def inits_since(fake: FakeNxCloud, before: int, phone: str) -> int:
    """How many ``init`` calls for ``phone`` reached the simulator after its ``before``-th call."""
    return sum(r.action == "init" and phone.encode() in r.body for r in fake.requests[before:])
