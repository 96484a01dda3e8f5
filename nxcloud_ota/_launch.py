"""The console script's entry point: the command line if its extra is installed.

The command line needs click, rich and uvicorn (the ``cli`` extra), which the
library does not. Without them, one line says what to install, instead of a
traceback about a missing module.
"""

from __future__ import annotations

import importlib.util
import sys

__all__ = ["CLI_EXTRA_MODULES", "main"]

CLI_EXTRA_MODULES = ("click", "rich", "uvicorn")
"""The modules the ``cli`` extra installs."""

_EXIT_USAGE = 2


def _missing(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is None
    except (ImportError, ValueError):  # a broken or half-imported module counts as missing
        return True


def main() -> None:
    """Run ``nxcloud-ota``, or explain in one line that the ``cli`` extra is missing."""
    missing = [name for name in CLI_EXTRA_MODULES if _missing(name)]
    if missing:
        print(
            f"nxcloud-ota: the command line needs the 'cli' extra ({', '.join(missing)} "
            "missing): pip install 'nxcloud-ota[cli]'",
            file=sys.stderr,
        )
        raise SystemExit(_EXIT_USAGE)
    from ._cli import main as cli  # noqa: PLC0415 - click is known to be importable now

    cli(prog_name="nxcloud-ota")
