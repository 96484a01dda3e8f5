"""Benchmarks: the library against raw httpx and raw aiohttp, in one run.

Every contender talks to the same loopback server (a separate process, see
``server.py``, pinned to the other core where the machine allows) for the same
few seconds after a warm-up; rounds are interleaved and medians reported, with
ratios to the raw baselines. The raw baselines sign every request by hand,
as code written without this library would. Ratios between two contenders are
taken round by round (both ran seconds apart) and their median reported, which
cancels most of the drift of a shared machine. ``--json`` also saves every
round's numbers, for charts.

    python benchmarks/run.py [--rounds 3] [--seconds 3] [--only NAME ...] [--json FILE]

``benchmarks/results.json`` is the committed run that ``benchmarks/charts.py`` draws
for docs/performance.md.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import json
import os
import platform
import random
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Coroutine, Iterator
from pathlib import Path

import aiohttp
import httpx

from nxcloud_ota import DEFAULT_TIMEOUT, AiohttpTransport, AsyncOtaClient, RetryPolicy

HERE = Path(__file__).parent
AK, SK, APP = "bench-ak", "bench-secret", "bench-app"
PHONE, IP = "8615800001795", "203.0.113.7"
BODY = json.dumps({"appkey": APP, "phone": PHONE, "userIp": IP}, separators=(",", ":")).encode()
WARMUP = 0.5  # seconds

Timing = tuple[int, int, float, float, int]  # (successes, attempts, CPU s, wall s, failures)
Contender = Callable[[str, int, float], Coroutine[object, object, Timing]]

# The targets, as (workload, contender, baseline, measure, bound): "cpu" is CPU per
# request (at most bound x the baseline's), "rps" requests/s (at least bound x).
TARGETS: list[tuple[str, str, str, str, float]] = [
    ("c1 instant", "lib default", "raw httpx over aiohttp", "cpu", 0.75),
    ("c100 instant", "lib default", "raw aiohttp", "rps", 0.45),
]


def signed_headers() -> dict[str, str]:
    """What a hand-written client does per request: a fresh ts and an MD5 sign."""
    ts = str(int(time.time() * 1000))
    text = f"accessKey={AK}&action=init&bizType=6&ts={ts}&body=".encode() + BODY
    sign = hashlib.md5(text + f"&accessSecret={SK}".encode(), usedforsecurity=False).hexdigest()
    return {
        "Content-Type": "application/json",
        "accessKey": AK,
        "ts": ts,
        "bizType": "6",
        "action": "init",
        "sign": sign,
    }


async def backoff_until_accepted(post: Callable[[], Awaitable[int]]) -> tuple[bool, int]:
    """The hand-written retry loop: full-jitter exponential backoff on 2206."""
    for attempt in range(1, 9):
        code = await post()
        if code == 0:
            return True, attempt
        if code != 2206:
            return False, attempt
        await asyncio.sleep(random.random() * min(8.0, 0.05 * 2**attempt))
    return False, 8


async def workers(
    concurrency: int, seconds: float, one: Callable[[], Awaitable[tuple[bool, int]]]
) -> Timing:
    """Run ``concurrency`` workers calling ``one`` for ``seconds`` (after a warm-up)."""

    async def run(duration: float) -> tuple[int, int, int]:
        stop = time.perf_counter() + duration
        ok = sent = failed = 0

        async def worker() -> None:
            nonlocal ok, sent, failed
            while time.perf_counter() < stop:
                succeeded, attempts = await one()
                ok += succeeded
                failed += not succeeded
                sent += attempts

        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return ok, sent, failed

    await run(WARMUP)
    cpu0, wall0 = time.process_time(), time.perf_counter()
    ok, sent, failed = await run(seconds)
    return ok, sent, time.process_time() - cpu0, time.perf_counter() - wall0, failed


async def raw_httpx(
    base: str, concurrency: int, seconds: float, transport: httpx.AsyncBaseTransport | None = None
) -> Timing:
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(limits=limits, timeout=60, transport=transport) as client:

        async def post() -> int:
            r = await client.post(base + "/api/ota/init", content=BODY, headers=signed_headers())
            return int(r.json()["code"])

        return await workers(concurrency, seconds, lambda: backoff_until_accepted(post))


async def raw_aiohttp(base: str, concurrency: int, seconds: float) -> Timing:
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def post() -> int:
            async with session.post(
                base + "/api/ota/init", data=BODY, headers=signed_headers()
            ) as r:
                return int((await r.json())["code"])

        return await workers(concurrency, seconds, lambda: backoff_until_accepted(post))


def library(
    transport: Callable[[int], httpx.AsyncBaseTransport | None], *, http_client: bool = False
) -> Contender:
    """The library: single calls at concurrency 1, init_many above.

    With ``http_client`` the transport goes into a plain ``httpx.AsyncClient``
    passed as ``http_client=``, whose requests httpx merges on every call.
    """

    async def run(base: str, concurrency: int, seconds: float) -> Timing:
        given = transport(concurrency)
        async with contextlib.AsyncExitStack() as stack:
            http = None
            if http_client:
                http = await stack.enter_async_context(
                    httpx.AsyncClient(transport=given, timeout=DEFAULT_TIMEOUT)
                )
            client = await stack.enter_async_context(
                AsyncOtaClient(
                    access_key=AK,
                    access_secret=SK,
                    app_key=APP,
                    base_url=base,
                    transport=None if http_client else given,
                    http_client=http,
                    retry=RetryPolicy(max_attempts=8, deadline=None),
                )
            )
            if concurrency == 1:

                async def one() -> tuple[bool, int]:
                    await client.init(PHONE, IP)
                    return True, 1

                return await workers(1, seconds, one)

            async def bulk(duration: float) -> tuple[int, int, int]:
                # Like the raw workers: stop feeding at the deadline and let the
                # calls in flight finish (cancelling them would close connections).
                stop = time.perf_counter() + duration
                ok = sent = failed = 0

                def items() -> Iterator[tuple[str, str]]:
                    while time.perf_counter() < stop:
                        yield (PHONE, IP)

                async for outcome in client.init_many(items(), concurrency=concurrency):
                    ok += outcome.ok
                    failed += not outcome.ok
                    sent += outcome.attempts
                return ok, sent, failed

            await bulk(WARMUP)
            cpu0, wall0 = time.process_time(), time.perf_counter()
            ok, sent, failed = await bulk(seconds)
            return ok, sent, time.process_time() - cpu0, time.perf_counter() - wall0, failed

    return run


def httpx_transport(concurrency: int) -> httpx.AsyncBaseTransport:
    return httpx.AsyncHTTPTransport(
        limits=httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    )


async def raw_httpx_over_aiohttp(base: str, concurrency: int, seconds: float) -> Timing:
    """Plain httpx, hand-signed, over the library's transport: isolates our own overhead."""
    transport = AiohttpTransport(max_connections=concurrency)
    return await raw_httpx(base, concurrency, seconds, transport)


CONTENDERS: dict[str, Contender] = {
    "raw httpx": raw_httpx,
    "raw aiohttp": raw_aiohttp,
    "raw httpx over aiohttp": raw_httpx_over_aiohttp,
    "lib over httpx": library(httpx_transport),
    "lib over aiohttp": library(lambda c: AiohttpTransport(max_connections=c)),
    "lib default": library(lambda c: None),
    "lib with http_client": library(
        lambda c: AiohttpTransport(max_connections=c), http_client=True
    ),
}

# name, server arguments, concurrency, contenders (None: all)
WORKLOADS: list[tuple[str, tuple[str, ...], int, list[str] | None]] = [
    ("c1 instant", (), 1, None),
    ("c10 instant", (), 10, None),
    ("c100 instant", (), 100, None),
    ("c1000 instant", (), 1000, None),
    ("c100 20ms", ("--latency-ms", "20"), 100, None),
    ("c1000 20ms", ("--latency-ms", "20"), 1000, None),
    ("c100 rate200", ("--rate", "200"), 100, ["raw aiohttp", "lib default"]),
]


@contextlib.contextmanager
def server(*args: str) -> Iterator[str]:
    cmd = [sys.executable, str(HERE / "server.py"), *args]
    if hasattr(os, "sched_setaffinity") and (os.cpu_count() or 1) > 1:
        cmd += ["--cpu", "1"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)  # noqa: S603 (our own script)
    try:
        assert proc.stdout is not None
        ready, _, port = proc.stdout.readline().partition(" ")
        if ready != "ready":
            raise RuntimeError("benchmark server did not start")
        yield f"http://127.0.0.1:{port.strip()}"
    finally:
        proc.terminate()
        proc.wait(10)


def peak_rss(items: int) -> None:
    """Stream ``items`` through init_many in this process; print the peak RSS in MB."""
    with server() as base:

        async def main() -> int:
            async with AsyncOtaClient(
                access_key=AK, access_secret=SK, app_key=APP, base_url=base
            ) as client:
                ok = 0
                async for outcome in client.init_many(
                    ((PHONE, IP) for _ in range(items)), concurrency=100
                ):
                    ok += outcome.ok
                return ok

        ok = asyncio.run(main())
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"items": items, "succeeded": ok, "peak_rss_mb": round(rss_mb, 1)}))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=3.0, help="measured time per run")
    parser.add_argument("--only", nargs="*", default=None, help="workload names to run")
    parser.add_argument("--rss-items", type=int, default=100_000, help="0 to skip")
    parser.add_argument("--peak-rss", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--json", type=Path, default=None, help="save every round here")
    args = parser.parse_args()
    if args.peak_rss:
        peak_rss(args.peak_rss)
        return
    if hasattr(os, "sched_setaffinity") and (os.cpu_count() or 1) > 1:
        os.sched_setaffinity(0, {0})  # the server has the other core
    setup = (
        f"{platform.python_implementation()} {platform.python_version()} "
        f"on {platform.machine()}, "
        f"{os.cpu_count()} CPUs; httpx {httpx.__version__}, aiohttp {aiohttp.__version__}; "
        f"{args.rounds} rounds of {args.seconds:g} s, medians"
    )
    print(f"# {setup}")
    saved: dict[str, object] = {
        "setup": setup,
        "date": time.strftime("%Y-%m-%d", time.gmtime()),
        "rounds": args.rounds,
        "seconds": args.seconds,
    }
    workloads: dict[str, object] = {}
    measured: dict[str, dict[str, list[Timing]]] = {}
    for name, server_args, concurrency, names in WORKLOADS:
        if args.only and name not in args.only:
            continue
        contenders = names or list(CONTENDERS)
        runs: dict[str, list[Timing]] = {c: [] for c in contenders}
        with server(*server_args) as base:
            for _ in range(args.rounds):
                for contender in contenders:
                    runs[contender].append(
                        asyncio.run(CONTENDERS[contender](base, concurrency, args.seconds))
                    )
        measured[name] = runs
        workloads[name] = workload_data(server_args, concurrency, runs)
        if "--rate" in server_args:
            report_rate(name, float(server_args[1]), runs)
        else:
            report(name, concurrency, runs)
    saved["workloads"] = workloads
    saved["targets"] = report_targets(measured)
    if args.json is not None:
        args.json.write_text(json.dumps(saved, indent=1) + "\n")
    if args.rss_items and not args.only:
        done = subprocess.run(  # noqa: S603 (our own script)
            [sys.executable, __file__, "--peak-rss", str(args.rss_items)],
            capture_output=True,
            text=True,
            check=True,
        )
        print(
            f"\n## memory\n\n{args.rss_items:,} items through init_many (concurrency 100): "
            f"{done.stdout.strip()}"
        )


def cpu_us(t: Timing) -> float:
    return t[2] / max(t[0], 1) * 1e6


def rps(t: Timing) -> float:
    return t[0] / t[3]


def paired(
    runs: dict[str, list[Timing]], a: str, b: str, measure: Callable[[Timing], float]
) -> float:
    """The median over rounds of ``a``'s measure over ``b``'s in the same round."""
    return statistics.median(
        measure(x) / measure(y) for x, y in zip(runs[a], runs[b], strict=True)
    )


def workload_data(
    server_args: tuple[str, ...], concurrency: int, runs: dict[str, list[Timing]]
) -> dict[str, object]:
    return {
        "server": list(server_args),
        "concurrency": concurrency,
        "contenders": {
            c: {
                "requests_per_s": [round(rps(t), 1) for t in r],
                "cpu_us_per_request": [round(cpu_us(t), 1) for t in r],
                "attempts_per_success": [round(t[1] / max(t[0], 1), 3) for t in r],
                "failed": [t[4] for t in r],
            }
            for c, r in runs.items()
        },
    }


def report_targets(measured: dict[str, dict[str, list[Timing]]]) -> list[dict[str, object]]:
    results: list[dict[str, object]] = []
    lines = []
    for workload, contender, baseline, measure, bound in TARGETS:
        runs = measured.get(workload)
        if runs is None or contender not in runs or baseline not in runs:
            continue
        ratio = paired(runs, contender, baseline, cpu_us if measure == "cpu" else rps)
        met = ratio <= bound if measure == "cpu" else ratio >= bound
        what = "CPU per request" if measure == "cpu" else "requests/s"
        sign = "<=" if measure == "cpu" else ">="
        lines.append(
            f"| {workload}: {what} of {contender} {sign} {bound} x {baseline} "
            f"| {ratio:.3f} | {'met' if met else 'NOT met'} |"
        )
        results.append(
            {
                "workload": workload,
                "contender": contender,
                "baseline": baseline,
                "measure": measure,
                "bound": bound,
                "ratio": round(ratio, 4),
                "met": met,
            }
        )
    if lines:
        print("\n## targets (median of per-round ratios)\n")
        print("| target | measured | |\n|---|---:|---|")
        print("\n".join(lines))
    return results


def report(name: str, concurrency: int, runs: dict[str, list[Timing]]) -> None:
    rate = {c: statistics.median(rps(t) for t in r) for c, r in runs.items()}
    cpu = {c: statistics.median(cpu_us(t) for t in r) for c, r in runs.items()}
    failed = {c: sum(t[4] for t in r) for c, r in runs.items()}
    hand = "raw httpx over aiohttp"
    print(f"\n## {name} (concurrency {concurrency})\n")
    print(
        "| contender | requests/s | CPU us/request | x raw aiohttp | x raw httpx "
        f"| CPU x {hand} | failed |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|")
    for c in runs:
        print(
            f"| {c} | {rate[c]:,.0f} | {cpu[c]:,.0f} | {paired(runs, c, 'raw aiohttp', rps):.2f} "
            f"| {paired(runs, c, 'raw httpx', rps):.2f} | {paired(runs, c, hand, cpu_us):.2f} "
            f"| {failed[c]} |"
        )
    sys.stdout.flush()


def report_rate(name: str, rate: float, runs: dict[str, list[Timing]]) -> None:
    print(f"\n## {name} (server limit {rate:g}/s)\n")
    print("| contender | goodput/s | x limit | attempts per success | failed |")
    print("|---|---:|---:|---:|---:|")
    for c, r in runs.items():
        goodput = statistics.median(t[0] / t[3] for t in r)
        per_success = statistics.median(t[1] / max(t[0], 1) for t in r)
        failed = sum(t[4] for t in r)
        print(f"| {c} | {goodput:,.0f} | {goodput / rate:.3f} | {per_success:.2f} | {failed} |")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
