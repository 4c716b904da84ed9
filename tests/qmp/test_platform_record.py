"""The platform travels with the VM: recorded by ``vmplatform qemu`` in the real
QEMU 10, read back by the endpoint, ``analyze --qmp`` and ``check --qmp``;
a destination started with ``-incoming`` must name it."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from vmplatform.model.platforms import load_platforms
from vmplatform.model.report import FeatureStatus, HostReport
from vmplatform.qemu.platform_record import OBJECT_PATH, record_args
from vmplatform.qmp.local import LocalCommands
from vmplatform.resolution.support import evaluate

from ._support import QEMU_ARGS, Qemu, endpoint, front_end, qmp_client, run, vmplatform
from .conftest import skip_qemu

pytestmark = [pytest.mark.qemu, pytest.mark.root]

HOSTS = Path(__file__).parent.parent / "data" / "hosts"
OLD_HOST = HOSTS / "debian12-6.1.json"      # a real Debian 12 probe: no tap-uso
BASE = ["-machine", "pc-q35-10.0,accel=tcg", "-nodefaults", "-display", "none", "-S"]


def _anonymous(host_report: HostReport) -> LocalCommands:
    platforms = load_platforms()
    return LocalCommands(evaluate(host_report, platforms), platforms.catalog, None)


def test_front_end_records_the_platform_and_every_reader_gets_it(host_report: HostReport, tmp_path: Path) -> None:
    skip_qemu()
    qemu = Qemu(QEMU_ARGS, launcher=front_end("-platform", "linux-6.1"))
    try:
        async def body() -> dict[str, Any]:
            async with qmp_client(qemu.direct) as direct:
                assert await direct.execute("qom-get", {"path": OBJECT_PATH, "property": "identity"}) == "linux-6.1"
                # The front-end pinned USO off for linux-6.1 (this host has it: the record is not the host's).
                assert await direct.execute("qom-get", {"path": "/machine/peripheral/net0",
                                                        "property": "host_uso"}) is False
            # No --platform given to the endpoint: it reads the record.
            async with endpoint(qemu, _anonymous(host_report)), qmp_client(qemu.listen) as client:
                deps: dict[str, Any] = await client.execute("query-platform-dependencies")
            return deps

        deps = run(body())
        assert deps["platform"] == "linux-6.1"
        [net0] = deps["devices"]
        assert "tap-uso" not in net0["offered-features"] and net0["beyond-platform"] == []
        assert deps["requires"] == [f for f in deps["requires"] if f in net0["offered-features"]]

        analyzed = vmplatform("analyze", "--qmp", qemu.direct)
        assert analyzed.returncode == 0, analyzed.stderr
        manifest = json.loads(analyzed.stdout)
        assert manifest["platform"] == "linux-6.1", manifest["platform"]
        assert "tap-uso" not in {r["feature"] for r in manifest["requires"]}

        # The Debian 12 host (6.1, no USO) can take this VM: it offers nothing USO and it runs linux-6.1.
        ok = vmplatform("check", "--qmp", qemu.direct, "--host", str(OLD_HOST))
        assert ok.returncode == 0, ok.stderr
        assert "platform linux-6.1" in ok.stdout, ok.stdout
    finally:
        qemu.close()


def test_check_qmp_judges_offered_features_not_negotiated(host_report: HostReport) -> None:
    """-S: the guest never ran, so nothing is negotiated; USO is still offered and still refused."""
    skip_qemu()
    if host_report.status("tap-uso") is not FeatureStatus.SUPPORTED:
        pytest.skip("this host has no tap-uso, so QEMU offers none to judge")
    qemu = Qemu(QEMU_ARGS + record_args("linux-6.2"))
    try:
        refused = vmplatform("check", "--qmp", qemu.direct, "--host", str(OLD_HOST), "--json")
        assert refused.returncode == 1, refused.stderr
        verdict = json.loads(refused.stdout)
        assert verdict["responsible-features"] == ["tap-uso"], verdict
        [short] = verdict["missing"]
        assert "offered to the guest" in short["required-by"], short
        # And the platform it runs is named as what the destination must support.
        assert any("platform linux-6.2" in p for p in verdict["problems"]), verdict
        # check --manifest on the same VM agrees (analyze --qmp writes what it offers).
        manifest = vmplatform("analyze", "--qmp", qemu.direct)
        assert manifest.returncode == 0, manifest.stderr
        path = Path(qemu.dir) / "m.json"
        path.write_text(manifest.stdout)
        by_manifest = vmplatform("check", "--manifest", str(path), "--host", str(OLD_HOST), "--json")
        assert by_manifest.returncode == 1
        assert json.loads(by_manifest.stdout)["responsible-features"] == ["tap-uso"]
    finally:
        qemu.close()


def test_vm_without_virtio_depends_on_nothing(host_report: HostReport) -> None:
    skip_qemu()
    qemu = Qemu(BASE + record_args("linux-6.1"))
    try:
        async def body() -> Any:
            async with endpoint(qemu, _anonymous(host_report)), qmp_client(qemu.listen) as client:
                return await client.execute("query-platform-dependencies")

        assert run(body()) == {"platform": "linux-6.1", "requires": [], "devices": []}
        analyzed = vmplatform("analyze", "--qmp", qemu.direct)
        assert analyzed.returncode == 0, analyzed.stderr
        assert json.loads(analyzed.stdout)["requires"] == []
        checked = vmplatform("check", "--qmp", qemu.direct, "--host", str(OLD_HOST))
        assert checked.returncode == 0, checked.stderr
    finally:
        qemu.close()


def test_record_is_neither_migrated_nor_guest_visible() -> None:
    """Migrate (no guest, -S) from a VM recording linux-6.1 to one recording another platform:
    the stream carries no trace of it (the destination keeps its own), and the record adds no device."""
    skip_qemu()
    src = Qemu(BASE + record_args("linux-6.1"))
    dst = Qemu(BASE + record_args("linux-6.2") + ["-incoming", "defer"])
    bare = Qemu(BASE)
    try:
        uri = f"unix:{dst.dir}/migrate.sock"

        async def body() -> tuple[Any, Any, Any, Any]:
            async with qmp_client(src.direct) as s, qmp_client(dst.direct) as d, qmp_client(bare.direct) as b:
                await d.execute("migrate-incoming", {"uri": uri})
                await s.execute("migrate", {"uri": uri})
                for _ in range(600):
                    info: Any = await s.execute("query-migrate")
                    if info.get("status") in ("completed", "failed", "cancelled"):
                        break
                    await asyncio.sleep(0.05)
                ident = await d.execute("qom-get", {"path": OBJECT_PATH, "property": "identity"})
                return info, ident, await s.execute("query-pci"), await b.execute("query-pci")

        info, ident, pci_with, pci_without = run(body())
        assert info["status"] == "completed", info
        assert ident == "linux-6.2"
        assert pci_with == pci_without
    finally:
        for q in (src, dst, bare):
            q.close()


@pytest.mark.parametrize("argv, refused", [
    (["-incoming", "defer"], True),
    (["--incoming", "unix:/tmp/x.sock"], True),
    (["-incoming", "defer", "-platform", "linux-6.1"], False),
    (["-incoming", "defer", *record_args("linux-6.1")], False),   # a re-run of what the front-end wrote
    ([], False),                                                  # a fresh start takes the default
])
def test_incoming_vm_must_name_its_platform(argv: list[str], refused: bool) -> None:
    proc = vmplatform("qemu", "--dry-run", "--host", str(HOSTS / "debian13-6.12.json"), "-machine", "q35",
                      "-netdev", "tap,id=n0", "-device", "virtio-net-pci,netdev=n0", *argv)
    if refused:
        assert proc.returncode == 2, proc
        assert proc.stderr.startswith("vmplatform: error: an incoming VM must run its source's platform: "
                                      "pass -platform X; the source's query-platform-dependencies says which")
        assert proc.stdout == ""
    else:
        assert proc.returncode == 0, proc.stderr
        out = proc.stdout.splitlines()
        recorded = [out[i + 1] for i, a in enumerate(out) if a == "-object" and "vmplatform-platform" in out[i + 1]]
        assert len(recorded) == 1, out
        assert recorded[0].startswith("authz-simple,id=vmplatform-platform,identity=linux-")
        if argv:
            assert recorded[0].endswith("identity=linux-6.1")
            assert "host_uso=off" in "\n".join(out)


def test_argv_recording_another_platform_is_refused() -> None:
    proc = vmplatform("qemu", "--dry-run", "--host", str(HOSTS / "debian13-6.12.json"), "-machine", "q35",
                      "-platform", "linux-6.2", *record_args("linux-6.1"))
    assert proc.returncode == 2
    assert "records platform linux-6.1" in proc.stderr and "-platform says linux-6.2" in proc.stderr


def test_query_platforms_answers_for_the_vms_accelerator(host_report: HostReport) -> None:
    """A TCG VM: KVM-only features (KVM SMM) cannot make a platform unsupported for it."""
    skip_qemu()
    from vmplatform.model.accel import Accel

    platforms = load_platforms()
    local = LocalCommands(evaluate(host_report, platforms, Accel.KVM), platforms.catalog, None,
                          rejudge=lambda accel: evaluate(host_report, platforms, accel))
    qemu = Qemu(BASE)
    try:
        async def body() -> Any:
            async with endpoint(qemu, local), qmp_client(qemu.listen) as client:
                return await client.execute("query-platforms")

        answer = run(body())
    finally:
        qemu.close()
    assert answer == json.loads(json.dumps(evaluate(host_report, platforms, Accel.TCG).to_json()))
    cli = vmplatform("query-platforms", "--accel", "tcg", "--json")
    assert cli.returncode == 0, cli.stderr
    assert answer == json.loads(cli.stdout)


def test_endpoint_platform_contradicting_the_record_is_refused(host_report: HostReport) -> None:
    skip_qemu()
    from vmplatform.qmp.endpoint import EndpointError

    platforms = load_platforms()
    local = LocalCommands(evaluate(host_report, platforms), platforms.catalog, "linux-6.2", check_record=True)
    qemu = Qemu(BASE + record_args("linux-6.1"))
    try:
        async def body() -> None:
            async with endpoint(qemu, local):
                pass

        with pytest.raises(EndpointError, match="--platform linux-6.2 contradicts the VM, which records platform "
                                                "linux-6.1"):
            run(body())
        assert not Path(qemu.listen).exists()   # refused before listening
    finally:
        qemu.close()


@pytest.mark.parametrize("argv, recorded", [
    (record_args("linux-6.1"), "linux-6.1"),
    (["-object", '{"qom-type": "authz-simple", "id": "vmplatform-platform", "identity": "linux-6.2"}'], "linux-6.2"),
    (record_args("my,platform"), "my,platform"),                       # QemuOpts ',,' escaping round-trips
    (["-object", "authz-simple,id=other,identity=linux-6.1"], None),   # someone else's authz object
    (["-object", "secret,id=vmplatform-platform,data=x"], None),
    (["-name", "-object"], None),
])
def test_recorded_in_argv(argv: list[str], recorded: str | None) -> None:
    from vmplatform.qemu.platform_record import recorded_in_argv

    assert recorded_in_argv(argv) == recorded


def test_cli_endpoint_refuses_a_contradicting_platform() -> None:
    skip_qemu()
    qemu = Qemu(BASE + record_args("linux-6.1"))
    try:
        proc = vmplatform("qmp", "--connect", qemu.upstream, "--listen", qemu.listen, "--platform", "linux-6.2")
        assert proc.returncode == 1, proc
        assert proc.stderr.startswith("vmplatform: error: --platform linux-6.2 contradicts the VM, which records "
                                      "platform linux-6.1"), proc.stderr
        assert "Traceback" not in proc.stderr and not Path(qemu.listen).exists()
    finally:
        qemu.close()
