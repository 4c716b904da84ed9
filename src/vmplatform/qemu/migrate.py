"""``vmplatform migrate``: a live migration that checks before it sends and verifies after.

Plain ``migrate`` lets the source stop its guest and report ``completed``
while a destination whose host lacks a feature the guest uses refuses the
stream and exits: the VM is gone. Here, before anything is sent (a refusal
leaves the source running, untouched):

1. the destination waits for an incoming migration (``inmigrate``);
2. both VMs record a platform (:mod:`vmplatform.qemu.platform_record`) and it is
   the same one: a destination that took its own host's default is refused;
3. both run the same machine type;
4. every virtio device of the source exists on the destination and QEMU
   there offers exactly the same features (``x-query-virtio-status``
   ``host-features``). The destination's QEMU has already asked its host
   kernel (TAP offloads, vhost), so this is the host check made by the very
   process that will load the stream, and "offered", not "negotiated",
   decides: a rebooted guest negotiates whatever is offered;
5. with a destination host report, that host supports the platform for the
   VM's accelerator and has every feature the source offers
   (:func:`vmplatform.qemu.running.check_running_vm`).

Then ``migrate-incoming`` (a destination started with ``-incoming defer``)
and ``migrate``, polling ``query-migrate``. After completion the destination
must run with the same offered features and the guest's negotiated features
unchanged. Should the destination still lose the VM after the source has
stopped (it exits or never runs), the source is resumed with ``cont``: the
guest's memory and devices are still there, nothing ran it elsewhere.
"""

from __future__ import annotations

import asyncio
import enum
import time
from typing import Any

from vmplatform.errors import QemuError
from vmplatform.model.features import Catalog
from vmplatform.model.jsonvalue import JsonObject
from vmplatform.model.platforms import PlatformSet
from vmplatform.model.report import HostReport
from vmplatform.qemu.qmp_boundary import QmpReplyError, QmpSession
from vmplatform.records import field, record

FINAL = frozenset({"completed", "failed", "cancelled"})
#: Run states of a destination that holds the VM (a source started with -S arrives in 'prelaunch').
ALIVE = frozenset({"running", "paused", "prelaunch", "suspended"})


class Outcome(enum.Enum):
    REFUSED = "refused"          # checks failed; nothing was sent, the source runs on
    MIGRATED = "migrated"        # completed and verified on the destination
    FAILED = "failed"            # QEMU's migration failed; the source runs on
    RESCUED = "rescued"          # the destination lost the VM after completion; the source resumed
    UNVERIFIED = "unverified"    # completed, but the destination differs from what was checked


@record
class Side:
    """What one VM looks like over QMP."""

    status: str
    platform: str | None
    machine: str
    accel: str
    offered: dict[str, int]       # virtio device path -> host-features mask
    negotiated: dict[str, int]    # virtio device path -> guest-features mask
    dependencies: tuple[dict[str, Any], ...] = ()   # query-platform-dependencies' device entries


@record
class MigrationReport:
    outcome: Outcome
    problems: tuple[str, ...] = ()
    platform: str | None = None
    seconds: float = 0.0
    steps: tuple[str, ...] = field(default_factory=tuple)

    @property
    def ok(self) -> bool:
        return self.outcome is Outcome.MIGRATED

    def to_json(self) -> JsonObject:
        return {"outcome": self.outcome.value, "platform": self.platform, "problems": [*self.problems],
                "steps": [*self.steps], "seconds": round(self.seconds, 3)}


async def _side(client: QmpSession, catalog: Catalog) -> Side:
    from vmplatform.model.virtio_bits import bits_to_mask, decode_status_features
    from vmplatform.qemu.platform_record import read_recorded_platform, read_running_accel
    from vmplatform.qemu.running import virtio_devices
    from vmplatform.qmp.local import VIRTIO_NET, DependencyReader

    ex = client.execute_for_readers
    status: Any = await ex("query-status", None)
    machine = str(await ex("qom-get", {"path": "/machine", "property": "type"})).removesuffix("-machine")
    accel = await read_running_accel(ex)
    devices = await virtio_devices(ex)
    offered, negotiated = {}, {}
    reader = DependencyReader(catalog)
    deps = []
    for dev in devices:
        path = str(dev["path"])
        st: Any = await ex("x-query-virtio-status", {"path": path})
        offered[path] = bits_to_mask(decode_status_features(st.get("host-features") or {}))
        negotiated[path] = bits_to_mask(decode_status_features(st.get("guest-features") or {}))
        if dev.get("name") == VIRTIO_NET:
            deps.append(reader.device_dependencies(path, st))
    return Side(str(status.get("status")), await read_recorded_platform(ex), machine,
                accel.value, offered, negotiated, tuple(deps))


def _named(mask: int, platforms: PlatformSet) -> str:
    """Feature bits as the host features that decide them (else bit numbers)."""
    from vmplatform.qmp.local import net_feature_bits

    bits = {b for b in range(128) if mask >> b & 1}
    names = [f.feature for f in net_feature_bits(platforms.catalog) if f.bits & bits]
    rest = sorted(bits - {b for f in net_feature_bits(platforms.catalog) for b in f.bits})
    return ", ".join(names + [f"virtio bit {b}" for b in rest])


def compare(src: Side, dst: Side, platforms: PlatformSet) -> list[str]:
    """Why the destination cannot take the source's VM (empty: it can)."""
    from vmplatform.qemu.platform_record import INCOMING_NEEDS_PLATFORM

    problems = []
    if dst.status != "inmigrate":
        problems.append(f"the destination is '{dst.status}', not waiting for a migration: start it with "
                        "-incoming defer")
    if src.platform is None:
        problems.append("the source records no platform, so the destination's cannot be matched to it: start VMs "
                        "with 'vmplatform qemu -platform NAME'")
    elif dst.platform != src.platform:
        got = f"runs {dst.platform}" if dst.platform else "records no platform"
        problems.append(f"the source runs platform {src.platform} but the destination {got}: "
                        + INCOMING_NEEDS_PLATFORM.replace("X", src.platform))
    if src.machine != dst.machine:
        problems.append(f"machine type differs: source {src.machine}, destination {dst.machine}")
    for path, mask in src.offered.items():
        if path not in dst.offered:
            problems.append(f"{path}: the destination has no such virtio device")
            continue
        lacks, extra = mask & ~dst.offered[path], dst.offered[path] & ~mask
        if lacks:
            problems.append(f"{path}: the destination's QEMU does not offer {_named(lacks, platforms)}, which the "
                            "source offers its guest (its host lacks it, or the device is configured differently)")
        if extra:
            problems.append(f"{path}: the destination's QEMU offers {_named(extra, platforms)} beyond the source: "
                            "the guest's next boot there would depend on it")
    return problems


async def _wait_final(client: QmpSession, timeout: float) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        info: Any = await client.execute("query-migrate")
        if info.get("status") in FINAL:
            return dict(info)
        if time.monotonic() > deadline:
            raise QemuError(f"migration still '{info.get('status')}' after {timeout:.0f} s",
                            "cancel it on the source with migrate_cancel, or wait")
        await asyncio.sleep(0.05)


async def _dest_after(dst: QmpSession, catalog: Catalog, timeout: float) -> Side | None:
    """The destination once it has left 'inmigrate' (None: it is gone)."""
    from vmplatform.qmp.local import LocalCommandError

    deadline = time.monotonic() + timeout
    while True:
        try:
            side = await _side(dst, catalog)
        except (QemuError, LocalCommandError):  # its QEMU exited (QmpLostError) or can no longer answer
            return None
        if side.status != "inmigrate" or time.monotonic() > deadline:
            return side
        await asyncio.sleep(0.05)


async def migrate_async(source: str, dest: str, uri: str, platforms: PlatformSet, *,
                        dest_report: HostReport | None = None, timeout: float = 300.0) -> MigrationReport:
    from vmplatform.qemu.running import connect

    steps: list[str] = []
    async with await connect(source) as src_client, await connect(dest) as dst_client:
        src, dst = await _side(src_client, platforms.catalog), await _side(dst_client, platforms.catalog)
        steps.append(f"source: {src.status}, platform {src.platform}, {len(src.offered)} virtio device(s)")
        steps.append(f"destination: {dst.status}, platform {dst.platform}")
        problems = compare(src, dst, platforms)
        if dest_report is not None:
            from vmplatform.qemu.running import judge_running

            verdict = judge_running(src.platform, src.accel, list(src.dependencies), dest_report, platforms)
            if not verdict.result.ok:
                problems.append(verdict.message)
        if problems:
            return MigrationReport(Outcome.REFUSED, tuple(problems), src.platform, 0.0, tuple(steps))
        started = time.monotonic()
        try:
            await dst_client.execute("migrate-incoming", {"uri": uri})
            steps.append(f"destination listening on {uri}")
        except QmpReplyError as err:  # started with -incoming URI instead of defer: it already listens
            steps.append(f"destination not set up by migrate-incoming ({err}); using its -incoming")
        await src_client.execute("migrate", {"uri": uri})
        info = await _wait_final(src_client, timeout)
        seconds = time.monotonic() - started
        steps.append(f"source: migration {info.get('status')}")
        if info.get("status") != "completed":
            return MigrationReport(Outcome.FAILED, (f"QEMU's migration {info.get('status')}: "
                                                    f"{info.get('error-desc', 'no reason given')}",),
                                   src.platform, seconds, tuple(steps))
        after = await _dest_after(dst_client, platforms.catalog, 30.0)
        if after is None or after.status not in ALIVE:
            state = "exited" if after is None else f"is '{after.status}'"
            if src.status == "running":
                await src_client.execute("cont")
                steps.append("source resumed (cont)")
            return MigrationReport(Outcome.RESCUED, (f"the destination {state} after the source completed"
                                                     + ("; the source was resumed" if src.status == "running"
                                                        else ""),), src.platform, seconds, tuple(steps))
        differ = [f"{p}: offered {hex(after.offered.get(p, 0))} on the destination, {hex(m)} before"
                  for p, m in src.offered.items() if after.offered.get(p) != m]
        differ += [f"{p}: the guest's features changed from {hex(m)} to {hex(after.negotiated.get(p, 0))}"
                   for p, m in src.negotiated.items() if after.negotiated.get(p) != m]
        if after.platform != src.platform:
            differ.append(f"the destination runs platform {after.platform}, not {src.platform}")
        steps.append(f"destination: {after.status}, same offered features" if not differ
                     else "destination differs")
        return MigrationReport(Outcome.UNVERIFIED if differ else Outcome.MIGRATED, tuple(differ),
                               src.platform, seconds, tuple(steps))


def migrate(source: str, dest: str, uri: str, platforms: PlatformSet, *, dest_report: HostReport | None = None,
            timeout: float = 300.0) -> MigrationReport:
    """Check, migrate, verify (see the module docstring); raises QemuError when a VM cannot be reached."""
    try:
        return asyncio.run(migrate_async(source, dest, uri, platforms, dest_report=dest_report, timeout=timeout))
    except (KeyError, TypeError, AttributeError, ValueError) as err:  # a reply shaped unlike QEMU's
        raise QemuError(f"migration aborted: a QMP reply vmplatform did not expect ({type(err).__name__}: {err})",
                        "check both VMs with query-status") from err
