"""Sphinx configuration: MyST Markdown pages, Furo theme, autodoc, doctests."""

from __future__ import annotations

import nxcloud_ota

project = "nxcloud-ota"
author = "The nxcloud-ota authors"
copyright = "2026, the nxcloud-ota authors"
release = nxcloud_ota.__version__
version = release

extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
    "sphinx.ext.doctest",
    "sphinx.ext.napoleon",
    "sphinx.ext.viewcode",
]
source_suffix = {".md": "markdown"}
myst_enable_extensions = ["colon_fence", "deflist"]
myst_heading_anchors = 3
exclude_patterns = ["_build"]

html_theme = "furo"
html_title = f"nxcloud-ota {release}"

autodoc_member_order = "bysource"
autodoc_typehints = "description"
autodoc_default_options = {"members": True, "show-inheritance": True}
# The public names live in private modules; document them where users import them.
add_module_names = False

doctest_global_setup = "import nxcloud_ota"
# Docstring examples run under pytest --doctest-modules, in their own module's
# namespace; here only the pages' explicit doctest blocks run.
doctest_test_doctest_blocks = ""
