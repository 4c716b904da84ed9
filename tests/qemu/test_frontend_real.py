"""``vmplatform qemu`` in front of a real QEMU 10: the pins land, per backend.

QEMU is started through the front-end (``python -m vmplatform qemu ...``)
with ``-S`` and a private QMP socket, two virtio-net NICs (TAP and user), and
read back over QMP: every platform-governed property with ``qom-get`` on
/machine/peripheral/<id>, and what the device really offers with
``x-query-virtio-status``. The front-end execs QEMU, so the process started
is QEMU itself.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from tests.harness.cli import run_vmplatform
from tests.harness.requirements import missing_qemu, missing_qmp_library, missing_root, missing_tun, skip_unless
from tests.harness.virtio import USO_BITS
from vmplatform.model.features import default_catalog
from vmplatform.model.machines import default_machine_catalog
from vmplatform.model.virtio_bits import VIRTIO_NET_BITS, decode_status_features
from vmplatform.qemu.proc import QemuProcess, find_qemu

pytestmark = [pytest.mark.qemu, pytest.mark.root]

NICS = {"net0": "tap", "net1": "user"}  # device id -> backend
USO_PROPS = ("host_uso", "guest_uso4", "guest_uso6")
CSUM_BIT = VIRTIO_NET_BITS["VIRTIO_NET_F_CSUM"]


def _nic_args() -> list[str]:
    args = ["-netdev", "tap,id=n0,script=no,downscript=no", "-device", "virtio-net-pci,netdev=n0,id=net0",
            "-netdev", "user,id=n1", "-device", "virtio-net-pci,netdev=n1,id=net1"]
    return args


def _front_end(platform: str | None) -> tuple[str, list[str]]:
    """(program, args) that start QEMU through the front-end; QemuProcess adds -qmp."""
    plat = ["-platform", platform] if platform else []
    return sys.executable, ["-m", "vmplatform", "qemu", "--qemu-binary", find_qemu(), *plat,
                            "-machine", "pc-q35-10.0,accel=tcg", "-nodefaults", "-display", "none", "-S",
                            *_nic_args()]


def _governed_bits() -> dict[str, int]:
    """virtio-net property -> virtio bit, for governed properties this QEMU has."""
    defaults = default_machine_catalog().device_defaults["virtio-net-device"]
    return {gp.prop: gp.virtio_bit for f in default_catalog() for gp in f.governs
            if gp.virtio_bit is not None and gp.driver in ("virtio-net-device", "virtio-net-pci")
            and gp.prop in defaults}


async def _inspect(platform: str | None, props: list[str]) -> tuple[dict[str, Any], str]:
    program, args = _front_end(platform)
    q = QemuProcess(program, args, env=dict(os.environ))
    async with q:
        assert q.proc is not None
        # exec, not fork: the PID we started is QEMU's.
        assert Path(f"/proc/{q.proc.pid}/exe").resolve() == Path(find_qemu()).resolve()
        out: dict[str, Any] = {}
        for dev in NICS:
            values = {p: await q.qmp.execute("qom-get", {"path": f"/machine/peripheral/{dev}", "property": p})
                      for p in props}
            status: Any = await q.qmp.execute("x-query-virtio-status",
                                              {"path": f"/machine/peripheral/{dev}/virtio-backend"})
            out[dev] = {"props": values, "offered": decode_status_features(status["host-features"])}
    return out, q.stderr


def _require() -> None:
    skip_unless(missing_root, missing_tun, missing_qemu, missing_qmp_library)


def _dry_run_pins(platform: str) -> dict[str, dict[str, str]]:
    """device id -> {property: value} the front-end appends, from --dry-run."""
    _, args = _front_end(platform)
    dry = run_vmplatform(["qemu", "--dry-run", *args[args.index("--qemu-binary"):]])
    assert dry.returncode == 0, dry.stderr
    lines = dry.stdout.splitlines()
    assert "-platform" not in lines
    pins: dict[str, dict[str, str]] = {}
    for i, arg in enumerate(lines[:-1]):
        if arg == "-device":
            _driver, *kvs = lines[i + 1].split(",")
            fields = dict(kv.split("=", 1) for kv in kvs)
            ours = {k: v for k, v in fields.items() if k not in ("netdev", "id")}
            pins[fields["id"]] = ours
    return pins


def test_platform_pins_per_backend_read_back_from_qemu() -> None:
    _require()
    bits = _governed_bits()
    assert set(USO_PROPS) | {"csum"} <= set(bits)
    pins = _dry_run_pins("linux-6.1")
    assert set(pins) == set(NICS)
    props_read = sorted(set(bits) | {p for dev in pins.values() for p in dev})
    seen, stderr = asyncio.run(_inspect("linux-6.1", props_read))
    assert "no -platform given" not in stderr, stderr

    for dev, backend in NICS.items():
        props: Mapping[str, object] = seen[dev]["props"]
        offered: set[int] = seen[dev]["offered"]
        # What the front-end pinned (per --dry-run) is what QEMU has.
        assert {p: props[p] for p in pins[dev]} == {p: v == "on" for p, v in pins[dev].items()}, dev
        # linux-6.1 predates TAP USO: pinned off on both NICs, whatever this host has.
        assert {p: props[p] for p in USO_PROPS} == {p: False for p in USO_PROPS}, dev
        assert not offered & set(USO_BITS), (dev, sorted(offered))
        # The backend matters: checksum offload on TAP, never on -netdev user.
        assert props["csum"] is (backend == "tap"), (dev, props["csum"])
        # Every governed property agrees with what the device really offers:
        # nothing pinned on that QEMU then clears, nothing offered unpinned.
        mismatched = {p: (props[p], bits[p] in offered) for p in bits if props[p] is not (bits[p] in offered)}
        assert mismatched == {}, (dev, mismatched)
    assert CSUM_BIT in seen["net0"]["offered"] and CSUM_BIT not in seen["net1"]["offered"]


def test_default_platform_is_named_on_stderr() -> None:
    _require()
    listed = run_vmplatform(["query-platforms", "--json"])
    assert listed.returncode == 0, listed.stderr
    default = [p["name"] for p in json.loads(listed.stdout) if p["is-default"]]
    assert len(default) == 1, default

    seen, stderr = asyncio.run(_inspect(None, list(USO_PROPS)))
    m = re.search(r"^vmplatform: no -platform given: using (\S+),", stderr, re.MULTILINE)
    assert m, stderr
    assert m.group(1) == default[0]
    # QEMU itself ran and answered (the note is not an error).
    assert set(seen) == set(NICS)
