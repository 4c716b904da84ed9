"""`vmplatform check --domain-xml`: the manifest in <metadata>, and the pins the XML must still carry."""

from __future__ import annotations

import re
from pathlib import Path

from tests.conftest import run_cli

DATA = Path(__file__).parent.parent / "data"
EL9 = str(DATA / "hosts" / "el9-5.14.json")
UBUNTU = str(DATA / "hosts" / "ubuntu2404-6.8.json")
WEB1 = str(DATA / "domains" / "web1-kvm.xml")
NET = ("--network-xml", str(DATA / "networks" / "default.xml"))  # web1's <interface type='network'>


def _pinned(tmp_path: Path, host: str) -> Path:
    out = tmp_path / "web1.xml"
    rc, _, err = run_cli(["libvirt", "pin", "--host", host, *NET, "--domain-xml", WEB1, "-o", str(out)])
    assert rc == 0, err
    return out


def test_pinned_domain_passes_and_refuses_where_the_host_lacks_a_feature(tmp_path: Path) -> None:
    pinned = _pinned(tmp_path, UBUNTU)     # pinned to Ubuntu 24.04's default: USO on
    rc, out, _ = run_cli(["check", *NET, "--domain-xml", str(pinned), "--host", UBUNTU])
    assert rc == 0
    assert out.startswith(("identical: host ubuntu2404-6.8 can run this VM", "superset: host ubuntu2404-6.8 can"))
    rc, _, err = run_cli(["check", *NET, "--domain-xml", str(pinned), "--host", EL9])
    assert rc == 1
    assert err.startswith("incompatible: host el9-5.14 lacks tap-uso (Linux >= 6.2 / platform linux-6.2) required "
                          "by virtio-net-pci net0 host_uso=on")
    assert "lacks vhost-net-ring-reset (Linux >= 6.3 / platform linux-6.3)" in err


def test_domain_that_lost_its_pins_is_incompatible(tmp_path: Path) -> None:
    pinned = _pinned(tmp_path, EL9)        # RHEL 9.5: USO pinned off through <qemu:override>
    assert run_cli(["check", *NET, "--domain-xml", str(pinned), "--host", EL9])[0] == 0
    stripped = tmp_path / "stripped.xml"
    stripped.write_text(re.sub(r"<qemu:override>.*?</qemu:override>", "", pinned.read_text(), flags=re.S))
    rc, _, err = run_cli(["check", *NET, "--domain-xml", str(stripped), "--host", EL9])
    assert rc == 1
    assert err.startswith("incompatible: the domain XML no longer carries its pinned properties: net0 host_uso is "
                          "on in the XML, the manifest pins off")


def test_domain_without_manifest_is_a_bad_input_file() -> None:
    """The command line is right; the file it names cannot be checked: exit 1, not 2."""
    rc, _, err = run_cli(["check", *NET, "--domain-xml", WEB1, "--host", EL9])
    assert rc == 1
    assert f"{WEB1}: the domain has no vmplatform manifest in <metadata>" in err
    assert "vmplatform libvirt pin --domain-xml FILE" in err
