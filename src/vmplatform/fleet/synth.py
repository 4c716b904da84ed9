"""Synthetic fleets for tests and benchmarks, grown from real host reports.

Every synthetic host starts from a seed report (captured probes and the
distro-kernel corpus under tests/data). The mix is what fleets run:

* most hosts run their distro's own kernel (a seed as it is);
* some run a newer kernel on the same userland, as Debian backports and
  Ubuntu HWE kernels do: the kernel features and release of a newer seed,
  the os-release of an older one;
* a few differ in an optional device or privilege (no vhost-vsock module,
  no KVM, an unprivileged probe that leaves a feature unknown).

Deterministic for a given ``seed``.
"""

from __future__ import annotations

import copy
import datetime
import json
import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vmplatform.model.features import Catalog, Category
from vmplatform.model.releases import kernel_version
from vmplatform.model.report import HostReport

_OPTIONAL_VARIANTS = (
    ("vhost-vsock", "unsupported", "ENOENT: module vhost_vsock not loaded"),
    ("vhost-vsock-seqpacket", "unsupported", "ENOENT: module vhost_vsock not loaded"),
    ("ebpf-rss", "unknown", "EPERM: probed without CAP_BPF"),
    ("kvm-smm", "unsupported", "ENOENT: /dev/kvm absent"),
    ("kvm-hyperv-cpuid", "unsupported", "ENOENT: /dev/kvm absent"),
    ("kvm-tsc-control", "unsupported", "ENOENT: /dev/kvm absent"),
)


@dataclass(frozen=True)
class Mix:
    own_kernel: float = 0.75       # distro kernel as shipped
    newer_kernel: float = 0.18     # backports / HWE: a newer seed's kernel on this userland
    # the rest: an optional-device variant


def load_seeds(dirs: Sequence[Path]) -> list[dict[str, Any]]:
    """Every host report (``*.json`` with the host-report schema) under ``dirs``, as JSON objects."""
    seeds = []
    for d in dirs:
        for f in sorted(Path(d).glob("*.json")) if Path(d).is_dir() else [Path(d)]:
            try:
                obj = json.loads(f.read_text())
            except (OSError, ValueError):
                continue
            if isinstance(obj, dict) and obj.get("schema") == "vmplatform/host-report/1":
                seeds.append(obj)
    seeds.sort(key=lambda o: kernel_version(o["host"]["kernel-release"]))
    return seeds


def seeds_from_reports(reports: Sequence[HostReport]) -> list[dict[str, Any]]:
    return sorted((r.to_json() for r in reports), key=lambda o: kernel_version(o["host"]["kernel-release"]))


def generate(seeds: Sequence[dict[str, Any]], n: int, catalog: Catalog, seed: int = 0,
             mix: Mix = Mix(), prefix: str = "host") -> Iterator[tuple[str, str]]:
    """``n`` synthetic reports as (hostname, JSON text)."""
    if not seeds:
        raise ValueError("no seed reports")
    rng = random.Random(seed)
    kernel_feats = {f.id for f in catalog if f.category is Category.KERNEL}
    base = datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)
    templates: dict[tuple[int, int, int], str] = {}   # (seed, kernel donor, variant) -> JSON with holes
    versions = [kernel_version(s["host"]["kernel-release"]) for s in seeds]
    for i in range(n):
        si, donor, variant = rng.randrange(len(seeds)), -1, -1
        roll = rng.random()
        if mix.own_kernel <= roll < mix.own_kernel + mix.newer_kernel:
            newer = [j for j, v in enumerate(versions) if v > versions[si]]
            if newer:
                donor = newer[rng.randrange(len(newer))]
        elif roll >= mix.own_kernel + mix.newer_kernel:
            variant = rng.randrange(len(_OPTIONAL_VARIANTS))
        key = (si, donor, variant)
        text = templates.get(key)
        if text is None:
            text = templates[key] = _template(seeds, key, kernel_feats)
        name = f"{prefix}-{i:06d}"
        when = (base + datetime.timedelta(seconds=rng.randrange(86400 * 300))).isoformat()
        yield name, text.replace(_HOST, name).replace(_TIME, when)


_HOST, _TIME = "@@HOSTNAME@@", "@@PROBED-AT@@"


def _template(seeds: Sequence[dict[str, Any]], key: tuple[int, int, int], kernel_feats: set[str]) -> str:
    si, donor, variant = key
    obj = copy.deepcopy(seeds[si])
    if donor >= 0:
        statuses = {f["id"]: f for f in seeds[donor]["features"] if f["id"] in kernel_feats}
        obj["features"] = [copy.deepcopy(statuses[f["id"]]) if f["id"] in statuses else f for f in obj["features"]]
        obj["host"]["kernel-release"] = seeds[donor]["host"]["kernel-release"]
    if variant >= 0:
        fid, status, why = _OPTIONAL_VARIANTS[variant]
        for f in obj["features"]:
            if f["id"] == fid:
                f["status"] = status
                f["evidence"] = {"check": "synthetic variant", "outcome": why, "duration-us": 0.0}
    obj["host"]["hostname"] = _HOST
    obj["probed-at"] = _TIME
    return json.dumps(obj)
