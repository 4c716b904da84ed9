"""The captured corpus under tests/data (hosts, domains, networks, manifests),
and the package's console scripts as the tests run them."""

from __future__ import annotations

from pathlib import Path

from vmplatform.model.report import HostReport, loads

DATA = Path(__file__).parent.parent / "data"
HOSTS = DATA / "hosts"
DOMAINS = DATA / "domains"
NETWORKS = DATA / "networks"
MANIFESTS = DATA / "manifests"
CORPUS = sorted(p.stem for p in HOSTS.glob("*.json"))


def report(name: str) -> HostReport:
    path = HOSTS / f"{name}.json"
    return loads(path.read_text(), str(path))


def console_script(name: str, module: str, where: Path) -> Path:
    """The package's console script ``name``: the one installed next to this interpreter (sysconfig's
    scripts directory of the venv running the tests), else a wrapper in ``where`` that runs ``module``
    with this interpreter - so tests never depend on what is on PATH."""
    import sys
    import sysconfig

    import vmplatform

    installed = Path(sysconfig.get_path("scripts")) / name
    if installed.exists():
        return installed
    src = Path(vmplatform.__file__).resolve().parent.parent
    wrapper = where / name
    wrapper.write_text(f"#!/bin/sh\nPYTHONPATH={src} exec {sys.executable} -m {module} \"$@\"\n")
    wrapper.chmod(0o755)
    return wrapper
