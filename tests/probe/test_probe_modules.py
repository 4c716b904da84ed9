"""An absent device module: reported as absent (not as a missing feature), loaded the way QEMU's open would.

The kernel part is real: modules.devname lines are parsed as kmod writes them,
and as root the autoload path really creates a private char node and opens
it (here with the major:minor of /dev/zero, which needs no module, so the
open succeeds while the named /dev node still does not appear).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.harness.requirements import missing_root, skip_unless
from vmplatform.model.features import default_catalog
from vmplatform.model.probe_spec import VhostFeatures
from vmplatform.model.report import FeatureStatus
from vmplatform.probe import linux, modules
from vmplatform.records import replace

DEVNAME = ("fuse fuse c10:229\nvhost_vsock vhost-vsock c10:241\n"
           "vhost_net vhost-net c10:238\nbtrfs btrfs-control c10:234\n")


def _index(tmp_path: Path, text: str) -> tuple[Path, ...]:
    d = tmp_path / "lib-modules" / "9.9.9-test"
    d.mkdir(parents=True)
    (d / "modules.devname").write_text(text)
    return (tmp_path / "lib-modules",)


def test_devname_lines_name_the_module_and_its_char_major(tmp_path: Path) -> None:
    dirs = _index(tmp_path, DEVNAME)
    assert modules.devname("vhost-vsock", "9.9.9-test", dirs) == modules.DevName("vhost_vsock", "vhost-vsock", 10, 241)
    assert modules.devname("vhost-net", "9.9.9-test", dirs) == modules.DevName("vhost_net", "vhost-net", 10, 238)
    assert modules.devname("kvm", "9.9.9-test", dirs) is None
    assert modules.devname("vhost-vsock", "1.0.0-other", dirs) is None


def _probe_with(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, devname_text: str | None) -> dict[str, tuple[str,
                                                                                                              str]]:
    """Probe vhost-vsock and its SEQPACKET bit against a device path that does not exist."""
    release = os.uname().release
    base = tmp_path / "mods"
    if devname_text is not None:
        (base / release).mkdir(parents=True)
        (base / release / "modules.devname").write_text(devname_text)
    monkeypatch.setattr(modules, "MODULE_DIRS", (base,))
    monkeypatch.setattr(modules.devname, "__defaults__", (None, (base,)))
    monkeypatch.setattr(modules.has_module_index, "__defaults__", (None, (base,)))
    node = tmp_path / "dev" / "vhost-vsock"
    node.parent.mkdir()
    dev = linux._Devices()
    out = {}
    for fid in ("vhost-vsock", "vhost-vsock-seqpacket"):
        f = default_catalog().get(fid)
        assert isinstance(f.probe, VhostFeatures)
        res = linux._probe_vhost(dev, replace(f.probe, device=str(node)))
        out[fid] = (res.status.value, res.evidence.detail)
    return out


def test_a_driver_no_module_provides_is_unsupported_and_its_bits_unknown(monkeypatch: pytest.MonkeyPatch,
                                                                         tmp_path: Path) -> None:
    got = _probe_with(monkeypatch, tmp_path, "fuse fuse c10:229\n")
    assert got["vhost-vsock"][0] == "unsupported" and got["vhost-vsock"][1].endswith("not built")
    assert got["vhost-vsock-seqpacket"][0] == "unknown"
    assert got["vhost-vsock-seqpacket"][1].startswith("vhost-vsock absent: ")


@pytest.mark.root
def test_a_built_module_that_does_not_load_is_unknown_not_loaded(monkeypatch: pytest.MonkeyPatch,
                                                                tmp_path: Path) -> None:
    skip_unless(missing_root)
    # c1:5 is /dev/zero: the private node opens, but no /dev/vhost-vsock appears at the probed path
    got = _probe_with(monkeypatch, tmp_path, "vhost_vsock vhost-vsock c1:5\n")
    assert got["vhost-vsock"][0] == "unknown"
    assert got["vhost-vsock"][1] == (f"vhost-vsock not loaded: char 1:5 opens (alias char-major-1-5), but "
                                     f"{tmp_path}/dev/vhost-vsock did not appear")
    assert got["vhost-vsock-seqpacket"] == got["vhost-vsock"]
    assert not list(Path("/tmp").glob("vmp-autoload-*")), "the private node directory is removed"


def test_this_hosts_real_report_never_calls_an_unprobed_bit_unsupported() -> None:
    report = linux.LinuxProbe().run(default_catalog())
    for dev, bits in (("vhost-net", ("vhost-net-ring-reset", "vhost-net-in-order")),
                      ("vhost-vsock", ("vhost-vsock-seqpacket",))):
        if report.status(dev) is not FeatureStatus.SUPPORTED:
            assert all(report.status(b) is FeatureStatus.UNKNOWN for b in bits), (dev, bits)
