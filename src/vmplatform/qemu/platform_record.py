"""The platform in effect, recorded inside the running QEMU, and the accelerator it runs under.

``vmplatform qemu`` adds ``-object authz-simple,id=vmplatform-platform,
identity=NAME`` to the argv it execs. Anyone holding the VM's QMP socket
reads it back with ``qom-get /objects/vmplatform-platform identity``: the QMP
endpoint (hot-plug pins, ``query-platform-dependencies``), ``analyze --qmp``,
``check --qmp`` and ``vmplatform migrate``, without ``--platform`` repeated.

Why this object: ``authz-simple`` (QEMU's authz/simple.c) is a user-creatable
object with one string property and no effect unless a VNC server or chardev
names it in ``tls-authz``, which nothing does with this id. It has no
vmstate, so it is neither migrated nor guest-visible: source and destination
each carry their own, which is what lets ``vmplatform migrate`` compare them
(tests/qmp/test_platform_record.py migrates between VMs whose records differ).
It exists in every QEMU since 4.0 and needs no extra module.

A destination started with ``-incoming`` must carry its source's platform,
named explicitly (:func:`require_explicit_platform`): the host's own default
is for fresh starts only.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

from vmplatform.errors import UsageError
from vmplatform.model.accel import Accel

OBJECT_ID = "vmplatform-platform"
OBJECT_TYPE = "authz-simple"
OBJECT_PATH = f"/objects/{OBJECT_ID}"
PROPERTY = "identity"

INCOMING_NEEDS_PLATFORM = ("an incoming VM must run its source's platform: pass -platform X; "
                           "the source's query-platform-dependencies says which")


def record_args(platform: str) -> list[str]:
    """The ``-object`` arguments recording ``platform`` (QemuOpts escapes ``,`` as ``,,``)."""
    return ["-object", f"{OBJECT_TYPE},id={OBJECT_ID},{PROPERTY}={platform.replace(',', ',,')}"]


def _option_values(argv: Sequence[str], names: tuple[str, ...]) -> list[str]:
    out = []
    for i, tok in enumerate(argv[:-1]):
        if ("-" + tok.lstrip("-") if tok.startswith("--") else tok) in names:
            out.append(argv[i + 1])
    return out


def recorded_in_argv(argv: Sequence[str]) -> str | None:
    """The platform an argv already records (a re-run of an argv the front-end wrote)."""
    for value in _option_values(argv, ("-object",)):
        if value.lstrip().startswith("{"):
            import json

            try:
                obj = json.loads(value)
            except ValueError:
                continue
            if isinstance(obj, dict) and obj.get("id") == OBJECT_ID and isinstance(obj.get(PROPERTY), str):
                return str(obj[PROPERTY])
            continue
        parts = value.replace(",,", "\0").split(",")
        props = dict(p.partition("=")[::2] for p in parts[1:])
        if parts[0] == OBJECT_TYPE and props.get("id") == OBJECT_ID and PROPERTY in props:
            return props[PROPERTY].replace("\0", ",")
    return None


def is_incoming(argv: Sequence[str]) -> bool:
    """True when QEMU would wait for an incoming migration (``-incoming URI`` or ``defer``)."""
    return bool(_option_values(argv, ("-incoming",)))


def require_explicit_platform(argv: Sequence[str], platform_spec: str | None) -> None:
    """Refuse an ``-incoming`` VM whose platform would be this host's default."""
    if platform_spec is None and recorded_in_argv(argv) is None and is_incoming(argv):
        raise UsageError(INCOMING_NEEDS_PLATFORM,
                         "on the source: vmplatform qmp ... then {\"execute\": \"query-platform-dependencies\"}, "
                         "or read it with 'vmplatform analyze --qmp SOCKET'")


def with_record(argv: list[str], platform: str) -> list[str]:
    """``argv`` plus the record of ``platform``; refuses an argv recording another one."""
    already = recorded_in_argv(argv)
    if already is None:
        return argv + record_args(platform)
    if already != platform:
        raise UsageError(f"the argv records platform {already} (-object {OBJECT_TYPE},id={OBJECT_ID}) "
                         f"but -platform says {platform}", "drop one of them")
    return argv


#: Runs one QMP command and returns its ``return`` value.
Execute = Callable[[str, Mapping[str, object] | None], Awaitable[Any]]


async def read_recorded_platform(execute: Execute) -> str | None:
    """The platform the running VM records, or None when it carries no record.

    QEMU's error reply to ``qom-get`` (DeviceNotFound for a VM started
    without the front-end) means "no record"; a connection that is gone is
    the caller's error, raised as it is.
    """
    from vmplatform.qmp.local import LocalCommandError  # Execute's error reply (module imports this one)

    try:
        value = await execute("qom-get", {"path": OBJECT_PATH, "property": PROPERTY})
    except LocalCommandError:
        return None
    return value if isinstance(value, str) and value else None


async def read_running_accel(execute: Execute) -> Accel:
    """The accelerator the running VM uses: KVM when ``query-kvm`` says it is enabled, else TCG."""
    kvm = await execute("query-kvm", None)
    return Accel.KVM if isinstance(kvm, dict) and kvm.get("enabled") else Accel.TCG
