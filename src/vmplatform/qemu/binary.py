"""Which QEMU binary to run. Kept apart from qemu_proc (asyncio) so the
front-end can find QEMU without paying for an asyncio import."""

from __future__ import annotations

import os
import shutil
from typing import TYPE_CHECKING

from vmplatform.errors import QemuError

if TYPE_CHECKING:
    from vmplatform.model.machines import MachineCatalog

QEMU_ENV = "VMPLATFORM_QEMU"


def find_qemu(explicit: str | None = None) -> str:
    """``explicit``, else $VMPLATFORM_QEMU, else qemu-system-x86_64 on PATH."""
    cand = explicit or os.environ.get(QEMU_ENV) or "qemu-system-x86_64"
    path = shutil.which(cand)
    if path is None:
        raise QemuError(f"QEMU binary '{cand}' not found",
                        "install qemu-system-x86 (Debian: apt-get install -t bookworm-backports "
                        "qemu-system-x86) or pass --qemu-binary / set VMPLATFORM_QEMU")
    return path


CACHE_ENV = "VMPLATFORM_CACHE_DIR"


def cache_dir() -> str:
    """$VMPLATFORM_CACHE_DIR, else $XDG_CACHE_HOME/vmplatform, else ~/.cache/vmplatform."""
    explicit = os.environ.get(CACHE_ENV)
    if explicit:
        return explicit
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "vmplatform")


def catalog_path(binary: str) -> str:
    """Where the machine catalog of ``binary`` is cached: one file per real path, size and mtime,
    so an upgraded QEMU (new version, same path) is imported again."""
    import hashlib

    real = os.path.realpath(binary)
    try:
        st = os.stat(real)
    except OSError as err:
        raise QemuError(f"QEMU binary '{binary}': {err.strerror}") from err
    key = hashlib.sha256(f"{real}\0{st.st_size}\0{st.st_mtime_ns}".encode()).hexdigest()[:16]
    return os.path.join(cache_dir(), "machines", f"{os.path.basename(real)}-{key}.json")


def machine_catalog_of(binary: str) -> MachineCatalog:
    """The machine catalog of the QEMU that will run: cached, else imported from it now (a few seconds,
    once per binary version). A binary it cannot be imported from is refused, never replaced by the
    packaged snapshot of another QEMU."""
    import json
    from pathlib import Path

    from vmplatform.model.machines import load_machine_catalog

    path = catalog_path(binary)
    if os.path.exists(path):
        return load_machine_catalog(Path(path))
    from vmplatform.model.features import default_catalog
    from vmplatform.qemu.catalog_import import import_from_qemu
    from vmplatform.qemu.qmp_boundary import QmpLibraryMissing

    try:
        data = import_from_qemu(binary, default_catalog())
    except QmpLibraryMissing as err:
        raise QemuError(f"cannot read the machine types of {binary}: {err.message}",
                        "install the QMP extra (pip install 'vmplatform[qmp]') or pass --machine-catalog FILE") \
            from err
    except QemuError as err:
        raise QemuError(f"cannot read the machine types of {binary}: {err.message}",
                        "vmplatform pins properties from the QEMU that runs (QEMU >= 9.1 with QMP); pass "
                        "--machine-catalog FILE written by 'vmplatform machines import' to use another") from err
    except (KeyError, TypeError, ValueError) as err:  # replies shaped unlike QEMU's: not a QEMU we can import
        raise QemuError(f"cannot read the machine types of {binary}: {err}",
                        "vmplatform pins properties from the QEMU that runs (QEMU >= 9.1 with QMP); pass "
                        "--machine-catalog FILE written by 'vmplatform machines import' to use another") from err
    text = json.dumps(data, indent=1) + "\n"
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        tmp = f"{path}.{os.getpid()}.tmp"
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, path)  # atomic: parallel first uses never see half a file
    except OSError:
        from vmplatform.model.machines import from_json_obj

        return from_json_obj(data, f"{binary} (imported, cache {path} not writable)")
    return load_machine_catalog(Path(path))
