"""The examples of docs/testing.md run as written."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

PAGE = Path(__file__).parent.parent / "docs" / "testing.md"
BLOCKS = re.findall(r"```python\n(.*?)```", PAGE.read_text(encoding="utf-8"), re.DOTALL)
SCRIPTS = [block for block in BLOCKS if "def test_" not in block]
TEST_MODULES = [block for block in BLOCKS if "def test_" in block]


def test_the_page_has_examples_of_both_kinds() -> None:
    """The page shows scripts and a pytest module (so the tests below test something)."""
    assert len(SCRIPTS) >= 5
    assert len(TEST_MODULES) == 1


@pytest.mark.parametrize("number", range(len(SCRIPTS)))
def test_script_example_runs(number: int) -> None:
    """Each script example of the testing page runs without error (its asserts hold)."""
    code = compile(SCRIPTS[number], f"{PAGE.name}, example {number + 1}", "exec")
    exec(code, {"__name__": f"docs_example_{number}"})  # noqa: S102 - our own docs


def test_pytest_example_passes(tmp_path: Path) -> None:
    """The page's pytest module, run by pytest with only the plugin, passes."""
    module = tmp_path / "test_example.py"
    module.write_text(TEST_MODULES[0], encoding="utf-8")
    done = subprocess.run(  # noqa: S603 - our own interpreter and file
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(module)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "2 passed" in done.stdout
