"""How long ``import nxcloud_ota`` takes, as a multiple of ``import httpx``.

Each import runs in a fresh interpreter under ``python -X importtime``, several
times, alternating; the medians of the cumulative times are compared. The aim
(docs/performance.md) is at most 3x: the package adds attrs, tenacity and its
own modules to httpx, and leaves aiohttp until the default transport is used.

    python benchmarks/importtime.py [--runs 7]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys


def cumulative_us(module: str) -> int:
    """Microseconds ``import module`` takes in a fresh interpreter (cumulative)."""
    done = subprocess.run(  # noqa: S603 - our own interpreter
        [sys.executable, "-X", "importtime", "-c", f"import {module}"],
        capture_output=True,
        text=True,
        check=True,
    )
    for line in reversed(done.stderr.splitlines()):  # "import time: self | cumulative | name"
        _, cumulative, name = line.split("|")
        if name.strip() == module:
            return int(cumulative)
    raise RuntimeError(f"no importtime line for {module}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    times: dict[str, list[int]] = {"httpx": [], "nxcloud_ota": []}
    for _ in range(args.runs):
        for module, samples in times.items():
            samples.append(cumulative_us(module))
    httpx_ms = statistics.median(times["httpx"]) / 1000
    ours_ms = statistics.median(times["nxcloud_ota"]) / 1000
    print(f"import httpx       {httpx_ms:7.1f} ms (median of {args.runs})")
    print(f"import nxcloud_ota {ours_ms:7.1f} ms  = {ours_ms / httpx_ms:.2f}x httpx (aim: <= 3x)")


if __name__ == "__main__":
    main()
