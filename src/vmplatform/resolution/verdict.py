"""Verdicts: can a host run (or receive) a VM with these requirements?

Shaped like QEMU's ``query-cpu-model-comparison``. With R the host features
the VM relies on and H the features the host supports among those that matter
to the VM (the features governing its properties):

* ``identical``    H == R: the host offers exactly what the VM relies on;
* ``superset``     H ⊋ R: everything, and more;
* ``subset``       H ⊊ R: the host lacks some of R and offers nothing else;
* ``incompatible`` the host lacks some of R and has others, or something
                   other than a feature is wrong (machine type, compat props).

Only ``identical`` and ``superset`` let the VM run there. ``responsible``
lists the features that decide the answer: the missing ones when it is no,
the extra ones for ``superset``.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from typing import TYPE_CHECKING

from vmplatform.model.jsonvalue import JsonObject
from vmplatform.model.report import FeatureStatus, HostReport
from vmplatform.records import field, record

if TYPE_CHECKING:
    from vmplatform.model.platforms import PlatformSet


class Result(enum.Enum):
    IDENTICAL = "identical"
    SUPERSET = "superset"
    SUBSET = "subset"
    INCOMPATIBLE = "incompatible"

    @property
    def ok(self) -> bool:
        return self in (Result.IDENTICAL, Result.SUPERSET)


@record
class Shortfall:
    feature: str
    status: FeatureStatus
    reason: str
    required_by: str
    provided_by: str


@record
class Verdict:
    result: Result
    host: str
    responsible: tuple[str, ...]
    message: str
    shortfalls: tuple[Shortfall, ...] = ()
    problems: tuple[str, ...] = ()          # non-feature reasons (machine type, compat changes)
    extra: JsonObject = field(default_factory=dict)

    def to_json(self) -> JsonObject:
        obj: JsonObject = {
            "result": self.result.value,
            "host": self.host,
            "responsible-features": [*self.responsible],
            "message": self.message,
        }
        if self.shortfalls:
            obj["missing"] = [{"feature": s.feature, "status": s.status.value, "reason": s.reason,
                               "required-by": s.required_by, "provided-by": s.provided_by}
                              for s in self.shortfalls]
        if self.problems:
            obj["problems"] = [*self.problems]
        obj.update(self.extra)
        return obj


def provided_by(feature: str, platforms: PlatformSet) -> str:
    """What would provide ``feature``: the kernel release and the first platform with it."""
    return platforms.provided_by(platforms.catalog.get(feature))


def judge(required: dict[str, str], relevant: Iterable[str], report: HostReport, platforms: PlatformSet,
          problems: Iterable[str] = (), subject: str = "this VM") -> Verdict:
    """``required``: feature -> what needs it (e.g. "virtio-net net0 host_uso=on")."""
    relevant_set = set(relevant) | set(required)
    have = {f for f in relevant_set if report.status(f) is FeatureStatus.SUPPORTED}
    need = set(required)
    shortfalls = tuple(
        Shortfall(f, report.status(f), report.reason(f), required[f], provided_by(f, platforms))
        for f in sorted(need - have))
    problems = tuple(problems)
    if not shortfalls and not problems:
        result = Result.IDENTICAL if have == need else Result.SUPERSET
    elif not problems and have < need:
        result = Result.SUBSET
    else:
        result = Result.INCOMPATIBLE
    if result.ok:
        extra = sorted(have - need)
        responsible: tuple[str, ...] = tuple(extra)
        message = f"host {report.name} can run {subject}" + (
            f" (it also has {', '.join(extra)}, which the VM does not use)" if extra else "")
    else:
        responsible = tuple(s.feature for s in shortfalls)
        lines = [f"host {report.name} lacks {s.feature} ({s.provided_by}) required by {s.required_by}"
                 for s in shortfalls]
        lines += list(problems)
        message = "; ".join(lines)
    return Verdict(result, report.name, responsible, message, shortfalls, problems)
