"""The Debian kernels the project checks itself against, and their checked-in reports.

Each entry is an ABI-named image package (the ``linux-image-amd64``
metapackage may resolve to another suite's update) and the suite that holds
it in Debian's archive. Versions present in the archive index on 2026-12-02;
6.19, 7.0 and 7.1 are listed although their split image (``linux-binary-V``)
has no ``linux-modules-V`` in the index, so the tool reports them as not
bootable with that reason instead of silently leaving them out.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vmplatform.model.report import HostReport, from_json_obj

from .kernel import KernelSpec

DATA_DIR = Path(__file__).resolve().parents[2] / "data" / "kernels"
REPORT_SCHEMA = "vmplatform/real-kernel-boot/1"


@dataclass(frozen=True)
class MatrixEntry:
    spec: KernelSpec
    ci: bool = False          # booted by the test suite, not only by scripts/real-kernels


MATRIX: tuple[MatrixEntry, ...] = (
    MatrixEntry(KernelSpec("5.10.0-32-amd64", "bullseye"), ci=True),
    MatrixEntry(KernelSpec("5.10.0-46-amd64", "bullseye-security")),
    MatrixEntry(KernelSpec("6.1.0-50-amd64", "bookworm"), ci=True),
    MatrixEntry(KernelSpec("6.1.0-57-amd64", "bookworm-security")),
    MatrixEntry(KernelSpec("6.12.95+deb12-amd64", "bookworm-backports")),
    MatrixEntry(KernelSpec("6.12.117+deb13-amd64", "trixie")),
    MatrixEntry(KernelSpec("6.16.12+deb13-amd64", "trixie-backports")),
    MatrixEntry(KernelSpec("6.17.13+deb13-amd64", "trixie-backports")),
    MatrixEntry(KernelSpec("6.18.15+deb13-amd64", "trixie-backports")),
    MatrixEntry(KernelSpec("6.19.14+deb13-amd64", "trixie-backports")),
    MatrixEntry(KernelSpec("7.0.13+deb13-amd64", "trixie-backports")),
    MatrixEntry(KernelSpec("7.1.13+deb13-amd64", "trixie-backports")),
    MatrixEntry(KernelSpec("7.2.12+deb13-amd64", "trixie-backports")),
    MatrixEntry(KernelSpec("7.3.4+deb13-amd64", "trixie-backports"), ci=True),
)

SUITES = ("bullseye", "bullseye-security", "bookworm", "bookworm-security", "bookworm-backports", "trixie",
          "trixie-backports")


def find_spec(text: str) -> KernelSpec:
    """``ABI``, ``linux-image-ABI`` or ``ABI@suite``; a bare ABI must be in the matrix."""
    abi, _, suite = text.partition("@")
    abi = abi.removeprefix("linux-image-")
    if suite:
        return KernelSpec(abi, suite)
    for e in MATRIX:
        if e.spec.abi == abi:
            return e.spec
    raise ValueError(f"{abi!r} is not in the kernel matrix; name its suite as {abi}@SUITE "
                     f"(one of {', '.join(SUITES)})")


@dataclass(frozen=True)
class KernelRecord:
    """One checked-in boot: what was booted, how, and what the probe answered inside."""

    directory: Path
    meta: dict[str, Any]
    report: HostReport
    unprivileged: HostReport | None
    query_platforms: list[dict[str, Any]]
    tun_only: HostReport | None = None   # probed before vhost_net, vhost_vsock and kvm_amd loaded

    @property
    def abi(self) -> str:
        return str(self.meta["abi"])

    @property
    def package_version(self) -> str:
        return str(self.meta["package-version"])

    @property
    def suite(self) -> str:
        return str(self.meta["suite"])

    @property
    def version(self) -> tuple[int, ...]:
        """The upstream version the ABI names: (6, 12, 95) for 6.12.95+deb12-amd64."""
        return tuple(int(p) for p in self.abi.split("-")[0].split("+")[0].split("."))

    @property
    def series(self) -> tuple[int, int]:
        return self.version[0], self.version[1]


def _report(path: Path) -> HostReport | None:
    if not path.exists():
        return None
    return from_json_obj(json.loads(path.read_text(encoding="utf-8")), str(path))


def load_record(directory: Path) -> KernelRecord:
    meta = json.loads((directory / "kernel.json").read_text(encoding="utf-8"))
    report = _report(directory / "host-report.json")
    if report is None:
        raise FileNotFoundError(f"{directory}: no host-report.json; rerun scripts/real-kernels {directory.name}")
    qp = json.loads((directory / "query-platforms.json").read_text(encoding="utf-8"))
    return KernelRecord(directory, meta, report, _report(directory / "host-report-unprivileged.json"), qp,
                        _report(directory / "host-report-tun-only.json"))


def load_records(data_dir: Path = DATA_DIR) -> list[KernelRecord]:
    """Every checked-in kernel boot, oldest kernel first."""
    recs = [load_record(d) for d in sorted(data_dir.iterdir()) if (d / "kernel.json").exists()]
    return sorted(recs, key=lambda r: (r.version, r.abi))


def ci_entries() -> Sequence[MatrixEntry]:
    return [e for e in MATRIX if e.ci]
