"""Host reports: what the probe found on one host, and their JSON form.

The JSON form is versioned (``schema``) and uses kebab-case keys. Reading a
report validates it completely; a truncated or foreign file is a
:class:`HostReportError` that says what is wrong and how to get a good one.
"""

from __future__ import annotations

import enum
import json
from collections.abc import Iterator, Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING

from vmplatform.errors import HostReportError
from vmplatform.model import _jsontext
from vmplatform.model.fields import Document, Fields, kind_of
from vmplatform.records import field, record

SCHEMA = "vmplatform/host-report/1"
_REGEN = "produce a fresh one on that host with 'vmplatform probe --json > REPORT.json'"

if TYPE_CHECKING:
    from vmplatform.model.jsonvalue import JsonObject


class FeatureStatus(enum.Enum):
    SUPPORTED = "supported"
    UNSUPPORTED = "unsupported"
    UNKNOWN = "unknown"


@record
class Evidence:
    """Why the probe concluded what it did: the call made and what came back."""

    check: str                   # e.g. "ioctl(TUNSETOFFLOAD, TUN_F_CSUM|TUN_F_USO4|TUN_F_USO6)"
    outcome: str                 # e.g. "ok", "EINVAL", "ENOENT", "value 4096"
    detail: str = ""             # free text for a person
    errno: int | None = None
    duration_us: float = 0.0


@record
class FeatureResult:
    feature: str
    status: FeatureStatus
    evidence: Evidence


@record
class HostIdentity:
    hostname: str
    kernel_release: str
    kernel_version: str
    arch: str
    os_release: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))

    @property
    def os_name(self) -> str:
        return self.os_release.get("PRETTY_NAME", "unknown OS")


@record
class HostReport:
    """The result of probing one host."""

    host: HostIdentity
    results: tuple[FeatureResult, ...]
    probed_at: str = ""                 # ISO 8601 UTC
    probe_mode: str = ""                # "root", "user-namespace", "unprivileged", "fake"
    duration_us: float = 0.0
    generator: str = ""                 # "vmplatform 0.1.0"

    def __iter__(self) -> Iterator[FeatureResult]:
        return iter(self.results)

    def result(self, feature: str) -> FeatureResult | None:
        for r in self.results:
            if r.feature == feature:
                return r
        return None

    def status(self, feature: str) -> FeatureStatus:
        r = self.result(feature)
        return FeatureStatus.UNKNOWN if r is None else r.status

    def reason(self, feature: str) -> str:
        r = self.result(feature)
        if r is None:
            return "not probed (the report predates this feature)"
        ev = r.evidence
        text = f"{ev.check}: {ev.outcome}"
        return f"{text} ({ev.detail})" if ev.detail else text

    def supported(self) -> frozenset[str]:
        return frozenset(r.feature for r in self.results if r.status is FeatureStatus.SUPPORTED)

    @property
    def name(self) -> str:
        return self.host.hostname

    def to_json(self) -> JsonObject:
        """The report as a JSON-ready object (schema vmplatform/host-report/1)."""
        return {
            "schema": SCHEMA,
            "generator": self.generator,
            "probed-at": self.probed_at,
            "probe-mode": self.probe_mode,
            "duration-us": round(self.duration_us, 1),
            "host": {
                "hostname": self.host.hostname,
                "kernel-release": self.host.kernel_release,
                "kernel-version": self.host.kernel_version,
                "arch": self.host.arch,
                "os-release": dict(self.host.os_release),
            },
            "features": [
                {
                    "id": r.feature,
                    "status": r.status.value,
                    "evidence": {
                        "check": r.evidence.check,
                        "outcome": r.evidence.outcome,
                        **({"detail": r.evidence.detail} if r.evidence.detail else {}),
                        **({"errno": r.evidence.errno} if r.evidence.errno is not None else {}),
                        "duration-us": round(r.evidence.duration_us, 1),
                    },
                }
                for r in self.results
            ],
        }


# -- JSON ---------------------------------------------------------------------

def dumps(report: HostReport) -> str:
    return json.dumps(report.to_json(), indent=2) + "\n"


def loads(text: str, source: str = "<report>") -> HostReport:
    """Parse and validate a host report; errors name the source and the place."""
    if not text.strip():
        raise HostReportError(source, "", "empty file, not a host report", hint=_REGEN)
    try:
        obj = _jsontext.loads(text)
    except json.JSONDecodeError as err:
        hint = _REGEN
        if _unclosed(text):
            problem = f"truncated JSON (ends at line {err.lineno}, column {err.colno}: {err.msg})"
        else:
            problem = f"invalid JSON at line {err.lineno}, column {err.colno}: {err.msg}"
        raise HostReportError(source, "", problem, hint=hint) from err
    return from_json_obj(obj, source)


def _unclosed(text: str) -> bool:
    """True when the text ends inside a string or with brackets still open: cut short."""
    depth, in_str, esc = 0, False, False
    for ch in text:
        if in_str:
            if esc:
                esc = False
            elif ch == "\\":
                esc = True
            elif ch == '"':
                in_str = False
        elif ch == '"':
            in_str = True
        elif ch in "[{":
            depth += 1
        elif ch in "]}":
            depth -= 1
    return in_str or depth > 0


def from_json_obj(obj: object, source: str = "<report>") -> HostReport:
    doc = Document(source, HostReportError, hint=_REGEN)
    if not isinstance(obj, dict):
        raise doc.error("top level", f"must be an object, not {kind_of(obj)}")
    top = Fields(obj, doc)
    schema = top.get("schema")
    if schema != SCHEMA:
        raise doc.error("", f"not a vmplatform host report (schema {schema!r}, expected {SCHEMA!r})")
    host = top.table("host", required=True)
    osr = host.table("os-release")
    identity = HostIdentity(
        hostname=host.text("hostname"), kernel_release=host.text("kernel-release"),
        kernel_version=host.text("kernel-version", ""), arch=host.text("arch"),
        os_release=MappingProxyType({str(k): str(v) for k, v in osr.data.items()}))
    feats = top.items("features", required=True)
    results = []
    seen: set[str] = set()
    for i, f in enumerate(feats):
        result = _quick_feature(f)
        if result is None or result.feature in seen:
            result = _checked_feature(doc, f, i, seen)   # raises with the precise problem
        seen.add(result.feature)
        results.append(result)
    dur_total = top.get("duration-us")
    return HostReport(
        host=identity, results=tuple(results), probed_at=top.text("probed-at", ""),
        probe_mode=top.text("probe-mode", ""),
        duration_us=float(dur_total) if isinstance(dur_total, (int, float)) else 0.0,
        generator=top.text("generator", ""))


_STATUSES = {s.value: s for s in FeatureStatus}


def _quick_feature(f: object) -> FeatureResult | None:
    """A well-formed feature entry, checked cheaply (fleet ingests read 10^5 reports); None sends
    anything unusual to :func:`_checked_feature`, which accepts or refuses it with its reason."""
    if type(f) is not dict:
        return None
    fid, status, ev = f.get("id"), f.get("status"), f.get("evidence")
    if type(fid) is not str or type(status) is not str or status not in _STATUSES or type(ev) is not dict:
        return None
    check, outcome, detail = ev.get("check"), ev.get("outcome"), ev.get("detail", "")
    errno, dur = ev.get("errno"), ev.get("duration-us", 0.0)
    if type(check) is not str or type(outcome) is not str or type(detail) is not str:
        return None
    if (errno is not None and type(errno) is not int) or type(dur) not in (int, float):
        return None
    return FeatureResult(fid, _STATUSES[status], Evidence(check, outcome, detail, errno, float(dur)))


def _checked_feature(doc: Document, f: object, i: int, seen: set[str]) -> FeatureResult:
    fo = doc.fields(f, f"features[{i}]")
    fid = fo.text("id")
    if fid in seen:
        raise doc.error(fo.place, f"feature '{fid}' appears twice")
    status = fo.choice("status", FeatureStatus)
    ev = fo.table("evidence", required=True)
    errno = ev.get("errno")
    if errno is not None and not isinstance(errno, int):  # true/false pass as 1/0, as they always have
        raise ev.error("errno", f"must be an integer, not {kind_of(errno)}")
    dur = ev.get("duration-us")
    if dur is not None and not isinstance(dur, (int, float)):
        raise ev.error("duration-us", f"must be a number, not {kind_of(dur)}")
    return FeatureResult(fid, status, Evidence(
        check=ev.text("check"), outcome=ev.text("outcome"), detail=ev.text("detail", ""), errno=errno,
        duration_us=0.0 if dur is None else float(dur)))
