"""Development sessions: ``nox -s tests lint typing docs`` is what CI runs."""

from __future__ import annotations

import nox

nox.needs_version = ">=2025.2.9"
nox.options.sessions = ["tests", "lint", "typing", "docs"]
# Only the interpreters present run; the others skip (also on CI, where nox
# would otherwise turn a missing interpreter into an error).
nox.options.error_on_missing_interpreters = False
nox.options.reuse_existing_virtualenvs = True

PYPROJECT = nox.project.load_toml("pyproject.toml")
PYTHONS = ["3.10", "3.11", "3.12", "3.13"]


def install(session: nox.Session, *groups: str, extras: str = "") -> None:
    deps = [dep for group in groups for dep in nox.project.dependency_groups(PYPROJECT, group)]
    session.install("-e", f".{extras}", *deps)


@nox.session(python=PYTHONS)
def tests(session: nox.Session) -> None:
    """Run the test suite and the doctests with branch coverage (at least 95%), then the
    soak tests without coverage tracing, which would slow them tenfold."""
    install(session, "tests")
    session.run(
        "pytest",
        "--cov",
        "--cov-report=term-missing:skip-covered",
        "--doctest-modules",
        "-m",
        "not soak",
        "nxcloud_ota",
        "tests",
        *session.posargs,
    )
    session.run("pytest", "-m", "soak", "tests", *session.posargs)


@nox.session(python="3.11")
def lint(session: nox.Session) -> None:
    """Check style and formatting with ruff."""
    install(session, "lint")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")


@nox.session(python="3.11")
def typing(session: nox.Session) -> None:
    """mypy --strict on the package and on a module that uses the public API as users do;
    pyright (strict) on that module; every public name fully typed for pyright; and wrong
    constructor types rejected at the call."""
    install(session, "typing")
    session.run("mypy", "--strict", "nxcloud_ota", "tests/typing_check.py")
    session.run("pyright", "tests/typing_check.py")
    session.run("pyright", "--verifytypes", "nxcloud_ota", "--ignoreexternal")
    session.run("pytest", "tests/test_typing.py")


@nox.session(python="3.11")
def docs(session: nox.Session) -> None:
    """Build the docs with warnings as errors, then run their doctests."""
    install(session, "docs", extras="[cli]")
    session.run("sphinx-build", "-W", "--keep-going", "-b", "html", "docs", "docs/_build/html")
    session.run(
        "sphinx-build", "-W", "--keep-going", "-b", "doctest", "docs", "docs/_build/doctest"
    )


@nox.session(python="3.11")
def demo(session: nox.Session) -> None:
    """Run the README's first command: the whole flow against the built-in simulator."""
    session.install("-e", ".[cli]")
    session.run("nxcloud-ota", "demo")


@nox.session(python="3.11")
def bench(session: nox.Session) -> None:
    """Benchmark the library against raw httpx and raw aiohttp (see docs/performance.md)."""
    session.install("-e", ".")
    session.run("python", "benchmarks/run.py", *session.posargs)
