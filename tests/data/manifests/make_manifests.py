"""Regenerate the manifests in this directory: one VM analysed on every host of
../hosts, with --scope host and with the host's default platform.

The VM is a typical KVM guest with one virtio NIC on a TAP backend (no vhost,
so every host in the corpus can run it). On a host without KVM SMM (the PVM
host) it is the same guest with smm=off: a q35 KVM guest keeps SMM under every
platform from linux-4.2, and such a host refuses it::

    .venv/bin/python tests/data/manifests/make_manifests.py

tests/compat/test_corpus.py checks that these files are what 'vmplatform
analyze' writes today (analysing the same VM twice is byte-identical).
"""

from __future__ import annotations

import contextlib
import io
from pathlib import Path

HERE = Path(__file__).parent
HOSTS = HERE.parent / "hosts"
VM_ARGV = ["-machine", "pc-q35-10.0", "-accel", "kvm", "-netdev", "tap,id=n0,script=no,downscript=no",
           "-device", "virtio-net-pci,netdev=n0,id=net0"]
SCOPES = {"host": ["--scope", "host"], "default": []}


def vm_argv(host: str) -> list[str]:
    from vmplatform.model.report import FeatureStatus, loads

    report = loads((HOSTS / f"{host}.json").read_text())
    if report.status("kvm-smm") is FeatureStatus.SUPPORTED:
        return VM_ARGV
    return [VM_ARGV[0], VM_ARGV[1] + ",smm=off", *VM_ARGV[2:]]


def host_names() -> list[str]:
    return sorted(p.stem for p in HOSTS.glob("*.json"))


def manifest_text(host: str, scope: str) -> str:
    from vmplatform.cli import main

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        rc = main(["analyze", "--host", str(HOSTS / f"{host}.json"), *SCOPES[scope], "--", *vm_argv(host)])
    if rc != 0:
        raise SystemExit(f"analyze failed for {host} ({scope})")
    return out.getvalue()


def main() -> None:
    for host in host_names():
        for scope in SCOPES:
            path = HERE / f"{host}-{scope}.json"
            path.write_text(manifest_text(host, scope))
            print(f"wrote {path.name}")


if __name__ == "__main__":
    main()
