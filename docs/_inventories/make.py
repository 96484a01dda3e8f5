"""Write the intersphinx inventories that the docs build reads, so it needs no network.

The build links names such as ``httpx.AsyncClient``, ``asyncio.sleep`` or
``attrs.define`` to their projects' documentation. Sphinx would download each
project's ``objects.inv`` at every build; these copies make the build work
offline and the same everywhere. The links still point at the online docs.

- python, aiohttp, attrs: the projects' own inventories, as Debian ships them in
  ``python3.11-doc``, ``python-aiohttp-doc`` and ``python-attr-doc`` (found under
  ``/usr/share/doc`` once installed, or ``apt-get download`` and ``dpkg-deb -x``).
  Python's is cut to the Python objects of the modules the docs can meet.
- httpx: its documentation is not built with Sphinx and has no inventory, so the
  few entries below name the pages that document each class.

    python docs/_inventories/make.py PYTHON_HTML AIOHTTP_HTML ATTRS_HTML

Each argument is a directory holding that project's ``objects.inv``.
"""

from __future__ import annotations

import argparse
import re
import zlib
from pathlib import Path

HERE = Path(__file__).parent
ENTRY = re.compile(r"(?P<name>.+?)\s+(?P<type>\S+:\S+)\s+(?P<prio>-?\d+)\s+(?P<rest>.*)")
PYTHON_MODULES = (
    "asyncio", "collections", "contextlib", "datetime", "enum", "hashlib", "hmac",
    "ipaddress", "json", "logging", "os", "pathlib", "random", "ssl", "threading",
    "time", "types", "typing", "concurrent",
)  # fmt: skip

HTTPX_PAGES = {  # name: page of https://www.python-httpx.org/
    "httpx.AsyncClient": "api/#asyncclient",
    "httpx.Client": "api/#client",
    "httpx.Request": "api/#request",
    "httpx.Response": "api/#response",
    "httpx.URL": "api/#url",
    "httpx.Headers": "api/#headers",
    "httpx.Timeout": "advanced/timeouts/",
    "httpx.Limits": "advanced/resource-limits/",
    "httpx.Auth": "advanced/authentication/",
    "httpx.AsyncBaseTransport": "advanced/transports/",
    "httpx.AsyncHTTPTransport": "advanced/transports/",
    "httpx.ASGITransport": "advanced/transports/",
    "httpx.MockTransport": "advanced/transports/",
    "httpx.HTTPError": "exceptions/",
    "httpx.RequestError": "exceptions/",
    "httpx.TransportError": "exceptions/",
    "httpx.TimeoutException": "exceptions/",
    "httpx.ConnectError": "exceptions/",
    "httpx.ConnectTimeout": "exceptions/",
    "httpx.ReadTimeout": "exceptions/",
    "httpx.PoolTimeout": "exceptions/",
}


def read(directory: Path) -> tuple[str, str, list[str]]:
    """The project name, its version and the entry lines of ``directory/objects.inv``."""
    _, project, version, _, body = (directory / "objects.inv").read_bytes().split(b"\n", 4)
    return (
        project.decode().removeprefix("# Project: "),
        version.decode().removeprefix("# Version: "),
        zlib.decompress(body).decode().splitlines(),
    )


def write(path: Path, project: str, version: str, lines: list[str]) -> None:
    header = (
        "# Sphinx inventory version 2\n"
        f"# Project: {project}\n# Version: {version}\n"
        "# The remainder of this file is compressed using zlib.\n"
    )
    body = zlib.compress(("\n".join(sorted(lines)) + "\n").encode(), 9)
    path.write_bytes(header.encode() + body)
    print(f"{path}: {len(lines)} entries")


def python_only(lines: list[str], modules: tuple[str, ...] | None) -> list[str]:
    """The ``py:`` entries; of ``modules`` and the builtins only, when given."""
    kept = []
    for line in lines:
        match = ENTRY.fullmatch(line)
        if match is None or not match["type"].startswith("py:"):
            continue
        name = match["name"]
        if modules is None or "." not in name or name.split(".")[0] in modules:
            kept.append(line)
    return kept


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("python", type=Path)
    parser.add_argument("aiohttp", type=Path)
    parser.add_argument("attrs", type=Path)
    args = parser.parse_args()
    for name, modules in (("python", PYTHON_MODULES), ("aiohttp", None), ("attrs", None)):
        project, version, lines = read(getattr(args, name))
        write(HERE / f"{name}.inv", project, version, python_only(lines, modules))
    httpx = [
        f"{name} py:{'exception' if page == 'exceptions/' else 'class'} 1 {page} -"
        for name, page in HTTPX_PAGES.items()
    ]
    write(HERE / "httpx.inv", "HTTPX", "0.28", httpx)


if __name__ == "__main__":
    main()
