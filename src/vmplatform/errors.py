"""Errors raised by vmplatform.

Every error a person can see derives from :class:`VmplatformError` and says
what failed, why, and what to do (``hint``)::

    VmplatformError               errors.py
     ├── FileFormatError          errors.py: text is not what its reader expects (source, place, line, problem)
     │    ├── DataFileError       errors.py: a catalog, platform or machine-type file is bad
     │    ├── HostReportError     errors.py: a host report cannot be read
     │    ├── ManifestError       resolution/manifest.py: a dependency manifest cannot be read
     │    └── DomainXmlError      libvirt/_xml.py: a file is not a usable libvirt domain XML
     ├── UnknownNameError         errors.py: no such platform, feature or machine type
     │    └── UnknownReleaseError model/platforms.py: an upstream release not known here
     ├── ProbeError               errors.py: the host probe could not run at all
     ├── HostLacksFeatures        errors.py: the VM needs host features this host does not have
     ├── BaselineError            resolution/baseline.py: no platform is supported by every host
     ├── QemuError                errors.py: launching or talking to QEMU failed
     │    ├── QmpLibraryMissing   qemu/qmp_boundary.py: qemu.qmp (the ``qmp`` extra) is not installed
     │    ├── QmpConnectError     qemu/qmp_boundary.py: QEMU's QMP socket unreachable or not QMP
     │    ├── QmpLostError        qemu/qmp_boundary.py: the QMP connection went away during a command
     │    ├── QmpReplyError       qemu/qmp_boundary.py: QEMU answered with an error (its class and desc)
     │    └── EndpointError       qmp/errors.py: the QMP endpoint cannot run
     │         ├── StateError     qmp/errors.py: asked in the wrong run state
     │         ├── UpstreamError  qmp/errors.py: QEMU's QMP socket unreachable or not QMP
     │         ├── ListenError    qmp/errors.py: the endpoint's own socket cannot be created
     │         └── ExecuteError   qmp/errors.py: QEMU refused the endpoint's own command
     ├── LocalCommandError        qmp/local.py: a locally answered command failed
     ├── UsageError               errors.py: the command line is wrong
     ├── FleetDependencyError     fleet/_deps.py: the ``fleet`` extra is not installed
     ├── StoreError               fleet/store.py: the store cannot open or refuses a request
     │    └── StoreUnavailable    fleet/store.py: a write was not taken; a retry may succeed
     ├── FleetError               fleet/questions.py: no answer (empty group, unknown host)
     ├── ReportPostError          fleet/client.py: the fleet endpoint refused a posted report
     ├── LabelError               fleet/export_labels.py: a label would break Kubernetes' rules
     ├── TraitError               fleet/export_traits.py: a placement trait cannot be made or is unknown
     ├── PlacementError           fleet/export_placement.py: placement refused or is unreachable
     └── InternalError            errors.py: a bug in vmplatform met at the CLI boundary (never bad input)

Foreign exceptions are wrapped once, at the boundary that understands them,
with ``raise ... from err``: qemu.qmp's in qemu/qmp_boundary.py, a parser's in
the reader of its format (model/fields.py reads every parsed document's
fields). Nothing catches ``Exception`` but the CLI, whose last resort turns
a bug into :class:`InternalError` (tests/architecture holds both rules).
"""

from __future__ import annotations

from vmplatform.records import record


class VmplatformError(Exception):
    """Root of all vmplatform errors.

    ``message`` says what failed and why; ``hint`` says what to do.
    ``error_class`` is the QMP error class used when the error is sent as a
    QMP reply.
    """

    error_class = "GenericError"

    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        if self.hint:
            return f"{self.message}\n  hint: {self.hint}"
        return self.message


class FileFormatError(VmplatformError):
    """Text that was to be read (a file, a stream, an environment variable) is not what its reader expects.

    ``source`` names where the text came from, ``place`` the spot in it ("" for the whole text),
    ``problem`` what is wrong there, ``line`` the line when it is known apart from the problem.
    The message is ``source[:line][: place]: problem``.
    """

    def __init__(self, source: str, place: str, problem: str, line: int | None = None,
                 hint: str = "") -> None:
        where = source if line is None else f"{source}:{line}"
        if place:
            where = f"{where}: {place}"
        super().__init__(f"{where}: {problem}", hint)
        self.source = source
        self.place = place
        self.problem = problem
        self.line = line

    @property
    def path(self) -> str:
        return self.source


class DataFileError(FileFormatError):
    """A data file is malformed; names the file, the place in it and the problem."""

    def __init__(self, path: str, place: str, problem: str, line: int | None = None,
                 hint: str = "") -> None:
        super().__init__(path, place, problem, line, hint or "fix the file, or remove it from the search path")


class UnknownNameError(VmplatformError):
    """A platform, feature or machine type name that is not defined."""

    def __init__(self, kind: str, name: str, known: list[str], hint: str = "") -> None:
        import difflib

        close = difflib.get_close_matches(name, known, n=3)
        msg = f"unknown {kind} '{name}'"
        if close:
            msg += f" (did you mean {', '.join(repr(c) for c in close)}?)"
        super().__init__(msg, hint or f"list the known names with 'vmplatform {kind}s list'")
        self.kind = kind
        self.name = name


class HostReportError(FileFormatError):
    """A host report file is not a valid vmplatform host report."""


class ProbeError(VmplatformError):
    """The probe could not run at all (not: a feature is missing)."""


@record
class MissingFeature:
    """One host feature a VM needs and the host cannot provide."""

    feature: str
    needed_by: str          # e.g. "virtio-net-pci net0: host_uso=on (set by platform linux-6.2)"
    status: str             # "unsupported" or "unknown"
    reason: str             # the probe's evidence
    provided_by: str        # e.g. "Linux >= 6.2 / platform linux-6.2"


class HostLacksFeatures(VmplatformError):
    """The resolved VM needs host features that this host does not provide."""

    error_class = "HostLacksFeatures"

    def __init__(self, host: str, missing: list[MissingFeature], hint: str = "") -> None:
        lines = [f"host {host} cannot run this VM:"]
        for m in missing:
            what = "lacks" if m.status == "unsupported" else "cannot confirm"
            lines.append(f"  - {what} {m.feature} ({m.provided_by}), required by {m.needed_by}")
            lines.append(f"    probe: {m.reason}")
        super().__init__(
            "\n".join(lines),
            hint or "choose a platform this host supports ('vmplatform query-platforms'), "
            "or run the VM on a host that has the feature")
        self.host = host
        self.missing = missing


class QemuError(VmplatformError):
    """QEMU could not be launched or did not answer as expected."""


class UsageError(VmplatformError):
    """The command line is wrong."""


class InternalError(VmplatformError):
    """An exception nothing else caught: a bug in vmplatform, reported without a traceback."""

    error_class = "GenericError"

    def __init__(self, err: BaseException) -> None:
        super().__init__(
            f"internal error: {type(err).__name__}: {err}",
            "this is a bug in vmplatform, not in your input: report it with the command line; "
            "VMPLATFORM_DEBUG=1 shows the traceback")
        self.original = err
