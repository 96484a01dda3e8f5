"""One worker process of the multi-process test in ``tests/test_redis_limiter.py``.

It creates its client (paced by a :class:`RedisRateLimiter`, or by its own
:class:`AdaptiveRateLimiter` with ``--limiter local``), prints ``loaded``, waits
for a line on standard input, opens its connections with ``client.warm_up``
(``--no-warm-up`` skips that, to see a cold start's stampede of connection
set-ups), prints ``ready``, waits for another line (so that all workers start
together, without sleeping), initiates ``--items`` logins with ``init_many`` and
prints one JSON line as soon as the last outcome is in::

    {"ok": 500, "failed": 0, "attempts": 512, "elapsed": 10.3, "errors": {}}

    python tests/redis_worker_main.py --base-url URL --redis-url URL --account KEY \\
        --secret SECRET --app APP --worker 0 [--limiter shared|local] [--items 500]
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import sys
import time

import redis.asyncio as redis

from nxcloud_ota import AdaptiveRateLimiter, AiohttpTransport, AsyncOtaClient, RateLimiter
from nxcloud_ota.contrib.redis import RedisRateLimiter


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base-url", required=True)
    parser.add_argument("--redis-url", required=True)
    parser.add_argument("--account", required=True, help="the access key (and limiter account)")
    parser.add_argument("--secret", required=True)
    parser.add_argument("--app", required=True)
    parser.add_argument("--prefix", default=None, help="the limiter's Redis key prefix")
    parser.add_argument("--worker", type=int, required=True, help="makes the phones unique")
    parser.add_argument("--limiter", choices=["shared", "local"], default="shared")
    parser.add_argument("--items", type=int, default=500)
    parser.add_argument("--concurrency", type=int, default=100)
    parser.add_argument("--max-rate", type=float, default=None)
    parser.add_argument(
        "--warm-up",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="open the connections before the start (default: yes)",
    )
    return parser.parse_args()


async def run(args: argparse.Namespace) -> None:
    """Initiate the logins once standard input says go; print the counts."""
    connection = redis.Redis.from_url(args.redis_url)
    limiter: RateLimiter
    if args.limiter == "shared":
        await connection.ping()
        limiter = RedisRateLimiter(
            connection, account=args.account, prefix=args.prefix, max_rate=args.max_rate
        )
    else:
        limiter = AdaptiveRateLimiter(max_rate=args.max_rate)
    transport = AiohttpTransport(max_connections=args.concurrency)
    client = AsyncOtaClient(
        access_key=args.account,
        access_secret=args.secret,
        app_key=args.app,
        base_url=args.base_url,
        transport=transport,
        rate_limiter=limiter,
    )
    phones = [f"86158{args.worker:02d}{i:06d}" for i in range(args.items)]
    print("loaded", flush=True)
    await asyncio.to_thread(sys.stdin.readline)
    if args.warm_up:
        await client.warm_up(connections=args.concurrency)
    print("ready", flush=True)
    await asyncio.to_thread(sys.stdin.readline)
    ok = failed = attempts = 0
    errors: collections.Counter[str] = collections.Counter()
    started = time.perf_counter()
    try:
        async for outcome in client.init_many(
            ((phone, "203.0.113.7") for phone in phones), concurrency=args.concurrency
        ):
            attempts += outcome.attempts
            if outcome.ok:
                ok += 1
            else:
                failed += 1
                errors[type(outcome.error).__name__] += 1
        elapsed = time.perf_counter() - started
        rate = (
            limiter.rate if isinstance(limiter, RedisRateLimiter | AdaptiveRateLimiter) else None
        )
        print(
            json.dumps(
                {
                    "ok": ok,
                    "failed": failed,
                    "attempts": attempts,
                    "elapsed": elapsed,
                    "errors": dict(errors),
                    "rate": rate,
                }
            ),
            flush=True,
        )
    finally:
        await client.aclose()
        if isinstance(limiter, RedisRateLimiter):
            await limiter.aclose()
        await connection.aclose()


def main() -> None:
    asyncio.run(run(parse_args()))


if __name__ == "__main__":
    main()
