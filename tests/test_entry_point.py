"""The console script and ``python -m nxcloud_ota``, with and without the ``cli`` extra."""

from __future__ import annotations

import importlib
import sys
import types

import pytest

from nxcloud_ota import __version__, _launch
from tests._support import run_python


def test_the_launcher_runs_the_command_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """With the extra installed, the entry point is the nxcloud-ota command."""
    monkeypatch.setattr(sys, "argv", ["whatever", "--version"])
    with pytest.raises(SystemExit) as exit_info:
        _launch.main()
    assert exit_info.value.code == 0
    assert capsys.readouterr().out == f"nxcloud-ota, version {__version__}\n"


def test_python_m_runs_the_command_line() -> None:
    """``python -m nxcloud_ota --version`` in a fresh interpreter is the nxcloud-ota command."""
    done = run_python("-m", "nxcloud_ota", "--version")
    assert (done.returncode, done.stdout) == (0, f"nxcloud-ota, version {__version__}\n")


@pytest.mark.parametrize("module", _launch.CLI_EXTRA_MODULES)
def test_a_missing_extra_module_gives_one_line_and_exit_2(
    module: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Without any one of click, rich, uvicorn: one line naming the cli extra, exit code 2."""
    monkeypatch.setitem(sys.modules, module, None)  # None in sys.modules: import fails
    with pytest.raises(SystemExit) as exit_info:
        _launch.main()
    assert exit_info.value.code == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.count("\n") == 1
    assert "pip install 'nxcloud-ota[cli]'" in captured.err
    assert f"({module} missing)" in captured.err


def test_a_module_that_cannot_be_looked_up_counts_as_missing(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A half-imported click (no module spec) is reported as missing, not as a traceback."""
    monkeypatch.setitem(sys.modules, "click", types.ModuleType("click"))  # __spec__ is None
    with pytest.raises(SystemExit) as exit_info:
        _launch.main()
    assert exit_info.value.code == 2
    assert "(click missing)" in capsys.readouterr().err


def test_importing_the_main_module_runs_nothing() -> None:
    """``import nxcloud_ota.__main__`` (as tools do to inspect it) does not start the command."""
    module = importlib.import_module("nxcloud_ota.__main__")
    assert module.main is _launch.main


def test_python_m_without_click_in_a_fresh_interpreter() -> None:
    """In a real interpreter where click cannot be imported, ``-m nxcloud_ota`` says so: exit 2."""
    code = (
        "import sys, runpy; sys.modules['click'] = None; "
        "sys.argv = ['nxcloud_ota', 'demo']; "
        "runpy.run_module('nxcloud_ota', run_name='__main__', alter_sys=True)"
    )
    done = run_python("-c", code)
    assert done.returncode == 2, done.stderr
    assert done.stdout == ""
    assert done.stderr.splitlines() == [
        "nxcloud-ota: the command line needs the 'cli' extra (click missing): "
        "pip install 'nxcloud-ota[cli]'"
    ]
