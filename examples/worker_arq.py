"""Initiate logins in batches from arq workers, paced together through arq's own Redis.

arq is in maintenance-only mode upstream and pins ``redis<6``: for new asyncio
workers prefer taskiq (``worker_taskiq.py``); this recipe stays for arq users.

Every worker process (on one machine or many) holds one ``AsyncOtaClient``,
created in ``on_startup`` and closed in ``on_shutdown``, and paces it with a
``RedisRateLimiter`` on the Redis that arq already uses, so all the workers of an
account keep to the account's rate limit together. Needs
``pip install 'nxcloud-ota[redis]' arq``.

    export NXCLOUD_ACCESS_KEY=... NXCLOUD_ACCESS_SECRET=... NXCLOUD_APP_KEY=...
    export REDIS_URL=redis://127.0.0.1:6379/0 NXCLOUD_MAX_RATE=200   # optional
    python examples/worker_arq.py worker          # as many as you like, anywhere
    python examples/worker_arq.py enqueue < pairs.csv   # lines of "phone,user_ip"

(``cd examples && arq worker_arq.WorkerSettings`` runs a worker too.) Against the
simulator: ``nxcloud-ota fake-server`` prints the ``NXCLOUD_*`` variables to export.
"""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Iterable, Iterator
from typing import Any, ClassVar

from arq import create_pool
from arq.connections import ArqRedis, RedisSettings
from arq.worker import Function, func, run_worker

from nxcloud_ota import AiohttpTransport, ApiError, AsyncOtaClient
from nxcloud_ota.contrib.redis import RedisRateLimiter

REDIS_SETTINGS = RedisSettings.from_dsn(os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"))
BATCH_SIZE = 500  # logins per job
CONCURRENCY = 100  # calls in flight per job
MAX_JOBS = 4  # jobs at once per worker process


async def startup(ctx: dict[str, Any]) -> None:
    """One client per worker process, paced by a limiter on arq's Redis (``ctx["redis"]``)."""
    max_rate = os.environ.get("NXCLOUD_MAX_RATE")
    limiter = RedisRateLimiter(
        ctx["redis"],
        account=os.environ["NXCLOUD_ACCESS_KEY"],
        max_rate=float(max_rate) if max_rate else None,
    )
    ctx["limiter"] = limiter
    ctx["client"] = AsyncOtaClient.from_env(
        rate_limiter=limiter,
        # The jobs of this process share one pool, big enough for all of them.
        transport=AiohttpTransport(max_connections=MAX_JOBS * CONCURRENCY),
    )


async def shutdown(ctx: dict[str, Any]) -> None:
    """Close the client, then send the limiter's last batched successes."""
    await ctx["client"].aclose()
    await ctx["limiter"].aclose()


async def initiate_logins(ctx: dict[str, Any], pairs: list[tuple[str, str]]) -> dict[str, Any]:
    """Start one login per ``(phone, user_ip)``; say what became of each, by position.

    It never raises for a failed item (``init_many`` reports it), so arq never
    runs the job again: ``init`` is billed, and a login it may have started
    (``RequestMaybeSentError``) must not be started twice.
    """
    client: AsyncOtaClient = ctx["client"]
    started: list[dict[str, Any]] = []
    failed: list[dict[str, Any]] = []
    async for outcome in client.init_many(pairs, concurrency=CONCURRENCY, ordered=True):
        if outcome.result is not None:
            started.append(
                {
                    "index": outcome.index,
                    "request_id": outcome.result.request_id,
                    "url": outcome.result.url,
                }
            )
        else:
            error = outcome.error
            failed.append(
                {
                    "index": outcome.index,
                    "error": type(error).__name__,
                    "code": error.code if isinstance(error, ApiError) else None,
                }
            )
    return {"started": started, "failed": failed}


class WorkerSettings:
    """What ``arq worker_arq.WorkerSettings`` runs."""

    # max_tries=1: a job that died half-way is not run again (see initiate_logins).
    functions: ClassVar[list[Function]] = [func(initiate_logins, max_tries=1, timeout=3600)]
    on_startup = startup
    on_shutdown = shutdown
    redis_settings = REDIS_SETTINGS
    max_jobs = MAX_JOBS


def batches(
    pairs: Iterable[tuple[str, str]], size: int = BATCH_SIZE
) -> Iterator[list[tuple[str, str]]]:
    """Cut the pairs into jobs of ``size``."""
    batch: list[tuple[str, str]] = []
    for pair in pairs:
        batch.append(pair)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


async def enqueue(pairs: Iterable[tuple[str, str]]) -> None:
    """Enqueue the pairs in batches, wait for the jobs, print a summary."""
    pool: ArqRedis = await create_pool(REDIS_SETTINGS)
    try:
        jobs = [await pool.enqueue_job("initiate_logins", batch) for batch in batches(pairs)]
        started = failed = 0
        for job in jobs:
            if job is None:  # only when a job of the same id is queued already
                continue
            result = await job.result(timeout=None)
            started += len(result["started"])
            failed += len(result["failed"])
        print(f"{started} started, {failed} failed in {len(jobs)} jobs")
    finally:
        await pool.aclose()


def read_pairs(lines: Iterable[str]) -> Iterator[tuple[str, str]]:
    """``phone,user_ip`` lines (blank ones skipped)."""
    for line in lines:
        if line.strip():
            phone, _, user_ip = line.strip().partition(",")
            yield phone.strip(), user_ip.strip()


def main(argv: list[str]) -> None:
    """``worker`` runs a worker in this process; ``enqueue`` reads pairs from stdin."""
    if argv == ["worker"]:
        run_worker(WorkerSettings)  # type: ignore[arg-type]
    elif argv == ["enqueue"]:
        asyncio.run(enqueue(read_pairs(sys.stdin)))
    else:
        sys.exit(f"usage: {sys.argv[0]} worker | enqueue < pairs.csv")


if __name__ == "__main__":
    main(sys.argv[1:])
