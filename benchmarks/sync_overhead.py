"""The CPU cost of a blocking ``OtaClient`` call against an awaited ``AsyncOtaClient`` call.

Both send the same ``init`` requests, one after another, over the default
transport to the loopback server of ``server.py`` (another process, so its CPU is
not counted). CPU is this process's ``time.process_time()`` (every thread,
user + system) per call; rounds alternate the two, and the ratios of the medians
and of the best rounds (the least disturbed by other load) are printed. The
target (docs/sync.md) is a ratio of at most 1.3.

    python benchmarks/sync_overhead.py [--calls 2000] [--rounds 5]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import time

from run import AK, APP, IP, PHONE, SK, server

from nxcloud_ota import AsyncOtaClient, OtaClient


def async_cpu_per_call(base: str, calls: int) -> float:
    async def main() -> float:
        async with AsyncOtaClient(
            access_key=AK, access_secret=SK, app_key=APP, base_url=base
        ) as client:
            for _ in range(50):  # warm up: connection, caches
                await client.init(phone=PHONE, user_ip=IP)
            started = time.process_time()
            for _ in range(calls):
                await client.init(phone=PHONE, user_ip=IP)
            return (time.process_time() - started) / calls

    return asyncio.run(main())


def sync_cpu_per_call(base: str, calls: int) -> float:
    with OtaClient(access_key=AK, access_secret=SK, app_key=APP, base_url=base) as client:
        for _ in range(50):
            client.init(phone=PHONE, user_ip=IP)
        started = time.process_time()
        for _ in range(calls):
            client.init(phone=PHONE, user_ip=IP)
        return (time.process_time() - started) / calls


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    if hasattr(os, "sched_setaffinity") and (os.cpu_count() or 1) > 1:
        os.sched_setaffinity(0, {0})  # the server has the other core
    async_us: list[float] = []
    sync_us: list[float] = []
    with server() as base:
        for _ in range(args.rounds):
            async_us.append(async_cpu_per_call(base, args.calls) * 1e6)
            sync_us.append(sync_cpu_per_call(base, args.calls) * 1e6)
    a, s = statistics.median(async_us), statistics.median(sync_us)
    print(
        json.dumps(
            {
                "python": platform.python_version(),
                "calls": args.calls,
                "rounds": args.rounds,
                "async_cpu_us_per_call": round(a, 1),
                "blocking_cpu_us_per_call": round(s, 1),
                "ratio": round(s / a, 3),
                "ratio_of_best_rounds": round(min(sync_us) / min(async_us), 3),
                "async_rounds_us": [round(x, 1) for x in async_us],
                "blocking_rounds_us": [round(x, 1) for x in sync_us],
            }
        )
    )


if __name__ == "__main__":
    main()
