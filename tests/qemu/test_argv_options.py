"""One reader of QEMU's argv options: `vmplatform qemu` (-platform, -platform help's accelerator), the
front-end and `vmplatform-qemu` (-name, -uuid, -platform) all ask vmplatform.qemu.argv."""

from __future__ import annotations

import pytest

from vmplatform.cli import qemu as cli_qemu
from vmplatform.errors import UsageError
from vmplatform.libvirt import emulator
from vmplatform.model.accel import Accel
from vmplatform.qemu.argv import named_accel, option_value, options, without_option

# libvirt's own form of a domain start (abridged from a libvirtd 11.3 command line)
LIBVIRT = ["-name", "guest=vm1,debug-threads=on", "-S", "-machine", "pc-q35-10.0,usb=off,dump-guest-core=off",
           "-accel", "kvm", "-uuid", "3f2c0000-0000-4000-8000-000000000001", "-no-user-config", "-nodefaults",
           "-device", '{"driver":"virtio-net-pci","netdev":"hostnet0","id":"net0"}']


def test_a_value_is_never_read_as_an_option() -> None:
    # "-platform" here is the value of -append, not an option: QEMU would boot with that command line
    argv = ["-append", "-platform", "-platform", "linux-6.1", "-m", "512"]
    assert option_value(argv, "-platform") == "linux-6.1"
    assert without_option(argv, "-platform") == ["-append", "-platform", "-m", "512"]
    assert [o.name for o in options(argv)] == ["-append", "-platform", "-m"]


def test_double_dash_spellings_are_the_same_option() -> None:
    assert option_value(["--platform", "linux-6.1"], "-platform") == "linux-6.1"
    assert without_option(["-m", "1G", "--platform", "x", "-S"], "-platform") == ["-m", "1G", "-S"]
    assert option_value(["-S", "-m", "1G"], "-platform") is None


def test_an_option_without_its_value_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="-platform needs an argument"):
        option_value(["-m", "1G", "-platform"], "-platform")


@pytest.mark.parametrize(("argv", "want"), [
    (["-machine", "q35,accel=kvm:tcg"], Accel.KVM),
    (["-machine", "none,accel=tcg"], Accel.TCG),
    (["-accel", "tcg"], Accel.TCG),
    (["-accel", "accel=kvm"], Accel.KVM),
    (["-enable-kvm"], Accel.KVM),
    (["-machine", "q35"], None),                          # none named: the host's
    (["-name", "kvm-guest", "-accel", "tcg"], Accel.TCG),  # a name is not an accelerator
    (["-accel", "nosuch"], None),                         # QEMU refuses it itself
])
def test_the_accelerator_for_platform_help(argv: list[str], want: Accel | None) -> None:
    assert cli_qemu._help_accel(argv) is want


def test_named_accel_is_the_model_readers() -> None:
    from vmplatform.qemu.argv import parse

    for argv in (["-machine", "q35,accel=kvm"], ["-accel", "tcg", "-machine", "q35,accel=kvm"],
                 ["-machine", "q35,accel=kvm", "-accel", "tcg"]):
        named = named_accel(argv)
        assert named is not None and named.value == parse(argv).accel


def test_emulator_reads_libvirts_argv() -> None:
    assert emulator.guest_name(LIBVIRT) == "vm1"
    assert emulator._option(LIBVIRT, "-uuid") == "3f2c0000-0000-4000-8000-000000000001"
    assert emulator._option(LIBVIRT, "-platform") is None
    # an argv QEMU itself rejects is passed to it: no guest name, no traceback
    assert emulator.guest_name(["-S", "-machine"]) is None
