"""The real probe on this machine's kernel: real ioctls on a real TAP."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap

import pytest

from tests.harness.requirements import missing_root, missing_tun, running_kernel, skip_unless
from vmplatform.model.features import default_catalog
from vmplatform.model.report import FeatureStatus, dumps, loads
from vmplatform.probe.linux import LinuxProbe

pytestmark = pytest.mark.root


def _tap_links() -> set[str]:
    out = subprocess.run(["ip", "-o", "link", "show"], capture_output=True, text=True, check=True).stdout
    return {line.split(":")[1].strip().split("@")[0] for line in out.splitlines() if "vmpprobe" in line}


def test_probe_covers_catalog_with_evidence_and_timing() -> None:
    skip_unless(missing_root, missing_tun)
    cat = default_catalog()
    report = LinuxProbe().run(cat)
    assert [r.feature for r in report] == cat.ids()
    assert report.probe_mode == "root"
    assert report.host.kernel_release == os.uname().release
    for r in report:
        assert r.evidence.check and r.evidence.outcome
        assert r.evidence.duration_us >= 0
    assert loads(dumps(report)).results == report.results


def test_probe_matches_kernel_release_for_tap_features() -> None:
    """tap-vnet-hdr and tap-ufo are in every kernel we run on; tap-uso from 6.2."""
    skip_unless(missing_root, missing_tun)
    report = LinuxProbe().run(default_catalog())
    assert report.status("tap-vnet-hdr") is FeatureStatus.SUPPORTED
    assert report.status("tap-ufo") is FeatureStatus.SUPPORTED
    want = FeatureStatus.SUPPORTED if running_kernel() >= (6, 2) else FeatureStatus.UNSUPPORTED
    assert report.status("tap-uso") is want
    assert "TUNSETOFFLOAD" in report.reason("tap-uso")


def test_probe_leaves_no_interface_behind() -> None:
    skip_unless(missing_root, missing_tun)
    seen: list[str] = []
    before = _tap_links()
    LinuxProbe(on_tap=lambda name: seen.append(name) or seen.extend(_tap_links())).run(default_catalog())
    assert seen and seen[0].startswith("vmpprobe")
    assert seen[0] in seen[1:], "the TAP should exist while the probe runs"
    assert _tap_links() == before


def test_killed_mid_probe_leaves_nothing() -> None:
    """SIGKILL while the TAP exists: the kernel removes it with the last fd."""
    skip_unless(missing_root, missing_tun)
    code = textwrap.dedent("""
        import sys, time
        from vmplatform.model.features import default_catalog
        from vmplatform.probe.linux import LinuxProbe
        def hold(name):
            print(name, flush=True)
            time.sleep(60)
        LinuxProbe(on_tap=hold).run(default_catalog())
    """)
    with subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True) as proc:
        try:
            assert proc.stdout is not None
            name = proc.stdout.readline().strip()
            assert name.startswith("vmpprobe")
            assert name in _tap_links()
        finally:
            proc.send_signal(signal.SIGKILL)
            proc.wait()
    assert name not in _tap_links()


def _probe_as_nobody(*extra: str) -> subprocess.CompletedProcess[str]:
    cmd = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--inh-caps=-all",
           "--bounding-set=-all", sys.executable, "-m", "vmplatform", "probe", "--json", *extra]
    return subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "HOME": "/tmp"}, cwd="/")


def _nobody_gets_net_admin_in_a_user_namespace() -> bool:
    """Whether an unprivileged user, in a user + network namespace of its own, holds CAP_NET_ADMIN
    there: asked of unshare(1) and /proc, not of the probe."""
    cmd = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--inh-caps=-all",
           "--bounding-set=-all", "unshare", "--user", "--map-root-user", "--net", "cat", "/proc/self/status"]
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd="/")
    if proc.returncode != 0:
        return False
    eff = next(line.split()[1] for line in proc.stdout.splitlines() if line.startswith("CapEff:"))
    cap_net_admin = 12   # linux/capability.h
    return bool(int(eff, 16) >> cap_net_admin & 1)


@pytest.mark.parametrize("tun_mode", [0o666, 0o600], ids=["tun-0666-debian-default", "tun-0600"])
def test_unprivileged_probe_answers(tun_mode: int) -> None:
    """Without CAP_NET_ADMIN the probe still answers: through a user + network namespace where
    /dev/net/tun is open to users (Debian's default 0666), else unknown with the reason."""
    skip_unless(missing_root, missing_tun)
    if subprocess.run(["which", "setpriv"], capture_output=True).returncode != 0:
        pytest.skip("no setpriv (util-linux) to drop privileges")
    old_mode = os.stat("/dev/net/tun").st_mode & 0o777
    os.chmod("/dev/net/tun", tun_mode)
    try:
        out = _probe_as_nobody()
        no_userns = _probe_as_nobody("--no-userns")
    finally:
        os.chmod("/dev/net/tun", old_mode)
    assert out.returncode == 0, out.stderr
    report = loads(out.stdout)
    tun = [r for r in report if r.feature.startswith(("tap-", "tun-"))]
    # /dev/net/tun is root's: only 0666 lets the namespace's root (an unmapped nobody) open it
    in_namespace = tun_mode == 0o666 and _nobody_gets_net_admin_in_a_user_namespace()
    assert report.probe_mode == ("user-namespace" if in_namespace else "unprivileged")
    if in_namespace:
        assert report.status("tap-vnet-hdr") is FeatureStatus.SUPPORTED
        assert report.status("tap-uso") is (FeatureStatus.SUPPORTED if running_kernel() >= (6, 2)
                                             else FeatureStatus.UNSUPPORTED)
    else:  # no user namespaces here, or no access to /dev/net/tun at all
        assert all(r.status is FeatureStatus.UNKNOWN and "CAP_NET_ADMIN" in r.evidence.detail for r in tun)
    statuses = {f["id"]: f["status"] for f in json.loads(no_userns.stdout)["features"]}
    assert statuses["tap-uso"] == "unknown"
