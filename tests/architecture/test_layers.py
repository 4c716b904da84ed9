"""The package's layers, as its tree shows them, import only downwards.

    cli                             the command line
    qemu, qmp, libvirt, fleet       adapters: the outside world's roads in
    resolution                      resolve, support, verdicts, merges, manifests
    probe                           what this host has
    model                           features, platforms, reports, machine types, the VM
    errors                          shared by all

A module may import its own layer and any layer below it, never one above.
Imports inside functions count too: lazy imports are still dependencies.
"""

from __future__ import annotations

import ast
from pathlib import Path

import vmplatform

PACKAGE = Path(vmplatform.__file__).parent
LAYERS: dict[str, int] = {
    "errors": 0, "records": 0, "model": 1, "probe": 2, "resolution": 3,
    "qemu": 4, "qmp": 4, "libvirt": 4, "fleet": 4,
    "cli": 5, "__main__": 5,
}


def _layer_of(module: str) -> int | None:
    """The layer of ``vmplatform.X...``; None for the package root (it re-exports lazily)."""
    parts = module.split(".")
    if parts[0] != "vmplatform" or len(parts) < 2:
        return None
    return LAYERS.get(parts[1])   # None: a name the root defines (__version__)


def _modules() -> list[tuple[str, Path]]:
    out = []
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE.parent).with_suffix("")
        parts = list(rel.parts)
        if parts[-1] == "__init__":
            parts.pop()
        out.append((".".join(parts), path))
    return out


def _imports(path: Path) -> list[tuple[int, str]]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.lineno, node.module))
            found.extend((node.lineno, f"{node.module}.{a.name}") for a in node.names
                         if node.module == "vmplatform")
        elif isinstance(node, ast.Import):
            found.extend((node.lineno, a.name) for a in node.names)
    return [(line, name) for line, name in found if name.startswith("vmplatform.")]


def test_every_top_level_name_has_a_layer() -> None:
    names = {p.name.removesuffix(".py") for p in PACKAGE.iterdir()
             if (p.suffix == ".py" or (p / "__init__.py").exists()) and p.name != "__init__.py"}
    assert names - {"data"} == set(LAYERS), "each package or module under vmplatform/ belongs to one layer"


def test_no_module_imports_a_layer_above_its_own() -> None:
    upward = []
    for module, path in _modules():
        own = _layer_of(module)
        if own is None:
            continue
        for line, target in _imports(path):
            theirs = _layer_of(target)
            if theirs is not None and theirs > own:
                upward.append(f"{path.relative_to(PACKAGE.parent)}:{line} imports {target}")
    assert not upward, "imports against the layering:\n" + "\n".join(upward)


def test_relative_imports_are_not_used() -> None:
    """Absolute imports name the layer at every use, so a wrong-way import is visible in review."""
    relative = [f"{path.relative_to(PACKAGE.parent)}:{node.lineno}"
                for _, path in _modules()
                for node in ast.walk(ast.parse(path.read_text()))
                if isinstance(node, ast.ImportFrom) and node.level > 0]
    assert not relative, relative


def test_the_package_holds_no_test_code() -> None:
    """Code that only tests and benchmarks use lives under tests/, not in what users install."""
    users = {m for m, p in _modules() if "pytest" in p.read_text() or "hypothesis" in p.read_text()}
    assert not users, users
