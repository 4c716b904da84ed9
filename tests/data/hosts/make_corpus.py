"""Regenerate the catalog-derived host reports in this directory.

SYNTHETIC: real kernels we cannot boot here (EL9's 5.14, Ubuntu 24.04's 6.8,
...) are described by the platform definition of that kernel: every feature
the platform guarantees is 'supported', the optional features are set as a
typical root-run KVM host of that distro has them, everything else is
'unsupported'. The evidence of every entry says so; these are simulated hosts,
not probe output, and are used for CLI shapes (distro identities, a fleet of
mixed kernels) that no machine reachable here has. Because "host X supports
platform X" is true by construction for them, facts are never checked on
them alone: tests/oracles holds the independent expectations (the verdict
table with its reasoning, platform contents against real kernels), and real
probe output lives in tests/data/probed and tests/data/kernels.
vm-debian12-6.18-pvm.json is real probe output of a CI machine ('vmplatform
probe --json').

    .venv/bin/python tests/data/hosts/make_corpus.py
"""

from __future__ import annotations

from pathlib import Path

from vmplatform.model.features import default_catalog
from vmplatform.model.platforms import load_platforms
from vmplatform.model.report import dumps
from vmplatform.probe.fake import FakeHost

HERE = Path(__file__).parent
TYPICAL_OPTIONAL = {"vhost-net", "vhost-vsock", "ebpf-rss", "kvm-smm", "kvm-hyperv-cpuid", "kvm-tsc-control",
                    "thp-pmd-2m"}

# host name -> (platform describing its kernel, kernel release, os-release)
HOSTS = {
    "el9-5.14": ("linux-rhel-9.5", "5.14.0-503.11.1.el9_5.x86_64",
                 {"ID": "rhel", "ID_LIKE": "fedora", "VERSION_ID": "9.5",
                  "PRETTY_NAME": "Red Hat Enterprise Linux 9.5 (Plow)"}),
    "el8-4.18": ("linux-rhel-8.10", "4.18.0-553.el8_10.x86_64",
                 {"ID": "rhel", "ID_LIKE": "fedora", "VERSION_ID": "8.10",
                  "PRETTY_NAME": "Red Hat Enterprise Linux 8.10 (Ootpa)"}),
    "ubuntu2404-6.8": ("linux-ubuntu-24.04", "6.8.0-45-generic",
                       {"ID": "ubuntu", "ID_LIKE": "debian", "VERSION_ID": "24.04",
                        "PRETTY_NAME": "Ubuntu 24.04.1 LTS"}),
    "ubuntu2204-5.15": ("linux-ubuntu-22.04", "5.15.0-122-generic",
                        {"ID": "ubuntu", "ID_LIKE": "debian", "VERSION_ID": "22.04",
                         "PRETTY_NAME": "Ubuntu 22.04.5 LTS"}),
    "debian12-6.1": ("linux-debian-12", "6.1.0-26-amd64",
                     {"ID": "debian", "VERSION_ID": "12", "PRETTY_NAME": "Debian GNU/Linux 12 (bookworm)"}),
    "debian13-6.12": ("linux-debian-13", "6.12.48+deb13-amd64",
                      {"ID": "debian", "VERSION_ID": "13", "PRETTY_NAME": "Debian GNU/Linux 13 (trixie)"}),
}


def main() -> None:
    cat = default_catalog()
    platforms = load_platforms(env={}, system=None)
    for name, (plat_name, release, osr) in HOSTS.items():
        plat = platforms.get(plat_name)
        host = FakeHost(hostname=name, kernel_release=release, supported=plat.features | TYPICAL_OPTIONAL,
                        os_release=osr, evidence_note=f"simulated from platform {plat_name} (no probe run)")
        (HERE / f"{name}.json").write_text(dumps(host.run(cat)))
        print(f"wrote {name}.json from {plat_name}")


if __name__ == "__main__":
    main()
