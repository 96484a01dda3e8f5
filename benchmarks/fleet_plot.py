"""Draw the fleet benchmark's results (``fleet_results.json``) for ``docs/scaling.md``.

Three panels, one group per scenario: the share of 2206 answers, goodput as a
fraction of the limit, and attempts per success; shared and per-process pacing
side by side, one dot per run and a bar at the median, the targets dashed.
It needs matplotlib, which nothing else in the project uses::

    pip install matplotlib
    python benchmarks/fleet_plot.py [--results benchmarks/fleet_results.json]
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path

import matplotlib as mpl

mpl.use("Agg")
import matplotlib.pyplot as plt

HERE = Path(__file__).parent
PACINGS = {"shared": ("shared (RedisRateLimiter)", "#1f77b4"), "local": ("per process", "#ff7f0e")}
PANELS = (  # key, title, scale, target
    ("share", "2206 answers (% of requests)", 100.0, 1.0),
    ("goodput", "goodput (fraction of the limit)", 1.0, 0.95),
    ("aps", "attempts per success", 1.0, None),
)


def scenario_label(scenario: str) -> str:
    """``cpu-no-warm-up`` -> ``CPU competitor`` and ``no warm-up`` on a second line."""
    name = scenario.replace("idle", "no competitor").replace("cpu", "CPU competitor")
    return name.replace("-no-", "\nno ")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", type=Path, default=HERE / "fleet_results.json")
    parser.add_argument("--out", type=Path, default=HERE.parent / "docs" / "fleet-pacing.png")
    args = parser.parse_args()
    data = json.loads(args.results.read_text())
    runs = data["runs"]
    scenarios = list(dict.fromkeys(run["scenario"] for run in runs))
    figure, axes = plt.subplots(1, len(PANELS), figsize=(13, 4.2))
    for ax, (key, title, scale, target) in zip(axes, PANELS, strict=True):
        for offset, (pacing, (label, colour)) in zip((-0.18, 0.18), PACINGS.items(), strict=True):
            for x, scenario in enumerate(scenarios):
                values = [
                    run[key] * scale
                    for run in runs
                    if run["scenario"] == scenario and run["pacing"] == pacing
                ]
                if not values:
                    continue
                ax.bar(
                    x + offset,
                    statistics.median(values),
                    width=0.34,
                    color=colour,
                    alpha=0.35,
                    label=label if x == 0 else None,
                )
                ax.scatter([x + offset] * len(values), values, color=colour, s=14, zorder=3)
        if target is not None:
            ax.axhline(target, color="black", linestyle="--", linewidth=0.8)
        ax.set_title(title, fontsize=10)
        ax.set_xticks(range(len(scenarios)))
        ax.set_xticklabels([scenario_label(scenario) for scenario in scenarios], fontsize=8)
        if key == "goodput":
            ax.set_ylim(0.5, 1.05)
        if key == "aps":
            ax.set_ylim(0.98, None)
    axes[0].legend(fontsize=8, loc="upper left")
    figure.suptitle(
        "4 processes x 500 logins against one 200/s account limit "
        f"({len(runs)} runs, {data['started']}, {data['cpus']} CPUs); dashed: the targets",
        fontsize=10,
    )
    figure.tight_layout()
    figure.savefig(args.out, dpi=110)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
