"""Development sessions: ``nox -s tests lint typing docs dist oldest`` is what CI runs."""

from __future__ import annotations

import re
import shutil
import subprocess
import tarfile
import tempfile
from pathlib import Path

import nox
from packaging.requirements import Requirement

nox.needs_version = ">=2025.2.9"
nox.options.sessions = [
    "tests",
    "lint",
    "typing",
    "docs",
    "arq",
    "redis_limiter",
    "dist",
    "oldest",
]
# Locally, only the interpreters present run and the others skip; .ci/run passes
# --error-on-missing-interpreters, so CI fails instead.
nox.options.error_on_missing_interpreters = False
nox.options.reuse_existing_virtualenvs = True
# uv makes the environments in seconds where it is installed (pip install uv);
# virtualenv and pip otherwise.
nox.options.default_venv_backend = "uv|virtualenv"

PYPROJECT = nox.project.load_toml("pyproject.toml")
# Every version the package claims, from its classifiers: one list to keep.
PYTHONS = [
    classifier.rsplit(" :: ", 1)[1]
    for classifier in PYPROJECT["project"]["classifiers"]
    if re.fullmatch(r"Programming Language :: Python :: 3\.\d+", classifier)
]
EXTRAS = "[cli,redis]"


def runs_here(version: str) -> bool:
    """Whether ``python{version}`` starts (version shims may name more than run)."""
    try:
        subprocess.run([f"python{version}", "--version"], check=True, capture_output=True)
    except (OSError, subprocess.CalledProcessError):
        return False
    return True


def oldest_python() -> str:
    """The oldest of PYTHONS that runs here."""
    return next((version for version in PYTHONS if runs_here(version)), PYTHONS[-1])


# The soak tests run on one version, the newest installed: they prove the library's
# accounting, which does not change between versions, and take minutes on each.
# Coverage is measured there too (tracing slows every other version's run for the
# same figure).
SOAK_PYTHON = next((v for v in reversed(PYTHONS) if runs_here(v)), PYTHONS[-1])


def install(session: nox.Session, *groups: str, extras: str = "") -> None:
    deps = [dep for group in groups for dep in nox.project.dependency_groups(PYPROJECT, group)]
    session.install("-e", f".{extras}", *deps)


@nox.session(python=PYTHONS)
def tests(session: nox.Session) -> None:
    """Run the test suite and the doctests; on the newest Python with branch coverage
    (at least 95%), then the soak tests without coverage tracing, which would slow them
    tenfold. The Celery and taskiq recipes are tested here too, with real workers (they
    need a Redis)."""
    install(session, "tests", "celery", "taskiq")
    newest = session.python == SOAK_PYTHON
    coverage = ["--cov", "--cov-report=term-missing:skip-covered"] if newest else []
    session.run(
        "pytest",
        *coverage,
        "--doctest-modules",
        "-m",
        "not soak",
        "nxcloud_ota",
        "tests",
        *session.posargs,
    )
    if newest:
        session.run("pytest", "-m", "soak", "tests", *session.posargs)
    else:
        session.log(f"soak tests skipped: they run on Python {SOAK_PYTHON}")


@nox.session(python="3.11")
def arq(session: nox.Session) -> None:
    """The arq recipe's tests: arq pins redis<6, so it has an environment of its own."""
    install(session, "tests", "arq")
    session.run("pytest", "tests/test_redis_limiter.py", "-k", "arq", *session.posargs)


@nox.session(python="3.11")
def redis_limiter(session: nox.Session) -> None:
    """The shared limiter's tests on the oldest redis-py the extra allows (5.0.1); the
    tests sessions run them on the newest."""
    install(session, "tests")
    session.install("redis==5.0.1")
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


@nox.session(python="3.11", venv_backend="virtualenv")
def dist(session: nox.Session) -> None:
    """Build the sdist and the wheel and check them; install the wheel into a fresh
    environment and run the unpacked sdist's tests against it (without the soak tests,
    which the tests session runs, and without coverage)."""
    session.install("build", "twine", "check-wheel-contents")
    # Outside the source tree, so that nothing of it (its pyproject.toml, its package)
    # is found by walking up from the unpacked sdist or from the tests' temporary files.
    with tempfile.TemporaryDirectory(prefix="nxcloud-ota-dist-") as tmp:
        out, tree, env = Path(tmp, "dist"), Path(tmp, "sdist"), Path(tmp, "env")
        session.run("python", "-m", "build", "--outdir", str(out))
        (sdist,) = out.glob("*.tar.gz")
        (wheel,) = out.glob("*.whl")
        session.run("twine", "check", "--strict", str(sdist), str(wheel))
        session.run("check-wheel-contents", str(wheel))
        with tarfile.open(sdist) as archive:
            archive.extractall(tree, filter="data")
        (root,) = tree.iterdir()
        # Only the installed wheel may answer "import nxcloud_ota", not the sdist's copy.
        shutil.rmtree(root / "nxcloud_ota")
        session.run("python", "-m", "venv", str(env))
        python = str(env / "bin" / "python")
        deps = nox.project.dependency_groups(PYPROJECT, "tests")
        session.run(python, "-m", "pip", "install", "-q", f"{wheel}{EXTRAS}", *deps, external=True)
        with session.chdir(root):
            session.run(
                python,
                "-c",
                "import nxcloud_ota, sys; assert nxcloud_ota.__file__.startswith(sys.prefix)",
                external=True,
            )
            session.run(
                python,
                "-m",
                "pytest",
                "-m",
                "not soak",
                "-q",
                "tests",
                *session.posargs,
                env={"TMPDIR": tmp},
                external=True,
            )


def lower_bounds(requirements: list[str]) -> list[str]:
    """``name==version`` for every requirement's lower bound (``>=``, ``==``, ``~=``)."""
    pins: dict[str, str] = {}
    for text in requirements:
        requirement = Requirement(text)
        for spec in requirement.specifier:
            if spec.operator in {">=", "==", "~="}:
                pins[requirement.name.lower()] = spec.version
    return [f"{name}=={version}" for name, version in sorted(pins.items())]


@nox.session(python=oldest_python())
def oldest(session: nox.Session) -> None:
    """The tests (without the soak tests) on the oldest release of every dependency and
    extra that pyproject.toml allows, on the oldest supported Python installed here:
    proves the floors."""
    project = PYPROJECT["project"]
    requirements = list(project["dependencies"])
    for extra in project["optional-dependencies"].values():
        requirements += extra
    pins = lower_bounds(requirements)
    session.log("pinned: " + ", ".join(pins))
    deps = nox.project.dependency_groups(PYPROJECT, "tests")
    # Not session.create_tmp(): a TMPDIR inside the source tree would let the tests'
    # own pytest runs find this project's pytest settings by walking up.
    with tempfile.TemporaryDirectory(prefix="nxcloud-ota-oldest-") as tmp:
        constraints = Path(tmp, "oldest.txt")
        constraints.write_text("\n".join(pins) + "\n", encoding="utf-8")
        session.install("-c", str(constraints), f"-e.{EXTRAS}", *deps)
    session.run("pytest", "-m", "not soak", "-q", "tests", *session.posargs)
