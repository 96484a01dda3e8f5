"""Sphinx configuration: MyST Markdown pages, Furo theme, autodoc, doctests, links to
the Python, httpx, aiohttp and attrs docs from inventories kept in ``_inventories``."""

from __future__ import annotations

import asyncio
import inspect
import itertools
import random
import time

import attrs
from docutils import nodes
from sphinx.application import Sphinx
from sphinx.ext.napoleon.docstring import GoogleDocstring

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
    "sphinx.ext.intersphinx",
    "sphinx_copybutton",
]
source_suffix = {".md": "markdown"}
myst_enable_extensions = ["colon_fence", "deflist"]
myst_heading_anchors = 3
exclude_patterns = ["_build", "_inventories"]

html_theme = "furo"
html_title = f"nxcloud-ota {release}"
# Copy commands without their prompts, and doctest examples without the output.
copybutton_prompt_text = r">>> |\.\.\. |\$ "
copybutton_prompt_is_regexp = True

# The inventories are local copies (``_inventories/make.py`` says where each comes
# from): the build needs no network and links the same everywhere.
intersphinx_mapping = {
    "python": ("https://docs.python.org/3", "_inventories/python.inv"),
    "httpx": ("https://www.python-httpx.org", "_inventories/httpx.inv"),
    "aiohttp": ("https://docs.aiohttp.org/en/stable", "_inventories/aiohttp.inv"),
    "attrs": ("https://www.attrs.org/en/stable", "_inventories/attrs.inv"),
}

autodoc_member_order = "bysource"
autodoc_typehints = "description"
autodoc_typehints_description_target = "documented_params"  # no "Return type: None"
# Defaults as written in the source (``clock=time.time``), not their repr.
autodoc_preserve_defaults = True
autodoc_default_options = {"members": True, "show-inheritance": True}
# The public names live in private modules; document them where users import them.
add_module_names = False

doctest_global_setup = "import nxcloud_ota"
# Docstring examples run under pytest --doctest-modules, in their own module's
# namespace; here only the pages' explicit doctest blocks run.
doctest_test_doctest_blocks = ""


# attrs writes its classes' __init__ with defaults such as ``attr_dict['x'].default``,
# which autodoc_preserve_defaults would print as they are. Their signatures are
# rebuilt from the fields instead, with defaults as a reader would write them.
_NAMED_DEFAULTS = {
    id(time.time): "time.time",
    id(time.monotonic): "time.monotonic",
    id(asyncio.sleep): "asyncio.sleep",
    id(random.random): "random.random",
    id(nxcloud_ota.DEFAULT_TIMEOUT): "DEFAULT_TIMEOUT",
}


def _default_text(field: attrs.Attribute) -> str:  # type: ignore[type-arg]
    default = field.default
    if isinstance(default, attrs.Factory):  # type: ignore[arg-type]
        factory = default.factory  # type: ignore[attr-defined]
        return f"{factory.__name__}()" if isinstance(factory, type) else "..."
    if id(default) in _NAMED_DEFAULTS:
        return _NAMED_DEFAULTS[id(default)]
    if default == nxcloud_ota.DEFAULT_BASE_URL:
        return "DEFAULT_BASE_URL"
    return repr(default)


def _signature(  # noqa: PLR0917 - the signature Sphinx calls
    app: Sphinx,
    what: str,
    name: str,
    obj: object,
    options: object,
    signature: str | None,
    return_annotation: str | None,
) -> tuple[str, str | None] | None:
    # A protocol is implemented, not instantiated: its "(*args, **kwargs)" says nothing.
    if what == "class" and getattr(obj, "_is_protocol", False):
        return "", return_annotation
    if what not in {"class", "exception"} or not attrs.has(obj):  # type: ignore[arg-type]
        # Defaults are printed as written; modules imported under a private alias
        # ("import random as _random") read as their own name.
        if signature and "_random." in signature:
            return signature.replace("_random.", "random."), return_annotation
        return None
    parts: list[str] = []
    star = False
    for field in attrs.fields(obj):  # type: ignore[arg-type]
        if not field.init:
            continue
        if field.kw_only and not star:
            parts.append("*")
            star = True
        text = field.alias or field.name
        if field.default is not attrs.NOTHING:
            text += f"={_default_text(field)}"
        parts.append(text)
    return f"({', '.join(parts)})", return_annotation


def _inherited_args(  # noqa: PLR0917 - the signature Sphinx calls
    app: Sphinx, what: str, name: str, obj: object, options: object, lines: list[str]
) -> None:
    # An exception that takes its base's arguments gets the base's "Args:" too, so
    # that every signature in the reference has its parameters described.
    if what != "exception" or not isinstance(obj, type) or "__init__" in vars(obj):
        return
    owner = next(cls for cls in obj.__mro__ if "__init__" in vars(cls))
    if not owner.__module__.startswith("nxcloud_ota") or not owner.__doc__:
        return
    parsed = GoogleDocstring(inspect.cleandoc(owner.__doc__), app.config, app, "exception")
    found = parsed.lines()
    first = next((i for i, line in enumerate(found) if line.startswith(":param")), None)
    if first is not None:
        lines.extend(["", *itertools.takewhile(bool, found[first:])])


def _drop_object_base(
    app: Sphinx, name: str, obj: object, options: object, bases: list[type]
) -> None:
    # "Bases: object" says nothing; real bases (the exceptions' tree) stay.
    if bases == [object]:
        bases.clear()


def _drop_empty_bases(app: Sphinx, doctree: nodes.document) -> None:
    # autodoc still writes "Bases:" for the list emptied above: remove the line.
    for paragraph in list(doctree.findall(nodes.paragraph)):
        if paragraph.astext().strip() == "Bases:":
            paragraph.parent.remove(paragraph)


def setup(app: Sphinx) -> None:
    app.connect("autodoc-process-signature", _signature)
    app.connect("autodoc-process-bases", _drop_object_base)
    app.connect("doctree-read", _drop_empty_bases)
    app.connect("autodoc-process-docstring", _inherited_args)
