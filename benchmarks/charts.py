"""Draw the charts of docs/performance.md from a saved benchmark run.

    python benchmarks/charts.py [benchmarks/results.json] [--out docs/_static]

Reads what ``benchmarks/run.py --save`` wrote and writes two SVG files:

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
RUN = dict[str, list[list[float]]]


def median_rate(rounds: list[list[float]], fields: list[str]) -> float:
    """Median successes per wall second over the rounds."""
    ok, wall = fields.index("successes"), fields.index("wall_seconds")
    return statistics.median(r[ok] / r[wall] for r in rounds)


def throughput(results: dict[str, object], out: Path) -> None:
    fields: list[str] = results["timing"]  # type: ignore[assignment]
    workloads: list[dict[str, object]] = results["workloads"]  # type: ignore[assignment]
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.8), sharey=True)
    for ax, server, title in zip(
        axes, ([], ["--latency-ms", "20"]), ("instant answers", "20 ms per answer"), strict=True
    ):
        chosen = [w for w in workloads if w["server"] == server]
        for name, (label, colour, marker) in LINES.items():
            points = [
                (int(w["concurrency"]), median_rate(w["runs"][name], fields))  # type: ignore[call-overload,index]
                for w in chosen
            ]
            ax.plot(*zip(*points, strict=True), label=label, color=colour, marker=marker)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xticks([c for c, _ in points], [f"{c:,}" for c, _ in points])
        ax.set_title(title)
        ax.set_xlabel("concurrent requests")
        ax.grid(True, which="major", alpha=0.3)
    axes[0].set_ylabel("requests per second (log scale)")
    axes[0].legend(loc="lower left", fontsize="small")
    fig.suptitle(caption(results), fontsize="small", y=0.02, va="bottom", color="#57606a")
    fig.tight_layout(rect=(0, 0.05, 1, 1))
    save(fig, out / "perf-throughput.svg")


def goodput(results: dict[str, object], out: Path) -> None:
    fields: list[str] = results["timing"]  # type: ignore[assignment]
    workloads: list[dict[str, object]] = results["workloads"]  # type: ignore[assignment]
    (limited,) = [w for w in workloads if "--rate" in w["server"]]  # type: ignore[operator]
    server: list[str] = limited["server"]  # type: ignore[assignment]
    limit = float(server[server.index("--rate") + 1])
    runs: RUN = limited["runs"]  # type: ignore[assignment]
    names = [n for n in ("raw aiohttp", "lib default") if n in runs]
    ok, sent = fields.index("successes"), fields.index("attempts")
    fig, ax = plt.subplots(figsize=(6, 3.2))
    for i, name in enumerate(names):
        colour = LINES[name][1]
        rate = median_rate(runs[name], fields)
        tries = statistics.median(r[sent] / max(r[ok], 1) for r in runs[name])
        ax.barh(i, rate, color=colour, height=0.55)
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


def caption(results: dict[str, object]) -> str:
    return (
        f"{results['python']}, {results['cpus']} CPUs; httpx {results['httpx']}, aiohttp "
        f"{results['aiohttp']}; medians of {results['rounds']} rounds; {results['date']}"
    )


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
