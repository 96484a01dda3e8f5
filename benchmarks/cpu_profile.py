"""Where a call's CPU goes: cProfile over the default client against the loopback server.

Sequential ``init`` calls (``--concurrency 1``) or ``init_many`` at a given
concurrency, after a warm-up; prints the functions by own time and by
cumulative time, and the CPU per call without the profiler's overhead.

    python benchmarks/cpu_profile.py [--calls 3000] [--concurrency 1] [--top 40]
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import os
import pstats
import time

from run import AK, APP, IP, PHONE, SK, server

from nxcloud_ota import AsyncOtaClient


async def calls(
    base: str, count: int, concurrency: int, profile: cProfile.Profile | None
) -> float:
    """Make ``count`` calls after a warm-up; return the CPU seconds they took."""
    async with AsyncOtaClient(
        access_key=AK, access_secret=SK, app_key=APP, base_url=base
    ) as client:

        async def run(n: int) -> None:
            if concurrency == 1:
                for _ in range(n):
                    await client.init(PHONE, IP)
                return
            async for outcome in client.init_many(
                ((PHONE, IP) for _ in range(n)), concurrency=concurrency
            ):
                if not outcome.ok:
                    raise RuntimeError(f"a call failed: {outcome.error!r}")

        await run(max(200, count // 10))
        cpu = time.process_time()
        if profile is not None:
            profile.enable()
        await run(count)
        if profile is not None:
            profile.disable()
        return time.process_time() - cpu


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=3000)
    parser.add_argument("--concurrency", type=int, default=1)
    parser.add_argument("--top", type=int, default=40)
    args = parser.parse_args()
    if hasattr(os, "sched_setaffinity") and (os.cpu_count() or 1) > 1:
        os.sched_setaffinity(0, {0})  # the server has the other core
    profile = cProfile.Profile()
    with server() as base:
        plain = asyncio.run(calls(base, args.calls, args.concurrency, None))
        profiled = asyncio.run(calls(base, args.calls, args.concurrency, profile))
    print(
        f"CPU per call: {plain / args.calls * 1e6:.0f} us, "
        f"{profiled / args.calls * 1e6:.0f} us under the profiler "
        f"({args.calls} calls, concurrency {args.concurrency})"
    )
    stats = pstats.Stats(profile)
    stats.sort_stats("tottime").print_stats(args.top)
    stats.sort_stats("cumulative").print_stats(args.top)


if __name__ == "__main__":
    main()
