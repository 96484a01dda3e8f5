"""The package keeps to httpx's and aiohttp's public API: read from its source with ``ast``."""

from __future__ import annotations

import ast
import functools
import importlib
from collections.abc import Iterator
from pathlib import Path

import nxcloud_ota

PACKAGE = Path(nxcloud_ota.__file__).parent
LIBRARIES = ("httpx", "httpcore", "aiohttp")


def is_private(name: str) -> bool:
    # Dunder names are Python's, and sunder names (``_name_``, ``_value_``) are the
    # enum module's documented API: neither is a library's private attribute.
    return name.startswith("_") and not name.endswith("_")


def package_trees() -> Iterator[tuple[str, ast.Module]]:
    for path in sorted(PACKAGE.rglob("*.py")):
        yield str(path.relative_to(PACKAGE.parent)), ast.parse(path.read_text(encoding="utf-8"))


def private_attributes(tree: ast.AST) -> Iterator[tuple[ast.AST, str]]:
    """Every ``x._name`` and ``getattr(x, "_name")`` (also set/has/delattr) in ``tree``."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and is_private(node.attr):
            yield node.value, node.attr
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id in ("getattr", "setattr", "hasattr", "delattr")
            and len(node.args) >= 2
            and isinstance(node.args[1], ast.Constant)
            and isinstance(node.args[1].value, str)
            and is_private(node.args[1].value)
        ):
            yield node.args[0], node.args[1].value


def on_self(value: ast.AST) -> bool:
    return isinstance(value, ast.Name) and value.id in ("self", "cls")


@functools.cache
def library_trees() -> tuple[ast.Module, ...]:
    trees = []
    for library in LIBRARIES:
        root = Path(importlib.import_module(library).__file__ or "").parent
        for path in sorted(root.rglob("*.py")):
            trees.append(ast.parse(path.read_text(encoding="utf-8")))
    return tuple(trees)


@functools.cache
def library_private_names() -> frozenset[str]:
    """The private attribute names used anywhere in httpx, httpcore and aiohttp."""
    return frozenset(name for tree in library_trees() for _, name in private_attributes(tree))


@functools.cache
def library_class_private_names(class_name: str) -> frozenset[str]:
    """The private names used in the libraries' classes called ``class_name``.

    Found by name in the source: httpx re-labels its classes' ``__module__``.
    """
    classes = [
        node
        for tree in library_trees()
        for node in ast.walk(tree)
        if isinstance(node, ast.ClassDef) and node.name == class_name
    ]
    assert classes, f"no source found for {class_name}"
    return frozenset(name for node in classes for _, name in private_attributes(node))


@functools.cache
def own_private_names() -> frozenset[str]:
    """The private names the package itself gives its objects (on self, in class bodies)."""
    names: set[str] = set()
    for _, tree in package_trees():
        names.update(name for value, name in private_attributes(tree) if on_self(value))
        for node in ast.walk(tree):
            if isinstance(node, ast.ClassDef):
                for item in node.body:
                    if isinstance(item, ast.AnnAssign) and isinstance(item.target, ast.Name):
                        names.add(item.target.id)
                    elif isinstance(item, ast.FunctionDef | ast.AsyncFunctionDef):
                        names.add(item.name)
    return frozenset(name for name in names if is_private(name))


def test_no_private_module_or_name_of_httpx_or_aiohttp_is_imported() -> None:
    """No import reaches into a private module or name of httpx, httpcore or aiohttp."""
    found = []
    for where, tree in package_trees():
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                dotted = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                dotted = [f"{node.module}.{alias.name}" for alias in node.names]
            else:
                continue
            for name in dotted:
                first, *rest = name.split(".")
                if first in LIBRARIES and any(is_private(part) for part in rest):
                    found.append(f"{where}:{node.lineno} {name}")
    assert found == []


def test_private_attributes_are_only_the_packages_own() -> None:
    """A ``._name`` on anything but self is one the package defines, and none of the libraries'."""
    own, theirs = own_private_names(), library_private_names()
    found = [
        f"{where}:{getattr(value, 'lineno', '?')} {name}"
        for where, tree in package_trees()
        for value, name in private_attributes(tree)
        if not on_self(value) and (name not in own or name in theirs)
    ]
    assert found == []


def test_subclasses_of_library_classes_touch_none_of_their_private_attributes() -> None:
    """A class built on an httpx or aiohttp class uses no private name its library classes use."""
    checked = 0
    for where, tree in package_trees():
        if where.endswith("__main__.py"):
            continue  # importing it would run it
        module = importlib.import_module(
            where.removesuffix(".py").removesuffix("/__init__").replace("/", ".")
        )
        for node in ast.walk(tree):
            if not isinstance(node, ast.ClassDef) or not hasattr(module, node.name):
                continue
            library_classes = [
                cls
                for cls in getattr(module, node.name).__mro__[1:]
                if cls.__module__.split(".")[0] in LIBRARIES
            ]
            if not library_classes:
                continue
            checked += 1
            theirs = {
                name
                for cls in library_classes
                for name in library_class_private_names(cls.__name__)
            }
            ours = {name for value, name in private_attributes(node) if on_self(value)}
            assert ours & theirs == set(), f"{where} {node.name}"
    # SigningAuth, AiohttpTransport, CookielessAsyncClient, InertCookies at least.
    assert checked >= 4
