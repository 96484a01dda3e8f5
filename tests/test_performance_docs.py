"""The performance page shows the committed benchmark run: charts and numbers drawn from it."""

from __future__ import annotations

import json
import re
import statistics
from pathlib import Path

import pytest

ROOT = Path(__file__).parent.parent
RESULTS = json.loads((ROOT / "benchmarks" / "results.json").read_text(encoding="utf-8"))
PAGE = (ROOT / "docs" / "performance.md").read_text(encoding="utf-8")
CHARTS = ["perf-throughput.svg", "perf-goodput.svg"]


def median(workload: str, contender: str, measure: str = "requests_per_s") -> float:
    return float(
        statistics.median(RESULTS["workloads"][workload]["contenders"][contender][measure])
    )


def test_the_run_has_what_the_charts_draw() -> None:
    """results.json holds every workload and contender benchmarks/charts.py plots."""
    workloads = RESULTS["workloads"]
    for level in (1, 10, 100, 1000):
        assert {"lib default", "raw httpx", "raw aiohttp"} <= set(
            workloads[f"c{level} instant"]["contenders"]
        )
    for level in (100, 1000):
        assert workloads[f"c{level} 20ms"]["server"] == ["--latency-ms", "20"]
    assert {"lib default", "raw aiohttp"} <= set(workloads["c100 rate200"]["contenders"])


@pytest.mark.parametrize("chart", CHARTS)
def test_each_chart_is_on_the_page_and_drawn_from_the_committed_run(chart: str) -> None:
    """The page embeds the chart, and the chart's caption names the run's setup and date."""
    assert f"(_static/{chart})" in PAGE
    svg = (ROOT / "docs" / "_static" / chart).read_text(encoding="utf-8")
    assert RESULTS["setup"] in svg
    assert RESULTS["date"] in svg


def test_the_numbers_in_the_text_are_the_runs() -> None:
    """Every requests-per-second figure the page quotes is a median of the committed run."""
    quoted = {
        ("c100 instant", "lib default"),
        ("c100 instant", "raw httpx"),
        ("c100 instant", "raw aiohttp"),
        ("c100 20ms", "lib default"),
        ("c100 20ms", "raw httpx"),
        ("c100 rate200", "lib default"),
        ("c100 rate200", "raw aiohttp"),
    }
    for workload, contender in quoted:
        figure = f"{median(workload, contender):,.0f}"
        assert re.search(rf"\b{re.escape(figure)}\b", PAGE), (workload, contender, figure)
