"""What the package index shows: README links that work there, and one documentation site."""

from __future__ import annotations

import re
import sys
from pathlib import Path

if sys.version_info >= (3, 11):
    import tomllib
else:  # pytest brings tomli where the standard library has no tomllib
    import tomli as tomllib

ROOT = Path(__file__).parent.parent
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
DOCS_URL = PROJECT["urls"]["Documentation"]
LINKS = re.findall(r"\]\(([^)]+)\)|<(https?://[^>]+)>", (ROOT / "README.md").read_text("utf-8"))


def test_readme_links_are_absolute() -> None:
    """Every README link is an absolute https URL: a relative one breaks on the package index."""
    links = [a or b for a, b in LINKS]
    assert len(links) > 10
    assert [link for link in links if not link.startswith("https://")] == []


def test_readme_documentation_links_name_existing_pages() -> None:
    """Each README link into the documentation site (project.urls) names a page in docs/."""
    pages = [
        link.removeprefix(DOCS_URL + "en/latest/").removesuffix(".html")
        for a, b in LINKS
        if (link := a or b).startswith(DOCS_URL) and link.endswith(".html")
    ]
    assert len(pages) > 10
    assert [page for page in pages if not (ROOT / "docs" / f"{page}.md").is_file()] == []


def test_project_urls_name_one_site() -> None:
    """The changelog URL is a page of the documentation site; source and issues one repository."""
    urls = PROJECT["urls"]
    assert urls["Changelog"].startswith(DOCS_URL)
    assert (ROOT / "docs" / "changelog.md").is_file()
    assert urls["Issues"] == urls["Source"] + "/issues"


def test_license_ships_with_its_text() -> None:
    """LICENSE is the MIT text the metadata names, listed as a license file."""
    assert PROJECT["license"] == "MIT"
    assert PROJECT["license-files"] == ["LICENSE"]
    text = (ROOT / "LICENSE").read_text(encoding="utf-8")
    assert text.startswith("MIT License")
    assert "The nxcloud-ota authors" in text
