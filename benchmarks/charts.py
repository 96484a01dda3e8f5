"""Draw the charts of docs/performance.md from a saved benchmark run.

    python benchmarks/charts.py [benchmarks/results.json] [--out docs/_static]

Reads what ``benchmarks/run.py --json`` wrote and writes two SVG files:

- ``perf-throughput.svg``: requests/s by concurrency for the library (default
  client), raw httpx and raw aiohttp, on log scales;
- ``perf-goodput.svg``: logins started per second under the server's rate limit,
  with the attempts each success took.

Needs matplotlib (``pip install matplotlib``), used by this script only.
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path
from typing import Any

import matplotlib as mpl

mpl.use("svg")
import matplotlib.pyplot as plt
from matplotlib.figure import Figure

HERE = Path(__file__).parent
LINES = {  # contender: (label, colour, marker)
    "lib default": ("nxcloud-ota (default client)", "#1f6feb", "o"),
    "raw aiohttp": ("raw aiohttp, hand-signed", "#2da44e", "s"),
    "raw httpx": ("raw httpx, hand-signed", "#cf222e", "^"),
}
Workload = dict[str, Any]


def median(workload: Workload, contender: str, measure: str) -> float:
    """The median over the rounds of one contender's ``measure``."""
    return float(statistics.median(workload["contenders"][contender][measure]))


def throughput(results: dict[str, Any], out: Path) -> None:
    workloads: list[Workload] = list(results["workloads"].values())
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.8), sharey=True)
    panels: list[tuple[list[str], str]] = [
        ([], "instant answers"),
        (["--latency-ms", "20"], "20 ms per answer"),
    ]
    for ax, (server, title) in zip(axes, panels, strict=True):
        chosen = sorted(
            (w for w in workloads if w["server"] == server), key=lambda w: w["concurrency"]
        )
        levels = [w["concurrency"] for w in chosen]
        for name, (label, colour, marker) in LINES.items():
            rates = [median(w, name, "requests_per_s") for w in chosen]
            ax.plot(levels, rates, label=label, color=colour, marker=marker)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xticks(levels, [f"{c:,}" for c in levels])
        ax.minorticks_off()
        ax.set_title(title)
        ax.set_xlabel("concurrent requests")
        ax.grid(True, which="major", alpha=0.3)
    axes[0].set_ylabel("requests per second (log scale)")
    axes[0].legend(loc="lower left", fontsize="small")
    fig.suptitle(caption(results), fontsize="small", y=0.02, va="bottom", color="#57606a")
    fig.tight_layout(rect=(0, 0.05, 1, 1))
    save(fig, out / "perf-throughput.svg")


def goodput(results: dict[str, Any], out: Path) -> None:
    (limited,) = [w for w in results["workloads"].values() if "--rate" in w["server"]]
    server: list[str] = limited["server"]
    limit = float(server[server.index("--rate") + 1])
    names = [n for n in ("raw aiohttp", "lib default") if n in limited["contenders"]]
    fig, ax = plt.subplots(figsize=(6, 3.2))
    for i, name in enumerate(names):
        rate = median(limited, name, "requests_per_s")
        tries = median(limited, name, "attempts_per_success")
        ax.barh(i, rate, color=LINES[name][1], height=0.55)
        ax.text(
            rate + limit * 0.03,
            i,
            f"{rate:,.0f}/s\n{tries:.2f} attempts per login",
            va="center",
            fontsize="small",
            bbox={"facecolor": "white", "edgecolor": "none", "pad": 1},
        )
    ax.axvline(limit, color="#57606a", linestyle="--")
    ax.set_ylim(-0.6, len(names) - 0.05)
    ax.text(
        limit * 1.02,
        len(names) - 0.3,
        f"server limit\n{limit:,.0f}/s",
        fontsize="small",
        color="#57606a",
        va="center",
    )
    ax.set_yticks(range(len(names)), [LINES[n][0].replace(", ", "\n") for n in names])
    ax.set_xlim(0, limit * 1.6)
    ax.set_xlabel(f"logins started per second, concurrency {limited['concurrency']}")
    ax.set_title("Goodput under a rate limit")
    fig.suptitle(caption(results), fontsize="small", y=0.02, va="bottom", color="#57606a")
    fig.tight_layout(rect=(0, 0.06, 1, 1))
    save(fig, out / "perf-goodput.svg")


def caption(results: dict[str, Any]) -> str:
    return f"{results['setup']}; {results['date']}"


def save(fig: Figure, path: Path) -> None:
    # Text stays text, and no timestamp: the files change only when the numbers do.
    with mpl.rc_context({"svg.fonttype": "none", "svg.hashsalt": "nxcloud-ota"}):
        fig.savefig(path, metadata={"Date": None})
    plt.close(fig)
    print(f"wrote {path}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("results", type=Path, nargs="?", default=HERE / "results.json")
    parser.add_argument("--out", type=Path, default=HERE.parent / "docs" / "_static")
    args = parser.parse_args()
    results = json.loads(args.results.read_text(encoding="utf-8"))
    args.out.mkdir(parents=True, exist_ok=True)
    throughput(results, args.out)
    goodput(results, args.out)


if __name__ == "__main__":
    main()
