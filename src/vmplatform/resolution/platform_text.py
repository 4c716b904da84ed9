"""Platform verdicts in words: ``query-platforms`` lines and ``-platform help`` (QEMU's help style)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from vmplatform.resolution.support import PlatformSupport, SupportReport

if TYPE_CHECKING:
    from collections.abc import Callable

NEWER = "newer than this kernel: it only means no feature the catalog knows is missing"


def state(ps: PlatformSupport) -> str:
    """One platform's verdict on one host."""
    if ps.guaranteed:
        text = "supported"
    elif ps.supported:
        text = "usable for VMs without " + ", ".join(ps.without_devices)
    else:
        text = "unsupported: lacks " + ", ".join(u.feature for u in ps.missing)
        if ps.without_devices:
            text += "; and needs VMs without " + ", ".join(ps.without_devices)
    if ps.newer_than_host and ps.supported:
        text += f" ({NEWER})"
    return text + (" (default)" if ps.is_default else "")


def _runs(items: list[PlatformSupport], verdict: Callable[[PlatformSupport], object]) -> list[list[PlatformSupport]]:
    """Adjacent upstream releases with the same guarantees and the same verdict, as one run."""
    runs: list[list[PlatformSupport]] = []
    for ps in items:
        last = runs[-1][-1] if runs else None
        if (last is not None and ps.platform.derived and last.platform.derived
                and ps.platform.features == last.platform.features and verdict(ps) == verdict(last)):
            runs[-1].append(ps)
        else:
            runs.append([ps])
    return runs


def _name(run: list[PlatformSupport]) -> str:
    return run[0].name if len(run) == 1 else f"{run[-1].name} ... {run[0].name}"


def support_lines(sr: SupportReport) -> list[str]:
    """Newest first: ``NAME  RELEASED  VERDICT``, runs of equal upstream releases on one line."""
    runs = _runs(list(sr), state)
    width = max(len(_name(r)) for r in runs)
    return [f"{_name(r):<{width}}  {r[-1].platform.released.isoformat()}  {state(r[0])}" for r in runs]


def absent_devices(sr: SupportReport) -> dict[str, str]:
    """Each optional device some platform needs VMs to do without, and why it is absent."""
    out: dict[str, str] = {}
    for ps in sr:
        for u in ps.unavailable:
            if u.device and u.device not in out:
                out[u.device] = u.reason if u.device == u.feature else u.reason.partition(": ")[2]
    return out


def platform_help(sr: SupportReport) -> str:
    """``-platform help``, in the style of ``-machine help``: one section per verdict."""
    sections: list[tuple[str, list[PlatformSupport]]] = [
        (f"Supported platforms are (host {sr.host.name}, accel={sr.accel.value}):",
         [ps for ps in sr if ps.guaranteed]),
        ("Usable for VMs that do without what this host lacks:",
         [ps for ps in sr if ps.supported and not ps.guaranteed]),
        ("Not supported on this host:", [ps for ps in sr if not ps.supported]),
    ]
    runs = {title: _runs(items, lambda ps: (ps.guaranteed, ps.supported, ps.is_default, ps.without_devices,
                                            tuple(u.feature for u in ps.missing), ps.newer_than_host))
            for title, items in sections}
    width = max([len(_name(r)) for rs in runs.values() for r in rs] or [1])
    lines: list[str] = []
    for title, _ in sections:
        if not runs[title]:
            continue
        lines.append(title)
        for r in runs[title]:
            ps = r[0]
            text = r[-1].platform.description
            if ps.is_default or any(x.is_default for x in r):
                text += " (default)"
            if ps.supported and not ps.guaranteed:
                text += " (without " + ", ".join(ps.without_devices) + ")"
            if not ps.supported:
                text += " (lacks " + ", ".join(u.feature for u in ps.missing) + ")"
            if ps.newer_than_host and ps.supported:
                text += f" ({NEWER})"
            lines.append(f"{_name(r):<{width}} {text}")
    for dev, why in sorted(absent_devices(sr).items()):
        lines.append(f"Absent on this host: {dev}: {why}")
    return "\n".join(lines)
