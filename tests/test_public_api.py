from __future__ import annotations

import re
from pathlib import Path

import nxcloud_ota


def test_all_is_sorted_and_complete() -> None:
    """__all__ is sorted (constants, classes, then the rest), unique, and every name exists."""
    names = nxcloud_ota.__all__

    def group(name: str) -> tuple[int, str]:
        return (0 if name.isupper() else 1 if name[0].isupper() else 2, name)

    assert names == sorted(names, key=group)
    assert len(names) == len(set(names))
    for name in names:
        assert hasattr(nxcloud_ota, name), name


def test_design_names_are_exported() -> None:
    """The fixed public names that outside code calls are importable from the package."""
    for name in [
        "AsyncOtaClient",
        "OtaClient",
        "WaitTimeoutError",
        "InitResult",
        "VerifyStatus",
        "InitOutcome",
        "CallbackEvent",
        "NxCloudError",
        "ApiError",
        "InvalidInputError",
        "RetryPolicy",
    ]:
        assert name in nxcloud_ota.__all__


def test_version_matches_changelog_style() -> None:
    """__version__ is a PEP 440 version string."""
    assert re.fullmatch(r"\d+\.\d+\.\d+((a|b|rc)\d+)?(\.dev\d+)?", nxcloud_ota.__version__)


def test_package_is_typed() -> None:
    """py.typed ships, so type checkers use the package's annotations."""
    assert (Path(nxcloud_ota.__file__).parent / "py.typed").is_file()
