"""The ``python`` examples of the README and the docs run as written, against the simulator.

Blocks fenced as ``python`` run; blocks fenced as ``py`` are shown only (for
example configuration that needs real credentials). Each example runs in its
own interpreter, with the ``NXCLOUD_*`` variables pointing at a simulator on a
loopback port whose phones open their login urls by themselves.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from nxcloud_ota.testing import FakeNxCloud
from nxcloud_ota.testing._server import serve_in_thread

ROOT = Path(__file__).parent.parent
PAGES = [
    "README.md",
    "docs/index.md",
    "docs/quickstart.md",
    "docs/sync.md",
    "docs/flow.md",
    "docs/bulk.md",
    "docs/security.md",
    "docs/observability.md",
    "docs/maybe-started.md",
]
EXAMPLES = [
    pytest.param(block, id=f"{page}#{number}")
    for page in PAGES
    for number, block in enumerate(
        re.findall(r"```python\n(.*?)```", (ROOT / page).read_text(encoding="utf-8"), re.DOTALL),
        start=1,
    )
]


@pytest.fixture(scope="module")
def simulator() -> Iterator[tuple[FakeNxCloud, str]]:
    fake = FakeNxCloud(auto_open=0.05)
    with serve_in_thread(fake) as base_url:
        yield fake, base_url


def test_every_page_has_an_example() -> None:
    """Each page listed here shows at least one runnable example."""
    pages = {param.id.split("#")[0] for param in EXAMPLES if param.id}
    assert pages == set(PAGES)


@pytest.mark.parametrize("code", EXAMPLES)
def test_example_runs(code: str, simulator: tuple[FakeNxCloud, str]) -> None:
    """The example exits 0 against the simulator, having talked to it when it uses the client."""
    fake, base_url = simulator
    before = len(fake.requests)
    env = {
        **os.environ,
        "NXCLOUD_BASE_URL": base_url,
        "NXCLOUD_ACCESS_KEY": fake.access_key,
        "NXCLOUD_ACCESS_SECRET": fake.access_secret,
        "NXCLOUD_APP_KEY": fake.app_key,
    }
    done = subprocess.run(  # noqa: S603 - our own interpreter and docs
        [sys.executable, "-c", code],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    if "from_env()" in code:
        assert len(fake.requests) > before
        assert "Traceback" not in done.stderr
