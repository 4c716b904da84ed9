"""Probe specs: one typed class per probe method, read from the catalog with file:line errors."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from vmplatform.errors import DataFileError
from vmplatform.model import _toml, probe_spec
from vmplatform.model.features import default_catalog, load_catalog
from vmplatform.model.fields import Document, Fields
from vmplatform.model.probe_spec import KvmCapability, TunFeatures, TunOffload, VhostFeatures

FEATURE = """\
[[feature]]
id = "x"
summary = "a feature"
category = "optional"
applies-to = "any"

[feature.probe]
{probe}
"""


def _load(tmp_path: Path, probe: str) -> probe_spec.ProbeSpec:
    path = tmp_path / "features.toml"
    path.write_text(FEATURE.format(probe=probe))
    return load_catalog(path).get("x").probe


def _error(tmp_path: Path, probe: str) -> DataFileError:
    with pytest.raises(DataFileError) as info:
        _load(tmp_path, probe)
    return info.value


def test_each_method_reads_into_its_own_class(tmp_path: Path) -> None:
    assert _load(tmp_path, 'method = "tun-offload"\noffloads = ["TUN_F_CSUM", "TUN_F_USO4"]') == \
        TunOffload(("TUN_F_CSUM", "TUN_F_USO4"), 0x21)
    assert _load(tmp_path, 'method = "kvm-vm-extension"\ncapability = "KVM_CAP_X86_SMM"\nnumber = 117') == \
        KvmCapability("KVM_CAP_X86_SMM", 117, on_vm=True)
    assert _load(tmp_path, 'method = "vhost-features"\ndevice = "/dev/vhost-net"\nbit = 40') == \
        VhostFeatures("/dev/vhost-net", 40)
    assert _load(tmp_path, 'method = "tun-features"\nflag = "IFF_MULTI_QUEUE"') == TunFeatures("IFF_MULTI_QUEUE",
                                                                                              0x100)


def test_the_packaged_catalog_reads_back_from_its_json() -> None:
    """Every packaged spec written as JSON (what 'features --json' shows) reads back as the same spec."""
    for feat in default_catalog():
        obj = feat.probe.to_json()
        again = probe_spec.parse(Fields({**obj, "source": feat.probe.source}, Document("j", DataFileError), "probe"))
        assert again == feat.probe, feat.id


def test_the_packaged_masks_agree_with_the_names_in_the_source() -> None:
    """The offload masks in data/features.toml, read by tomllib itself, are the ones the names give."""
    raw = tomllib.loads((_toml.DATA_DIR / "features.toml").read_text())
    seen = 0
    for entry in raw["feature"]:
        probe = entry["probe"]
        if probe["method"] == "tun-offload":
            spec = default_catalog().get(entry["id"]).probe
            assert isinstance(spec, TunOffload)
            assert spec.mask == probe["mask"] and spec.offloads == tuple(probe["offloads"])
            seen += 1
    assert seen >= 2


@pytest.mark.parametrize(("probe", "place", "problem"), [
    ('method = "tun-magic"', "feature[0].probe.method",
     "unknown probe method 'tun-magic' (known: bpf-prog-load, file-value, kvm-extension, kvm-vm-extension, "
     "sysconf, tun-features, tun-offload, tun-steering-ebpf, vhost-features)"),
    ('method = "tun-offload"\noffloads = ["TUN_F_CSUM", "TUN_F_NOPE"]', "feature[0].probe.offloads",
     "unknown name 'TUN_F_NOPE' (known: TUN_F_CSUM, TUN_F_TSO4, TUN_F_TSO6, TUN_F_TSO_ECN, TUN_F_UFO, "
     "TUN_F_USO4, TUN_F_USO6, TUN_F_UDP_TUNNEL_GSO, TUN_F_UDP_TUNNEL_GSO_CSUM)"),
    ('method = "tun-offload"\noffloads = ["TUN_F_CSUM", "TUN_F_UFO"]\nmask = 0x12', "feature[0].probe.mask",
     "'mask' is 0x12 but the names give 0x11"),
    ('method = "tun-features"\nflag = "IFF_VNET_HDR"\nflag-value = 0x100', "feature[0].probe.flag-value",
     "'flag-value' is 0x100 but the names give 0x4000"),
    ('method = "vhost-features"\nbit = 3', "feature[0].probe.device", "missing"),
    ('method = "vhost-features"\ndevice = "/dev/vhost-net"\nbit = 64', "feature[0].probe.bit",
     "bit 64 is outside 0..63 (VHOST_GET_FEATURES answers 64 bits)"),
    ('method = "kvm-extension"\ncapability = "KVM_CAP_X"\nnumber = "7"', "feature[0].probe.number",
     "must be an integer, not a string"),
    ('method = "sysconf"\nname = "SC_PAGESIZE"\nequals = 4096\ndevice = "/dev/x"', "feature[0].probe.device",
     "unknown key 'device' (allowed: equals, method, name, source)"),
])
def test_a_bad_spec_names_file_line_place_and_problem(tmp_path: Path, probe: str, place: str,
                                                      problem: str) -> None:
    err = _error(tmp_path, probe)
    assert (err.path, err.place, err.problem) == (str(tmp_path / "features.toml"), place, problem)
    if problem.startswith("missing"):
        assert err.line is None  # no line holds a key that is not there
        return
    assert err.line is not None
    assert FEATURE.format(probe=probe).splitlines()[err.line - 1].startswith(place.rsplit(".", 1)[1])
