"""The fleet benchmark: four worker processes, one account, shared against per-process pacing.

Each run starts 4 fresh processes x 500 distinct phones (``init_many``,
concurrency 100, ``max_rate=200``) against one simulator limited to 200 calls a
second (``FakeNxCloud(rate=200, burst=20)``), from a cold start: new processes,
a new limiter state. Every process is paced either by one
``RedisRateLimiter`` shared through Redis (``shared``) or by its own
``AdaptiveRateLimiter`` (``local``). Scenarios: an idle machine or a CPU-bound
process competing for the same cores, each with or without ``client.warm_up``.
Within a round every scenario runs both pacings back to back, in alternating
order, so that both see the same machine; the rounds repeat that.

The simulator counts requests and 2206 answers. Goodput is logins started per
second from the start signal to the last outcome, as a fraction of the limit.
Results go to ``benchmarks/fleet_results.json``; ``benchmarks/fleet_plot.py``
draws them.

    .ci/redis.sh start 6399
    python benchmarks/fleet.py --redis-url redis://127.0.0.1:6399/0 [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
import uuid
from pathlib import Path

import attrs
import redis

ROOT = Path(__file__).parent.parent
sys.path.insert(0, str(ROOT))

from tests._fleet import FleetRun, run_fleet  # noqa: E402

RESULTS = Path(__file__).parent / "fleet_results.json"
SCENARIOS = {  # name: (a CPU-bound competitor, warm-up)
    "idle": (False, True),
    "cpu": (True, True),
    "idle-no-warm-up": (False, False),
    "cpu-no-warm-up": (True, False),
}


def one_run(redis_url: str, pacing: str, contention: bool, warm_up: bool) -> FleetRun:
    """One fleet run under a key prefix of its own, deleted afterwards."""
    prefix = f"nxcloud:{{bench-{uuid.uuid4().hex}}}:"
    try:
        return run_fleet(pacing, redis_url, prefix, contention=contention, warm_up=warm_up)
    finally:
        with redis.Redis.from_url(redis_url) as conn:
            conn.delete(f"{prefix}ratelimit")


def median_range(values: list[float], form: str) -> str:
    """The median, and the range in brackets."""
    return (
        f"{form.format(statistics.median(values))} "
        f"({form.format(min(values))} - {form.format(max(values))})"
    )


def summary(runs: list[dict[str, float | str]]) -> list[str]:
    """The table: per scenario and pacing, the median and the range of each measure, and
    in how many rounds shared pacing did no worse than per-process pacing on both."""
    lines = [
        "| scenario | pacing | 2206 share | goodput / limit | attempts per success "
        "| shared no worse |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for scenario in SCENARIOS:
        rounds: dict[str, dict[float | str, dict[str, float | str]]] = {}
        for pacing in ("shared", "local"):
            chosen = [r for r in runs if r["scenario"] == scenario and r["pacing"] == pacing]
            rounds[pacing] = {r["round"]: r for r in chosen}
            if not chosen:
                continue
            cells = [
                median_range([float(r[key]) for r in chosen], form)
                for key, form in (("share", "{:.2%}"), ("goodput", "{:.3f}"), ("aps", "{:.3f}"))
            ]
            both = [
                n for n in rounds[pacing] if n in rounds["shared"] and n in rounds.get("local", {})
            ]
            better = sum(
                float(rounds["shared"][n]["share"]) <= float(rounds["local"][n]["share"])
                and float(rounds["shared"][n]["goodput"]) >= float(rounds["local"][n]["goodput"])
                for n in both
            )
            verdict = f"{better} / {len(both)}" if pacing == "local" else ""
            lines.append(f"| {scenario} | {pacing} | {' | '.join(cells)} | {verdict} |")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--redis-url",
        default=os.environ.get("NXCLOUD_TEST_REDIS_URL", "redis://127.0.0.1:6399/0"),
    )
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--scenarios", nargs="+", choices=list(SCENARIOS), default=list(SCENARIOS))
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument(
        "--summarise", action="store_true", help="print the table of --out's runs; run nothing"
    )
    args = parser.parse_args()
    if args.summarise:
        print("\n".join(summary(json.loads(args.out.read_text())["runs"])))
        return
    runs: list[dict[str, float | str]] = []
    started, load = time.time(), os.getloadavg()
    for number in range(args.rounds):
        for index, scenario in enumerate(args.scenarios):
            contention, warm_up = SCENARIOS[scenario]
            order = ("shared", "local") if (number + index) % 2 == 0 else ("local", "shared")
            for pacing in order:
                load_average = os.getloadavg()[0]  # the others' work on this machine
                run = one_run(args.redis_url, pacing, contention, warm_up)
                record = {
                    "round": number,
                    "scenario": scenario,
                    "load_average": load_average,
                    **attrs.asdict(run),
                    # requests/2206s per 100 ms, one string: the file stays readable
                    "timeline": " ".join(
                        f"{sent}/{throttled}" for sent, throttled in run.timeline
                    ),
                    "share": run.share,
                    "goodput": run.goodput,
                    "aps": run.attempts_per_success,
                }
                runs.append(record)
                print(f"round {number} | {scenario} {run.row()}", flush=True)
    table = summary(runs)
    print("\n".join(table))
    args.out.write_text(
        json.dumps(
            {
                "command": "python benchmarks/fleet.py " + " ".join(sys.argv[1:]),
                "started": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(started)),
                "python": platform.python_version(),
                "cpus": os.cpu_count(),
                "load_average_at_start": load,
                "runs": runs,
            },
            indent=1,
        )
        + "\n"
    )


if __name__ == "__main__":
    main()
