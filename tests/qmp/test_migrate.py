"""``vmplatform migrate`` between two real QEMU 10 processes (TCG, -S: no guest, so each case
takes about a second): refused before the source stops, migrated and verified after."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from vmplatform.qemu.platform_record import record_args

from ._support import QEMU_ARGS, Qemu, front_end, qmp_client, run, vmplatform
from .conftest import skip_qemu

pytestmark = [pytest.mark.qemu, pytest.mark.root]

HOSTS = Path(__file__).parent.parent / "data" / "hosts"


def _untouched(src: Qemu) -> None:
    """Refused before anything was sent: no migration ever started, the source's state is as it was."""
    async def body() -> tuple[Any, Any]:
        async with qmp_client(src.direct) as c:
            return await c.execute("query-migrate"), await c.execute("query-status")

    migration, status = run(body())
    assert migration == {}, migration
    assert status["status"] == "prelaunch", status


def _migrate(src: Qemu, dst: Qemu, *extra: str) -> tuple[int, dict[str, Any]]:
    proc = vmplatform("migrate", "--source", src.direct, "--dest", dst.direct, "--uri",
                      f"unix:{dst.dir}/migrate.sock", "--json", *extra)
    assert proc.stdout, proc.stderr
    return proc.returncode, json.loads(proc.stdout)


def test_destination_without_the_sources_platform_is_refused() -> None:
    skip_qemu()
    src = Qemu(QEMU_ARGS, launcher=front_end("-platform", "linux-6.1"))
    dst = Qemu(QEMU_ARGS + ["-incoming", "defer"])            # plain QEMU: no platform, this host's offers
    try:
        rc, result = _migrate(src, dst)
        assert rc == 1 and result["outcome"] == "refused", result
        text = "\n".join(result["problems"])
        assert "the source runs platform linux-6.1 but the destination records no platform" in text, text
        assert "pass -platform linux-6.1" in text
        _untouched(src)
    finally:
        src.close()
        dst.close()


def test_destination_whose_qemu_offers_less_is_refused() -> None:
    """Same platform name recorded on both, but the destination's host has no USO (the shim):
    its QEMU offers less than the source does, which is what would kill the VM on load."""
    skip_qemu()
    from tests.harness.requirements import missing_gcc, skip_unless
    from tests.harness.shim import build_uso_shim, preload_env

    skip_unless(missing_gcc)
    src = Qemu(QEMU_ARGS + record_args("linux-6.2"))
    dst = Qemu(QEMU_ARGS + record_args("linux-6.2") + ["-incoming", "defer"], env=preload_env([build_uso_shim()]))
    try:
        async def offers_uso() -> bool:
            async with qmp_client(src.direct) as c:
                status = await c.execute("x-query-virtio-status",
                                         {"path": "/machine/peripheral/net0/virtio-backend"})
                return any("HOST_USO" in f for f in status["host-features"]["dev-features"])

        if not run(offers_uso()):
            pytest.skip("this host's TAP has no USO, so the source offers none to lose")
        rc, result = _migrate(src, dst, "--dest-host", str(HOSTS / "debian12-6.1.json"))
        assert rc == 1 and result["outcome"] == "refused", result
        text = "\n".join(result["problems"])
        assert "does not offer tap-uso" in text, text
        assert "host debian12" in text and "lacks tap-uso" in text, text    # the --dest-host verdict
        _untouched(src)
    finally:
        src.close()
        dst.close()


def test_same_platform_migrates_and_is_verified() -> None:
    skip_qemu()
    launcher = front_end("-platform", "linux-6.1")
    src = Qemu(QEMU_ARGS, launcher=launcher)
    dst = Qemu(QEMU_ARGS + ["-incoming", "defer"], launcher=launcher)
    try:
        rc, result = _migrate(src, dst)
        assert rc == 0, result
        assert result["outcome"] == "migrated" and result["platform"] == "linux-6.1", result
        assert result["problems"] == []

        async def states() -> tuple[Any, Any]:
            async with qmp_client(src.direct) as s, qmp_client(dst.direct) as d:
                return (await s.execute("query-migrate"))["status"], (await d.execute("query-status"))["status"]

        # -S: the guest never ran, and the destination holds it as the source did.
        assert run(states()) == ("completed", "prelaunch")
    finally:
        src.close()
        dst.close()


def test_unreachable_destination_is_a_clear_error(tmp_path: Path) -> None:
    skip_qemu()
    src = Qemu(QEMU_ARGS, launcher=front_end("-platform", "linux-6.1"))
    try:
        proc = vmplatform("migrate", "--source", src.direct, "--dest", str(tmp_path / "nothing.sock"),
                          "--uri", f"unix:{tmp_path}/m.sock")
        assert proc.returncode == 1
        assert proc.stderr.startswith("vmplatform: error: cannot connect to QMP socket"), proc.stderr
        assert "Traceback" not in proc.stderr
        _untouched(src)
    finally:
        src.close()
