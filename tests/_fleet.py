"""A fleet of worker processes against one simulator, as the four-process test of
``tests/test_redis_limiter.py`` and ``benchmarks/fleet.py`` both run it.

Each worker is ``tests/redis_worker_main.py``: its own process, client and pool,
paced by a :class:`~nxcloud_ota.contrib.redis.RedisRateLimiter` shared through
Redis (``shared``) or by its own :class:`~nxcloud_ota.AdaptiveRateLimiter`
(``local``). All of them start together, on a line sent to their standard input
once every one of them is ready. The simulator, in a process of its own (so
that neither coverage tracing nor the caller slows it down), counts what arrives;
that process is this module run as a script::

    python tests/_fleet.py RATE BURST   # prints the base URL; a line on stdin ends it
"""

from __future__ import annotations

import collections
import json
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import attrs

from nxcloud_ota.testing import FAKE_ACCESS_KEY, FAKE_ACCESS_SECRET, FAKE_APP_KEY, FakeNxCloud
from nxcloud_ota.testing._server import serve_in_thread

__all__ = ["FleetRun", "cpu_hog", "run_fleet", "timeline"]

WORKER = Path(__file__).parent / "redis_worker_main.py"


@attrs.frozen
class FleetRun:
    """What one fleet run came to, counted by the simulator (``requests``,
    ``accepted``, ``throttled``) and by the workers (``ok``, ``failed``)."""

    pacing: str
    contention: bool
    warm_up: bool
    ok: int
    failed: int
    requests: int
    accepted: int
    throttled: int
    elapsed: float
    """Seconds from the start signal to the last worker's last outcome."""
    limit: float
    timeline: tuple[tuple[int, int], ...] = ()
    """Requests and 2206 answers per 100 ms, from the first request on."""

    @property
    def share(self) -> float:
        """The share of requests answered 2206."""
        return self.throttled / self.requests if self.requests else 0.0

    @property
    def goodput(self) -> float:
        """Logins started per second, as a fraction of the account's limit."""
        return self.accepted / self.elapsed / self.limit

    @property
    def attempts_per_success(self) -> float:
        """Requests sent per login started."""
        return self.requests / self.accepted if self.accepted else float("inf")

    def row(self) -> str:
        """One line of the measurements' table."""
        return (
            f"| {self.pacing} | {'CPU-bound competitor' if self.contention else 'idle'} "
            f"| {self.ok} | {self.requests} | {self.throttled} ({self.share:.2%}) "
            f"| {self.goodput:.3f} | {self.attempts_per_success:.3f} | {self.elapsed:.2f} s |"
        )


@contextmanager
def simulator(limit: float, burst: int) -> Iterator[tuple[str, list[tuple[float, int | None]]]]:
    """A ``FakeNxCloud(rate=limit, burst=burst)`` served in a process of its own: yields
    its base URL and a list that, once the block ends, holds ``(time, code)`` per init."""
    proc = subprocess.Popen(  # noqa: S603 - our own interpreter and script
        [sys.executable, __file__, str(limit), str(burst)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    assert proc.stdin is not None
    arrivals: list[tuple[float, int | None]] = []
    try:
        yield proc.stdout.readline().strip(), arrivals
        out, _ = proc.communicate("stop\n", timeout=60)
        arrivals.extend((at, code) for at, code in json.loads(out))
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def serve(limit: float, burst: int) -> None:
    """The simulator's process: print the base URL, serve until a line comes on
    standard input, then print the init calls received, as JSON."""
    fake = FakeNxCloud(rate=limit, burst=burst)
    with serve_in_thread(fake) as base_url:
        print(base_url, flush=True)
        sys.stdin.readline()
    print(json.dumps([[r.received_at, r.code] for r in fake.requests if r.action == "init"]))


@contextmanager
def cpu_hog(active: bool) -> Iterator[None]:
    """A process spinning on a core for as long as the block runs (nothing if not ``active``)."""
    if not active:
        yield
        return
    hog = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        yield
    finally:
        hog.kill()
        hog.wait()


def run_fleet(
    pacing: str,
    redis_url: str,
    prefix: str,
    *,
    workers: int = 4,
    items: int = 500,
    limit: float = 200,
    burst: int = 20,
    contention: bool = False,
    warm_up: bool = True,
) -> FleetRun:
    """``workers`` processes x ``items`` distinct phones against one simulator that
    answers 2206 beyond ``limit`` calls a second (a bucket of ``burst``), each
    worker with ``max_rate=limit``; with ``contention``, a CPU-bound process
    competes for the cores from before the workers start until they end."""
    with simulator(limit, burst) as (base_url, arrivals), cpu_hog(contention):
        procs = [
            subprocess.Popen(  # noqa: S603 - our own interpreter and script
                [
                    sys.executable,
                    str(WORKER),
                    f"--base-url={base_url}",
                    f"--redis-url={redis_url}",
                    f"--account={FAKE_ACCESS_KEY}",
                    f"--secret={FAKE_ACCESS_SECRET}",
                    f"--app={FAKE_APP_KEY}",
                    f"--prefix={prefix}",
                    f"--worker={worker}",
                    f"--limiter={pacing}",
                    f"--items={items}",
                    f"--max-rate={limit}",
                    "--warm-up" if warm_up else "--no-warm-up",
                ],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for worker in range(workers)
        ]
        try:
            # Every worker loaded, then every worker warmed up (or not), then go.
            for signal, expected in (("warm up\n", "loaded\n"), ("go\n", "ready\n")):
                for proc in procs:
                    assert proc.stdout is not None
                    line = proc.stdout.readline()
                    assert line == expected, line + (proc.stderr.read() if proc.stderr else "")
                for proc in procs:
                    assert proc.stdin is not None
                    proc.stdin.write(signal)
                    proc.stdin.flush()
            started = time.perf_counter()
            results = []
            for proc in procs:
                assert proc.stdout is not None
                results.append(json.loads(proc.stdout.readline()))
            elapsed = time.perf_counter() - started
            for proc in procs:
                _, err = proc.communicate(timeout=60)
                assert proc.returncode == 0, err
        finally:
            for proc in procs:
                if proc.poll() is None:
                    proc.kill()
                    proc.wait()
    codes = collections.Counter(code for _, code in arrivals)
    return FleetRun(
        pacing=pacing,
        contention=contention,
        warm_up=warm_up,
        ok=sum(r["ok"] for r in results),
        failed=sum(r["failed"] for r in results),
        requests=sum(codes.values()),
        accepted=codes[0],
        throttled=codes[2206],
        elapsed=elapsed,
        limit=limit,
        timeline=timeline([(at, code == 2206) for at, code in arrivals]),
    )


def timeline(arrivals: list[tuple[float, bool]], step: float = 0.1) -> tuple[tuple[int, int], ...]:
    """Count ``(time, throttled)`` arrivals per ``step`` seconds from the first."""
    if not arrivals:
        return ()
    first = min(at for at, _ in arrivals)
    bins = [[0, 0] for _ in range(int((max(at for at, _ in arrivals) - first) / step) + 1)]
    for at, throttled in arrivals:
        counts = bins[int((at - first) / step)]
        counts[0] += 1
        counts[1] += throttled
    return tuple((sent, throttled) for sent, throttled in bins)


if __name__ == "__main__":
    serve(float(sys.argv[1]), int(sys.argv[2]))
