"""``fleet report --to URL``: probe this host and POST the report (stdlib HTTP: nothing to install on hosts)."""

from __future__ import annotations

import json
import sys
import urllib.error
import urllib.request
from pathlib import Path

from vmplatform.errors import VmplatformError
from vmplatform.fleet.profile import profile_of
from vmplatform.model.report import HostReport, dumps, loads


class ReportPostError(VmplatformError):
    """The fleet endpoint did not take the report."""


def _this_host() -> HostReport:
    from vmplatform.model.features import default_catalog
    from vmplatform.probe.cache import cached_probe
    from vmplatform.probe.linux import LinuxProbe

    catalog = default_catalog()
    return cached_probe(catalog, lambda: LinuxProbe().run(catalog))


def _read(path: Path, what: str) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except OSError as err:
        raise ReportPostError(f"{path}: cannot read {what}: {err.strerror}") from err


def post_report(url: str, token_file: Path, report_path: str | None = None, state: Path | None = None,
                timeout: float = 30.0) -> int:
    token = _read(token_file, "the token").strip()
    if not token:
        raise ReportPostError(f"{token_file}: empty token file", "write the output of 'vmplatform fleet token HOST'")
    report = loads(_read(Path(report_path), "the report"), report_path) if report_path else _this_host()
    stamp = f"{report.host.kernel_release} {profile_of(report).digest}\n"
    if state is not None and state.exists() and state.read_text() == stamp:
        print(f"vmplatform: report of {report.name} unchanged since the last post; not sent", file=sys.stderr)
        return 0
    req = urllib.request.Request(url.rstrip("/") + "/v1/reports", data=dumps(report).encode(), method="POST",
                                 headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            answer = json.loads(resp.read())
    except urllib.error.HTTPError as err:
        try:
            desc = json.loads(err.read())["error"]["desc"]
        except (ValueError, KeyError, TypeError):
            desc = err.reason
        raise ReportPostError(f"{url} refused the report of {report.name}: HTTP {err.code}: {desc}",
                              "check the token file and that the token was issued for this host's name") from err
    except (urllib.error.URLError, OSError) as err:
        reason = getattr(err, "reason", err)
        raise ReportPostError(f"cannot reach {url}: {reason}", "check --to and that 'fleet serve' runs there") \
            from err
    if state is not None:
        state.write_text(stamp)
    print(f"posted report of {answer.get('host')} (report {answer.get('report-id')})")
    return 0
