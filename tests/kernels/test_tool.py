"""The pieces of scripts/real-kernels, on real inputs where the machine has them."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.harness import paths
from tests.harness.realkernels.apt import DebianSource, parse_sources
from tests.harness.realkernels.boot import parse_results
from tests.harness.realkernels.kernel import (
    devname_line,
    extract_vmlinux,
    has_pvh_entry,
    load_order,
    modinfo,
    read_module,
)
from tests.harness.realkernels.matrix import MATRIX, find_spec


def test_sources_deb822_takes_the_release_entry_not_security() -> None:
    text = ("Types: deb\nURIs: http://mirror.example/debian-security\nSuites: bookworm-security\n"
            "Components: main\n\n"
            "Types: deb-src\nURIs: http://src.example/debian\nSuites: bookworm\n\n"
            "Types: deb\nURIs: http://mirror.example/debian\nSuites: bookworm bookworm-updates\n"
            "Components: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n")
    got = parse_sources([("debian.sources", text)], "bookworm")
    assert got == DebianSource(("http://mirror.example/debian",), "/usr/share/keyrings/debian-archive-keyring.gpg")
    security = parse_sources([("debian.sources", text)], "bookworm", "-security")
    assert security == DebianSource(("http://mirror.example/debian-security",), "")


def test_sources_one_line_form_and_disabled_stanzas() -> None:
    disabled = "Enabled: no\nTypes: deb\nURIs: http://old.example/debian\nSuites: bookworm\n"
    line = ("# deb http://commented.example/debian bookworm main\n"
            "deb [signed-by=/k.gpg] http://m.example/debian bookworm main\n")
    got = parse_sources([("a.sources", disabled), ("sources.list", line)], "bookworm")
    assert got == DebianSource(("http://m.example/debian",), "/k.gpg")
    assert parse_sources([("sources.list", line)], "trixie") is None


def test_result_channel_framing_survives_crlf() -> None:
    text = ("VMP-UPTIME booted 3.5\r\nVMP-MODULE tun loaded\r\nVMP-MODULE kvm_amd failed insmod: EEXIST\r\n"
            "VMP-NODE /dev/kvm absent\r\nVMP-BEGIN probe\r\n{\"a\":\r\n 1}\r\n\r\nVMP-END probe 0\r\n"
            "VMP-BEGIN q\r\nVMP-END q 3\r\nVMP-DONE\r\n")
    blocks, codes, modules, nodes, _, uptime, done = parse_results(text)
    assert blocks == {"probe": "{\"a\":\n 1}", "q": ""}
    assert codes == {"probe": 0, "q": 3}
    assert modules == {"tun": "loaded", "kvm_amd": "failed insmod: EEXIST"}
    assert nodes == {"/dev/kvm": False} and uptime == {"booted": 3.5} and done
    assert not parse_results(text.replace("VMP-DONE", ""))[-1]


def test_matrix_names_resolve() -> None:
    assert find_spec("linux-image-6.1.0-50-amd64").suite == "bookworm"
    assert find_spec("6.6.1-amd64@trixie").suite == "trixie"
    with pytest.raises(ValueError, match="@SUITE"):
        find_spec("6.6.1-amd64")
    assert len({e.spec.abi for e in MATRIX}) == len(MATRIX)


def _guest() -> Path:
    d = paths.guest_dir()
    if not (d / "vmlinuz").exists():
        pytest.skip(f"no guest kernel in {d} (scripts/fetch-guest-kernel)")
    return d


def test_vmlinux_from_the_debian_bzimage_is_a_pvh_elf() -> None:
    """The payload the boot header points at decompresses to the ELF kernel, with its PVH entry note."""
    elf = extract_vmlinux((_guest() / "vmlinuz").read_bytes())
    assert elf is not None and elf[:4] == b"\x7fELF" and elf[4] == 2  # ELFCLASS64
    assert has_pvh_entry(elf)
    assert not has_pvh_entry(elf[:0x40])  # no program headers left: no note
    assert extract_vmlinux(b"not a kernel" * 100) is None


def test_module_dependencies_come_from_modinfo() -> None:
    mods = _guest() / "modules"
    info = modinfo(read_module(mods / "virtio_net.ko"))
    assert "net_failover" in info["depends"].split(",")
    index = {p.stem: p for p in mods.glob("*.ko")}
    order, missing, _ = load_order(["virtio_net", "no_such_module"], index, builtin=set())
    assert order == ["failover", "net_failover", "virtio_net"] and missing == ["no_such_module"]
    order, _, _ = load_order(["virtio_net"], index, builtin={"failover"})
    assert order == ["net_failover", "virtio_net"]


def test_devname_line_as_depmod_writes_it() -> None:
    """From a real module's aliases; virtio_net has no device node, so no line."""
    mods = _guest() / "modules"
    assert devname_line("virtio_net", read_module(mods / "virtio_net.ko")) is None
    cached = sorted(Path("/var/cache/vmplatform/real-kernels").glob("*/modules/vhost_net.ko"))
    if not cached:
        pytest.skip("no real-kernels cache with vhost_net (scripts/real-kernels)")
    # include/uapi/linux/major.h MISC_MAJOR 10, include/linux/miscdevice.h VHOST_NET_MINOR 238
    assert devname_line("vhost_net", cached[0].read_bytes()) == "vhost_net vhost-net c10:238"
