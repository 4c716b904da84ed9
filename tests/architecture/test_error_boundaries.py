"""Where exceptions may be caught broadly, and where foreign ones become ours.

* No ``except Exception``, ``except BaseException`` or bare ``except:`` in the
  package but the CLI's last resort (a bug becomes InternalError, exit 70, no
  traceback). Everywhere else a handler names what can happen there; cleanup
  that must run whatever was raised is a ``finally``.
* Only ``vmplatform/qemu/qmp_boundary.py`` imports qemu.qmp: the rest of the
  package meets QEMU's monitor through QmpSession and vmplatform's errors.
"""

from __future__ import annotations

import ast
from pathlib import Path

import vmplatform

PACKAGE = Path(vmplatform.__file__).parent
BROAD = {"Exception", "BaseException"}
#: The one deliberate last-resort handler: file -> how many.
ALLOWED_BROAD = {"vmplatform/cli/__init__.py": 1}
QMP_BOUNDARY = "vmplatform/qemu/qmp_boundary.py"


def _sources() -> list[tuple[str, ast.Module]]:
    return [(str(p.relative_to(PACKAGE.parent)), ast.parse(p.read_text(), str(p)))
            for p in sorted(PACKAGE.rglob("*.py"))]


def _is_broad(handler: ast.ExceptHandler) -> bool:
    if handler.type is None:
        return True
    names = handler.type.elts if isinstance(handler.type, ast.Tuple) else [handler.type]
    for n in names:
        if isinstance(n, ast.Name) and n.id in BROAD:
            return True
        if isinstance(n, ast.Attribute) and n.attr in BROAD:   # builtins.Exception
            return True
    return False


def broad_handlers(tree: ast.Module) -> list[int]:
    return [n.lineno for n in ast.walk(tree) if isinstance(n, ast.ExceptHandler) and _is_broad(n)]


def test_the_checker_sees_every_spelling_of_a_broad_handler() -> None:
    code = """
try: pass
except: pass
try: pass
except Exception: pass
try: pass
except (OSError, BaseException) as err: pass
try: pass
except builtins.Exception: pass
try: pass
except (OSError, ValueError): pass
"""
    assert broad_handlers(ast.parse(code)) == [3, 5, 7, 9]


def test_no_broad_except_outside_the_cli_boundary() -> None:
    found: dict[str, list[int]] = {}
    for path, tree in _sources():
        lines = broad_handlers(tree)
        if lines:
            found[path] = lines
    stray = {p: lines for p, lines in found.items() if len(lines) != ALLOWED_BROAD.get(p, 0)}
    assert not stray, ("catch what can happen there (and say why in a comment), or use finally for cleanup; "
                       f"only the CLI's InternalError boundary catches everything: {stray}")
    assert set(found) == set(ALLOWED_BROAD), "the CLI's last-resort boundary is gone: bugs would reach the user " \
        "as tracebacks"


def _imports_qemu_qmp(tree: ast.Module) -> list[int]:
    lines = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module == "qemu" or node.module.startswith("qemu."):
                lines.append(node.lineno)
        elif isinstance(node, ast.Import):
            lines += [node.lineno for a in node.names if a.name == "qemu" or a.name.startswith("qemu.")]
    return lines


def test_only_the_qmp_boundary_imports_qemu_qmp() -> None:
    importers = {path: lines for path, tree in _sources() if (lines := _imports_qemu_qmp(tree))}
    assert set(importers) == {QMP_BOUNDARY}, f"qemu.qmp is imported outside {QMP_BOUNDARY}: {importers}"
