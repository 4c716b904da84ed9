"""JSON views of the model, shared by the CLI (--json) and the QMP endpoint.

Keys are kebab-case, as in QMP. These shapes are an interface other tools rely
on: change them only with a schema bump.
"""

from __future__ import annotations

from typing import Any

from vmplatform.model.platforms import Platform, PlatformSet
from vmplatform.resolution.resolve import Resolution
from vmplatform.resolution.support import PlatformSupport, SupportReport


def platform_json(p: Platform, platforms: PlatformSet | None = None) -> dict[str, Any]:
    obj: dict[str, Any] = {
        "name": p.name, "description": p.description, "vendor": p.vendor,
        "released": p.released.isoformat(), "kernel": p.kernel,
    }
    if p.inherits:
        obj["inherits"] = p.inherits
    obj["features"] = sorted(p.features)
    if p.add:
        obj["add"] = list(p.add)
    if p.remove:
        obj["remove"] = list(p.remove)
    if p.feature_sources:
        obj["feature-sources"] = dict(p.feature_sources)
    if p.left_out:
        obj["left-out"] = dict(p.left_out)
    if p.source:
        obj["source"] = p.source
    if p.origin:
        obj["defined-in"] = p.origin
    return obj


def support_json(ps: PlatformSupport) -> dict[str, Any]:
    p = ps.platform
    obj: dict[str, Any] = {
        "name": p.name, "description": p.description, "vendor": p.vendor,
        "released": p.released.isoformat(), "supported": ps.supported,
    }
    obj["guaranteed"] = ps.guaranteed
    if ps.unavailable:
        obj["unavailable-features"] = [
            {"id": u.feature, "status": u.status.value, "reason": u.reason, "lack": u.lack.value,
             **({"device": u.device} if u.device else {})} for u in ps.unavailable]
        if ps.without_devices:
            obj["usable-without"] = list(ps.without_devices)
    if ps.newer_than_host:
        obj["newer-than-host"] = True
    obj["is-default"] = ps.is_default
    return obj


def query_platforms_json(sr: SupportReport) -> list[dict[str, Any]]:
    return [support_json(ps) for ps in sr]


def resolution_json(res: Resolution) -> dict[str, Any]:
    return {
        "machine": res.machine.name,
        "qemu-version": res.qemu_version,
        "platform": res.platform.name if res.platform else None,
        "accel": res.config.accel,
        "properties": [
            {
                "device": p.device, "device-type": p.device_type, "driver": p.global_driver,
                "property": p.prop, "value": p.value, "source": p.layer.value, "feature": p.feature,
                "needs-feature": p.needs_feature,
                "history": [{"layer": s.layer.value, "value": s.value, "why": s.why} for s in p.history],
            }
            for p in res.properties
        ],
        "needed-features": res.needed_features(),
    }
