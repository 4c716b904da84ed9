"""Run a function in a forked child inside a new user + network namespace.

Used when the caller lacks CAP_NET_ADMIN: inside its own user namespace the
child is root over a private network namespace, so it may create a TAP there;
the namespace and everything in it die with the child.
"""

from __future__ import annotations

import ctypes
import errno
import json
import os
import select
import signal
import time
from collections.abc import Callable
from typing import Any

CLONE_NEWUSER = 0x10000000
CLONE_NEWNET = 0x40000000


def _write(path: str, text: str) -> None:
    with open(path, "w", encoding="ascii") as fh:
        fh.write(text)


def _in_namespace(fn: Callable[[], dict[str, Any]], uid: int, gid: int) -> dict[str, Any]:
    """In the child: enter a new user + network namespace and run ``fn``; an OSError is the answer."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.unshare(CLONE_NEWUSER | CLONE_NEWNET) != 0:
            e = ctypes.get_errno()
            return {"error": errno.errorcode.get(e, str(e)), "errno": e}
        _write("/proc/self/setgroups", "deny")
        _write("/proc/self/uid_map", f"0 {uid} 1")
        _write("/proc/self/gid_map", f"0 {gid} 1")
        return {"result": fn()}
    except OSError as err:
        return {"error": f"{type(err).__name__}: {err}", "errno": err.errno}


# The child only makes a TAP and asks the kernel a few questions: seconds are plenty. A child
# that is still at it by then is killed (and its namespace with it), never waited for.
TIMEOUT = 20.0


def run_in_user_netns(fn: Callable[[], dict[str, Any]], timeout: float = TIMEOUT) -> dict[str, Any]:
    """Return ``fn()`` as computed in the child; OSError if no namespace can be made, or if the
    child gives no answer within ``timeout`` seconds (ETIMEDOUT; the child is killed)."""
    uid, gid = os.getuid(), os.getgid()
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # child: never return into the caller's stack
        code = 1
        try:
            os.close(r)
            os.write(w, json.dumps(_in_namespace(fn, uid, gid)).encode())
            code = 0
        finally:  # whatever was raised, the child ends here; the parent reads what it wrote, if anything
            os._exit(code)
    os.close(w)
    chunks = []
    deadline = time.monotonic() + timeout
    with os.fdopen(r, "rb", buffering=0) as fh:
        while True:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([fh], [], [], left)[0]:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
                raise OSError(errno.ETIMEDOUT, f"user namespace: the probe gave no answer within {timeout:g} s")
            chunk = fh.read(65536)
            if not chunk:
                break
            chunks.append(chunk)
    _, status = os.waitpid(pid, 0)
    try:
        payload = json.loads(b"".join(chunks) or b"{}")
    except json.JSONDecodeError:
        payload = {}
    if not payload:
        payload = {"error": f"the child gave no answer (exit status {os.waitstatus_to_exitcode(status)})"}
    if "result" not in payload:
        raise OSError(payload.get("errno") or errno.EPERM, f"user namespace: {payload.get('error')}")
    result: dict[str, Any] = payload["result"]
    return result
