"""``python -m nxcloud_ota``: the ``nxcloud-ota`` command line."""

from __future__ import annotations

from ._launch import main

if __name__ == "__main__":  # pragma: no cover - run by tests in a subprocess
    main()
