"""Hot-plug through the endpoint into a real QEMU 10 (TCG, -S), driven by qemu.qmp:
``device_add`` of a governed device gets the platform's pins, what the host lacks
is refused before QEMU sees the command, with and without the no-USO shim."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from vmplatform.model.features import default_catalog
from vmplatform.model.machines import default_machine_catalog
from vmplatform.model.platforms import load_platforms
from vmplatform.model.report import FeatureStatus, HostReport
from vmplatform.model.virtio_bits import decode_status_features
from vmplatform.qemu.platform_record import record_args
from vmplatform.qmp.endpoint import Endpoint
from vmplatform.qmp.hotplug import HotplugGuard
from vmplatform.qmp.local import LocalCommands
from vmplatform.resolution.support import evaluate

from ._support import Qemu, RawClient, qmp_client, run, vmplatform
from .conftest import skip_qemu

pytestmark = [pytest.mark.qemu, pytest.mark.root]

HOSTS = Path(__file__).parent.parent / "data" / "hosts"
OLD_HOST = HOSTS / "debian12-6.1.json"     # a real Debian 12 probe: no tap-uso
USO_BITS = {54, 55, 56}                    # GUEST_USO4, GUEST_USO6, HOST_USO (virtio spec 5.1.3)
PORTS = ["-device", "pcie-root-port,id=rp1,chassis=1", "-device", "pcie-root-port,id=rp2,chassis=2",
         "-device", "pcie-root-port,id=rp3,chassis=3"]
BASE = ["-machine", "pc-q35-10.0,accel=tcg", "-nodefaults", "-display", "none", "-S", *PORTS]


def _guard(report: HostReport, platform: str | None = None) -> HotplugGuard:
    return HotplugGuard(default_machine_catalog, load_platforms(), report, platform)


def _local(report: HostReport) -> LocalCommands:
    platforms = load_platforms()
    return LocalCommands(evaluate(report, platforms), platforms.catalog, None)


async def _offered(client: Any, dev_id: str) -> set[int]:
    status = await client.execute("x-query-virtio-status", {"path": f"/machine/peripheral/{dev_id}/virtio-backend"})
    return decode_status_features(status["host-features"])


async def _plug(client: Any, nd: str, dev: dict[str, Any]) -> Any:
    await client.execute("netdev_add", {"type": "tap", "id": nd, "script": "no", "downscript": "no"})
    return await client.execute("device_add", {**dev, "netdev": nd})


def _shim() -> Path:
    from tests.harness.requirements import missing_gcc, skip_unless
    from tests.harness.shim import build_uso_shim

    skip_unless(missing_gcc)
    return build_uso_shim()


def test_hotplugged_nic_gets_the_recorded_platforms_pins(host_report: HostReport) -> None:
    """linux-6.1 recorded, on this host (which has USO when its kernel is >= 6.2): every road of
    device_add through the endpoint ends up without USO; one plugged past the endpoint does not."""
    skip_qemu()
    qemu = Qemu(BASE + record_args("linux-6.1"))
    try:
        async def body() -> tuple[Any, ...]:
            async with Endpoint(qemu.upstream, qemu.listen, _local(host_report), hotplug=_guard(host_report)), \
                    qmp_client(qemu.listen) as via, qmp_client(qemu.direct) as direct:
                assert await _plug(via, "h1", {"driver": "virtio-net-pci", "id": "hn1", "bus": "rp1"}) == {}
                # QEMU's alias, resolved with the aliases of the running binary.
                assert await _plug(via, "h2", {"driver": "virtio-net", "id": "hn2", "bus": "rp2"}) == {}
                # Past the endpoint: QEMU's own monitor, nothing pinned.
                await _plug(direct, "h3", {"driver": "virtio-net-pci", "id": "hn3", "bus": "rp3"})
                props = {d: await direct.execute("qom-get", {"path": f"/machine/peripheral/{d}",
                                                             "property": "host_uso"})
                         for d in ("hn1", "hn2", "hn3")}
                types = [await direct.execute("qom-get", {"path": f"/machine/peripheral/{d}", "property": "type"})
                         for d in ("hn1", "hn2")]
                offered = {d: await _offered(direct, d) for d in ("hn1", "hn2", "hn3")}
                deps = await via.execute("query-platform-dependencies")
                return props, types, offered, deps

        props, types, offered, deps = run(body())
        assert types == ["virtio-net-pci", "virtio-net-pci"]
        assert props["hn1"] is False and props["hn2"] is False
        assert not offered["hn1"] & USO_BITS and not offered["hn2"] & USO_BITS
        has_uso = host_report.status("tap-uso") is FeatureStatus.SUPPORTED
        assert props["hn3"] is has_uso and (offered["hn3"] >= USO_BITS) is has_uso
        by_path = {d["path"].split("/")[3]: d for d in deps["devices"]}
        assert deps["platform"] == "linux-6.1"
        assert by_path["hn1"]["beyond-platform"] == [] and by_path["hn2"]["beyond-platform"] == []
        assert by_path["hn3"]["beyond-platform"] == (["tap-uso"] if has_uso else [])
        # check --qmp agrees: the device plugged past the endpoint is what keeps the VM off a 6.1 host.
        checked = vmplatform("check", "--qmp", qemu.direct, "--host", str(OLD_HOST), "--json")
        verdict = json.loads(checked.stdout)
        assert verdict["responsible-features"] == (["tap-uso"] if has_uso else []), verdict
        assert all("hn3" in m["required-by"] for m in verdict["missing"]), verdict
    finally:
        qemu.close()


def test_without_a_platform_a_governed_device_is_refused(host_report: HostReport) -> None:
    skip_qemu()
    qemu = Qemu(BASE)
    try:
        async def body() -> tuple[Any, Any]:
            from qemu.qmp import ExecuteError

            async with Endpoint(qemu.upstream, qemu.listen, _local(host_report), hotplug=_guard(host_report)), \
                    qmp_client(qemu.listen) as via:
                with pytest.raises(ExecuteError) as refused:
                    await _plug(via, "h1", {"driver": "virtio-net-pci", "id": "hn1", "bus": "rp1"})
                # A device nothing governs passes untouched.
                ok = await via.execute("device_add", {"driver": "e1000e", "id": "e1", "bus": "rp2"})
                peripherals = await via.execute("qom-list", {"path": "/machine/peripheral"})
                return refused.value, (ok, {p["name"] for p in peripherals})

        err, (ok, names) = run(body())
        assert err.error_class == "GenericError"
        assert "records no platform" in str(err) and "-platform NAME" in str(err)
        assert ok == {} and "e1" in names and "hn1" not in names
    finally:
        qemu.close()


def test_pipelined_commands_run_after_the_pinned_device_add(host_report: HostReport) -> None:
    """A client that sends device_add and, without waiting, a command about the new device
    gets both answered in order, as QEMU would (the endpoint holds the second one)."""
    skip_qemu()
    qemu = Qemu(BASE + record_args("linux-6.1"))
    try:
        async def body() -> list[dict[str, Any]]:
            async with Endpoint(qemu.upstream, qemu.listen, _local(host_report), hotplug=_guard(host_report)):
                raw = await RawClient.connect(qemu.listen, negotiate=True)
                await raw.send(b'{"execute": "netdev_add", "arguments": {"type": "tap", "id": "h1", '
                               b'"script": "no", "downscript": "no"}, "id": 1}\n'
                               b'{"execute": "device_add", "arguments": {"driver": "virtio-net-pci", "id": "hn1", '
                               b'"bus": "rp1", "netdev": "h1"}, "id": 2}\n'
                               b'{"execute": "qom-get", "arguments": {"path": "/machine/peripheral/hn1", '
                               b'"property": "host_uso"}, "id": 3}\n')
                replies = [await raw.recv() for _ in range(3)]
                await raw.close()
                return replies

        assert run(body()) == [{"return": {}, "id": 1}, {"return": {}, "id": 2}, {"return": False, "id": 3}]
    finally:
        qemu.close()


def _start_endpoint(qemu: Qemu, env: dict[str, str]) -> subprocess.Popen[str]:
    proc = subprocess.Popen([sys.executable, "-m", "vmplatform", "qmp", "--connect", qemu.upstream,
                             "--listen", qemu.listen], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env)
    deadline = time.monotonic() + 30
    while not os.path.exists(qemu.listen):
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise AssertionError(f"endpoint did not start: {proc.communicate(timeout=10)}")
        time.sleep(0.05)
    return proc


@pytest.mark.parametrize("platform", ["linux-6.1", "linux-6.2"])
def test_under_the_no_uso_shim(platform: str) -> None:
    """An old host (TAP without USO, as Linux < 6.2): QEMU and the `vmplatform qmp` process both
    under the shim. linux-6.1: the NIC is pinned and added, and asking for USO explicitly is refused;
    linux-6.2 promises USO: refused naming feature, property and release, and QEMU never sees it."""
    skip_qemu()
    from tests.harness.shim import preload_env

    env = preload_env([_shim()])
    qemu = Qemu(BASE + record_args(platform), env=env)
    endpoint = _start_endpoint(qemu, env)
    try:
        async def body() -> tuple[Any, ...]:
            from qemu.qmp import ExecuteError

            async with qmp_client(qemu.listen) as via, qmp_client(qemu.direct) as direct:
                errors = []
                await via.execute("netdev_add", {"type": "tap", "id": "h1", "script": "no", "downscript": "no"})
                try:
                    await via.execute("device_add", {"driver": "virtio-net-pci", "id": "hn1", "bus": "rp1",
                                                     "netdev": "h1"})
                except ExecuteError as err:
                    errors.append(err)
                try:
                    await via.execute("device_add", {"driver": "virtio-net-pci", "id": "hn2", "bus": "rp2",
                                                     "netdev": "h1", "host_uso": True})
                except ExecuteError as err:
                    errors.append(err)
                names = {p["name"] for p in await direct.execute("qom-list", {"path": "/machine/peripheral"})}
                offered = await _offered(direct, "hn1") if "hn1" in names else None
                deps = await via.execute("query-platform-dependencies")
                return errors, names, offered, deps

        errors, names, offered, deps = run(body(), timeout=90)
    finally:
        endpoint.terminate()
        endpoint.communicate(timeout=10)
        qemu.close()
    # Both refusals name the feature, the property and what provides it.
    for err in errors:
        assert err.error_class == "GenericError"
        text = str(err)
        assert "lacks tap-uso" in text and "host_uso=on" in text, text
        assert "Linux >= 6.2" in text and "platform linux-6.2" in text, text
    if platform == "linux-6.1":
        assert "hn1" in names and "hn2" not in names
        assert offered is not None and not offered & USO_BITS
        [explicit] = errors      # only the NIC that asked for host_uso=True
        assert str(explicit).startswith("device_add hn2 refused:"), explicit
        [dev] = deps["devices"]
        assert "tap-uso" not in dev["offered-features"] and dev["beyond-platform"] == []
    else:
        assert len(errors) == 2 and "platform linux-6.2 guarantees tap-uso" in str(errors[0])
        assert "hn1" not in names and "hn2" not in names
        assert deps == {"platform": "linux-6.2", "requires": [], "devices": []}


def test_guard_leaves_a_driverless_device_add_to_qemu() -> None:
    """No QEMU: without a driver there is nothing to pin, and QEMU words the error."""
    from vmplatform.model.report import loads

    report = loads((HOSTS / "debian13-6.12.json").read_text(), "debian13")

    async def never(cmd: str, args: Any) -> Any:
        raise AssertionError(f"no QEMU call expected, got {cmd}")

    assert asyncio.run(_guard(report, "linux-6.1").pin({"id": "x"}, never)) == {"id": "x"}
    assert default_catalog().get("tap-uso").linux == "6.2"
