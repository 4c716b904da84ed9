"""What the suite exercised of the catalog, and the gate that fails on what it never did.

A recorder wraps the resolution layer's entry points for the length of a test
run (tests/conftest.py installs it):

* ``resolve()``: the platform a VM was resolved against, every feature the
  resolution relies on, and every governed property it resolved on a device;
* ``check_host()`` and ``judge()``: every feature a VM was checked or judged on;
* ``missing_features()``: every feature a platform guarantees that a host was found to lack;
* ``evaluate()``: the default platform it chose for a host;
* ``PlatformSet.get()``: a platform asked for by name (``-platform``, ``--platform``,
  ``platforms show``), as a test asking for it by name exercises it.

On a whole-suite run (``scripts/test`` sets ``VMPLATFORM_EXERCISE_GATE=1``), a
catalog feature, packaged platform or governed property that nothing above
touched fails the run, listing the names and the kind of test to add.
Only work done in the test process counts: a CLI run as a subprocess is not seen.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from vmplatform.model.features import Catalog
from vmplatform.model.platforms import PlatformSet

GATE_ENV = "VMPLATFORM_EXERCISE_GATE"


@dataclass
class Record:
    features: set[str] = field(default_factory=set)
    platforms: set[str] = field(default_factory=set)
    properties: set[str] = field(default_factory=set)   # "FEATURE: PROPERTY"

    def resolution(self, res: Any) -> None:
        if res.platform is not None:
            self.platforms.add(res.platform.name)
        self.features.update(res.needed_features())
        self.properties.update(f"{p.feature}: {p.prop}" for p in res.properties)


RECORD = Record()
F = TypeVar("F", bound=Callable[..., Any])


def _wrap(owner: Any, name: str, after: Callable[[tuple[Any, ...], Any], None]) -> None:
    original = getattr(owner, name)
    if getattr(original, "__exercised__", False):
        return

    @functools.wraps(original)
    def recorded(*args: Any, **kwargs: Any) -> Any:
        result = original(*args, **kwargs)
        try:
            after(args, result)
        except Exception:  # noqa: BLE001 - recording never changes what the code under test does
            pass
        return result

    recorded.__exercised__ = True  # type: ignore[attr-defined]
    setattr(owner, name, recorded)
    # modules that imported the name before (``from ... import judge``) get the wrapped one too
    for module in list(sys.modules.values()):
        if getattr(module, "__name__", "").startswith("vmplatform.") and getattr(module, name, None) is original:
            setattr(module, name, recorded)


def install() -> None:
    """Wrap the entry points in place; modules importing them afterwards get the wrapped ones."""
    from vmplatform.model import platforms
    from vmplatform.resolution import resolve, support, verdict

    _wrap(resolve, "resolve", lambda a, res: RECORD.resolution(res))
    _wrap(resolve, "check_host", lambda a, missing: RECORD.features.update(m.feature for m in missing))
    _wrap(verdict, "judge", lambda a, v: RECORD.features.update(a[0]))
    _wrap(support, "missing_features", lambda a, lacks: RECORD.features.update(u.feature for u in lacks))
    _wrap(support, "evaluate", lambda a, rep: RECORD.platforms.add(rep.default.name) if rep.has_default else None)
    _wrap(platforms.PlatformSet, "get", lambda a, p: RECORD.platforms.add(p.name))


@dataclass(frozen=True)
class Gaps:
    features: tuple[str, ...]
    platforms: tuple[str, ...]
    properties: tuple[str, ...]

    def __bool__(self) -> bool:
        return bool(self.features or self.platforms or self.properties)


def governed(catalog: Catalog) -> set[str]:
    """Every governed property ("FEATURE: PROPERTY")."""
    return {f"{f.id}: {gp.prop}" for f in catalog for gp in f.governs}


def gaps(catalog: Catalog, platforms: PlatformSet, record: Record) -> Gaps:
    return Gaps(
        features=tuple(sorted({f.id for f in catalog} - record.features)),
        platforms=tuple(sorted(set(platforms.names()) - record.platforms)),
        properties=tuple(sorted(governed(catalog) - record.properties)),
    )


def message(found: Gaps) -> str:
    lines = ["the suite never exercised part of the catalog (tests/harness/exercised.py):"]
    if found.features:
        lines.append(f"  features no VM relied on: {', '.join(found.features)}")
        lines.append("    add a test that resolves or checks a VM relying on each (a golden 'qemu --dry-run' or "
                     "'check' case, or a tests/resolution test calling resolve()/judge())")
    if found.platforms:
        lines.append(f"  platforms never resolved, chosen as a default or asked for: {', '.join(found.platforms)}")
        lines.append("    add a test that resolves a VM against each, or a host report whose default it is "
                     "(tests/resolution, tests/kernels)")
    if found.properties:
        lines.append(f"  governed properties never resolved: {', '.join(found.properties)}")
        lines.append("    add a test that resolves a VM with a device carrying each property, on a machine "
                     "catalog that has it (tests/resolution/test_resolve.py, or a golden 'qemu --dry-run' case)")
    return "\n".join(lines)
