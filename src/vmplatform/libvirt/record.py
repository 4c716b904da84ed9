"""What the hook hands the ``<emulator>`` front-end for one domain start.

libvirt runs a domain's ``<emulator>`` as the unprivileged QEMU user
(``libvirt-qemu`` on Debian) with a fixed environment and only the QEMU argv
(``-name guest=NAME,...``, ``-uuid UUID``). The domain XML with its
``<metadata>`` is not reachable from there: libvirt writes the status XML
/run/libvirt/qemu/NAME.xml before it execs the emulator, but mode 0600 root
(seen with libvirtd 11.3), and /etc/libvirt/qemu/NAME.xml exists only for
persistent domains, also 0600 root. Nor can that user probe TAP (no
CAP_NET_ADMIN: the probe reads ``unknown``).

So the hook, which libvirt runs as root with the domain XML on stdin just
before (``prepare begin``), writes a record for domains whose ``<emulator>`` is
``vmplatform-qemu``: the domain's manifest (or none), this host's report from
the root probe, and the machine catalog of the QEMU that will run, imported
into a cache the emulator can read. The emulator finds it by the ``-uuid``
libvirt passes; the hook removes it at ``release end``. No record means the
hook is not installed, and the emulator refuses rather than guess.

Layout: ``/run/vmplatform-libvirt/UUID.json`` (0644; the directory 0755) and
``/run/vmplatform-libvirt/cache`` (the machine catalogs).
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import TYPE_CHECKING

from vmplatform.records import record

if TYPE_CHECKING:
    from vmplatform.model.machines import MachineCatalog
    from vmplatform.model.report import HostReport
    from vmplatform.resolution.manifest import Manifest

DIR_ENV = "VMPLATFORM_LIBVIRT_RECORD_DIR"   # for tests and unusual layouts; libvirt passes no environment
DEFAULT_DIR = "/run/vmplatform-libvirt"
SCHEMA = "vmplatform/libvirt-start/1"
_UUID = re.compile(r"^[0-9a-fA-F-]{32,36}$")


def record_dir() -> Path:
    return Path(os.environ.get(DIR_ENV) or DEFAULT_DIR)


def cache_dir() -> Path:
    return record_dir() / "cache"


def machine_catalog(qemu: str) -> MachineCatalog:
    """The machine catalog of ``qemu``, cached in :func:`cache_dir` (imported there on first use):
    root imports it for the unprivileged emulator, whose own cache would be per domain."""
    from vmplatform.qemu.binary import CACHE_ENV, machine_catalog_of

    old = os.environ.get(CACHE_ENV)
    os.environ[CACHE_ENV] = str(cache_dir())
    try:
        return machine_catalog_of(qemu)
    finally:
        if old is None:
            del os.environ[CACHE_ENV]
        else:
            os.environ[CACHE_ENV] = old


def _path(uuid: str) -> Path:
    if not _UUID.match(uuid):
        raise ValueError(f"not a UUID: {uuid!r}")
    return record_dir() / f"{uuid.lower()}.json"


def uuid_of(xml: str) -> str | None:
    m = re.search(r"<uuid>\s*([0-9a-fA-F-]+)\s*</uuid>", xml)
    return m.group(1) if m else None


@record
class StartRecord:
    name: str
    uuid: str
    manifest: Manifest | None
    report: HostReport
    qemu: str                 # the real QEMU the emulator execs


def write(name: str, uuid: str, manifest_json: object, report_json: object, qemu: str) -> Path:
    d = record_dir()
    d.mkdir(mode=0o755, parents=True, exist_ok=True)
    os.chmod(d, 0o755)
    path = _path(uuid)
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_text(json.dumps({"schema": SCHEMA, "name": name, "uuid": uuid, "manifest": manifest_json,
                               "host-report": report_json, "qemu": qemu}, sort_keys=True) + "\n",
                   encoding="utf-8")
    os.chmod(tmp, 0o644)
    os.replace(tmp, path)
    return path


def remove(uuid: str) -> None:
    try:
        _path(uuid).unlink(missing_ok=True)
    except (OSError, ValueError):
        pass


def read(uuid: str) -> StartRecord | None:
    """The record for ``uuid``; None when the hook wrote none."""
    from vmplatform.errors import VmplatformError
    from vmplatform.model.report import loads as load_report
    from vmplatform.resolution.manifest import loads as load_manifest

    path = _path(uuid)
    try:
        obj = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as err:
        raise VmplatformError(f"{path}: unreadable start record: {err}",
                              "restart the domain (the hook writes it again at 'prepare begin')") from err
    if not isinstance(obj, dict) or obj.get("schema") != SCHEMA:
        raise VmplatformError(f"{path}: not a vmplatform start record",
                              "restart the domain (the hook writes it again at 'prepare begin')")
    m = obj.get("manifest")
    manifest = load_manifest(json.dumps(m), f"{path}: manifest") if m is not None else None
    report = load_report(json.dumps(obj.get("host-report")), f"{path}: host-report")
    return StartRecord(str(obj.get("name", "")), str(obj.get("uuid", uuid)), manifest, report,
                       str(obj.get("qemu", "")))
