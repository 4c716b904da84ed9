"""Every error class of the package has its place in the tree drawn in errors.py."""

from __future__ import annotations

import importlib
import pkgutil
import re

import vmplatform
from vmplatform import errors
from vmplatform.errors import VmplatformError


def _all_modules() -> list[str]:
    names = []
    for info in pkgutil.walk_packages(vmplatform.__path__, "vmplatform."):
        # scripts, not library modules: the CLI entry and alembic's migration scripts
        if info.name.endswith(".__main__") or info.name.startswith("vmplatform.fleet.migrations"):
            continue
        importlib.import_module(info.name)
        names.append(info.name)
    return names


def _subclasses(cls: type) -> set[type]:
    found = set()
    for sub in cls.__subclasses__():
        found.add(sub)
        found |= _subclasses(sub)
    return found


def _tree() -> dict[str, str]:
    """Class name -> the module named beside it in the docstring's tree."""
    doc = errors.__doc__ or ""
    return dict(re.findall(r"[─ ]([A-Z]\w+)\s+([\w/]+\.py)", doc))


def test_the_walk_sees_the_whole_package() -> None:
    modules = _all_modules()
    assert "vmplatform.qmp.endpoint" in modules
    assert "vmplatform.fleet.store" in modules


def test_every_error_class_is_in_the_tree_with_its_module() -> None:
    _all_modules()
    tree = _tree()
    missing = []
    for cls in sorted(_subclasses(VmplatformError), key=lambda c: c.__name__):
        if not cls.__module__.startswith("vmplatform."):
            continue
        where = cls.__module__.removeprefix("vmplatform.").replace(".", "/") + ".py"
        if tree.get(cls.__name__) != where:
            missing.append(f"{cls.__name__} ({where})")
    assert not missing, f"add to the tree in errors.py: {', '.join(missing)}"


def test_the_tree_names_no_class_that_does_not_exist() -> None:
    _all_modules()
    names = {c.__name__ for c in _subclasses(VmplatformError)} | {"VmplatformError"}
    assert set(_tree()) - names == set()
