"""Type checkers reject a wrong constructor argument at the call (run by ``nox -s typing``)."""

from __future__ import annotations

import pytest

mypy_api = pytest.importorskip("mypy.api", reason="mypy is installed by the typing session")

SNIPPET = """
from nxcloud_ota import AsyncOtaClient
AsyncOtaClient(access_key=1, access_secret="sk", app_key="app", algorithm="md6")
"""


def test_mypy_rejects_wrong_constructor_types() -> None:
    """An int access_key and an unknown algorithm fail to type-check, each error naming its
    parameter and the type it accepts."""
    out, _, status = mypy_api.run(["--strict", "--no-incremental", "-c", SNIPPET])
    assert status == 1, out
    assert (
        'Argument "access_key" to "AsyncOtaClient" has incompatible type "int"; expected "str"'
    ) in out
    assert (
        'Argument "algorithm" to "AsyncOtaClient" has incompatible type "Literal[\'md6\']"; '
        "expected \"Literal['md5', 'sha256']\""
    ) in out
