"""Development sessions: ``nox -s tests lint typing docs`` is what CI runs."""

from __future__ import annotations

import re

import nox

nox.needs_version = ">=2025.2.9"
nox.options.sessions = ["tests", "lint", "typing", "docs", "arq", "redis_limiter"]
# Locally, only the interpreters present run and the others skip; .ci/run passes
# --error-on-missing-interpreters, so CI fails instead.
nox.options.error_on_missing_interpreters = False
nox.options.reuse_existing_virtualenvs = True

PYPROJECT = nox.project.load_toml("pyproject.toml")
# Every version the package claims, from its classifiers: one list to keep.
PYTHONS = [
    classifier.rsplit(" :: ", 1)[1]
    for classifier in PYPROJECT["project"]["classifiers"]
    if re.fullmatch(r"Programming Language :: Python :: 3\.\d+", classifier)
]
# The soak tests run on one version: they prove the library's accounting, which
# does not change between versions, and take minutes on each.
SOAK_PYTHON = PYTHONS[-1]


def install(session: nox.Session, *groups: str, extras: str = "") -> None:
    deps = [dep for group in groups for dep in nox.project.dependency_groups(PYPROJECT, group)]
    session.install("-e", f".{extras}", *deps)


@nox.session(python=PYTHONS)
def tests(session: nox.Session) -> None:
    """Run the test suite and the doctests with branch coverage (at least 95%), then, on
    the newest Python only, the soak tests without coverage tracing, which would slow
    them tenfold. The Celery and taskiq recipes are tested here too, with real workers
    (they need a Redis)."""
    install(session, "tests", "celery", "taskiq")
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
    if session.python == SOAK_PYTHON:
        session.run("pytest", "-m", "soak", "tests", *session.posargs)
    else:
        session.log(f"soak tests skipped: they run on Python {SOAK_PYTHON}")


@nox.session(python="3.11")
def arq(session: nox.Session) -> None:
    """The arq recipe's tests: arq pins redis<6, so it has an environment of its own."""
    install(session, "tests", "arq")
    session.run("pytest", "tests/test_redis_limiter.py", "-k", "arq", *session.posargs)


@nox.session(python="3.11")
@nox.parametrize("redis_py", ["5.0.1", "newest"])
def redis_limiter(session: nox.Session, redis_py: str) -> None:
    """The shared limiter's tests on the oldest redis-py the extra allows and on the newest."""
    install(session, "tests")
    if redis_py == "newest":
        session.install("--upgrade", "redis")
    else:
        session.install(f"redis=={redis_py}")
    session.run("python", "-c", "import redis; print('redis-py', redis.__version__)")
    session.run("pytest", "tests/test_redis_limiter.py", "-k", "not arq", *session.posargs)


@nox.session(python="3.11")
def lint(session: nox.Session) -> None:
    """Check style and formatting with ruff."""
    install(session, "lint")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")


@nox.session(python="3.11")
def typing(session: nox.Session) -> None:
    """mypy --strict on the package and on a module that uses the public API as users do."""
    install(session, "typing")
    session.run("mypy", "--strict", "nxcloud_ota", "tests/typing_check.py")


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
