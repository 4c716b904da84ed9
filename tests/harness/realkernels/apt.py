"""Download Debian kernel packages with apt, through a private, temporary apt state.

The archive is the one this machine already uses: the URIs (and keyring) of
its configured Debian entry are copied into a temporary ``.sources`` file that
lists only the suites asked for. apt runs with its own lists and cache
directories (``Dir::State::Lists``, ``Dir::Cache``), so the machine's apt state
is never touched, and the whole directory, sources file included, is removed
when the context ends. ``apt-get download`` only fetches a ``.deb``; nothing
is installed.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

APT_DIR = Path("/etc/apt")
# Bound every apt call: an unreachable archive must turn into a clear error, not a hang.
APT_TIMEOUT_S = 600.0


class AptError(RuntimeError):
    """apt could not do what was asked; the message says what and what to try."""


@dataclass(frozen=True)
class DebianSource:
    """Where this machine's Debian packages come from."""

    uris: tuple[str, ...]
    signed_by: str = ""


def _deb822_stanzas(text: str) -> Iterator[dict[str, str]]:
    stanza: dict[str, str] = {}
    key = ""
    for line in text.splitlines():
        if line.startswith("#"):
            continue
        if not line.strip():
            if stanza:
                yield stanza
            stanza, key = {}, ""
            continue
        if line[0] in " \t" and key:
            stanza[key] += "\n" + line.strip()
            continue
        key, _, value = line.partition(":")
        key = key.strip().lower()
        stanza[key] = value.strip()
    if stanza:
        yield stanza


SECURITY = "-security"


def _is_debian_suite(suite: str, codename: str, flavour: str = "") -> bool:
    # The main Debian entry names the release itself; "-security" lives in another archive.
    if not codename:
        return suite.endswith(flavour) if flavour else "-" not in suite
    return suite == codename + flavour


def parse_sources(files: Iterable[tuple[str, str]], codename: str, flavour: str = "") -> DebianSource | None:
    """The first enabled ``deb`` entry that carries the release ``codename`` (+ ``flavour``,
    e.g. ``-security`` for the security archive).

    ``files`` are (name, text) pairs: ``*.sources`` in deb822 form, anything
    else in the one-line ``deb [opts] URI suite comps`` form.
    """
    for name, text in files:
        if name.endswith(".sources"):
            for st in _deb822_stanzas(text):
                if st.get("enabled", "yes").lower() == "no" or "deb" not in st.get("types", "").split():
                    continue
                if any(_is_debian_suite(s, codename, flavour) for s in st.get("suites", "").split()):
                    return DebianSource(tuple(st.get("uris", "").split()), st.get("signed-by", ""))
            continue
        for line in text.splitlines():
            m = re.match(r"^\s*deb\s+(?:\[([^\]]*)\]\s+)?(\S+)\s+(\S+)", line)
            if m and _is_debian_suite(m.group(3), codename, flavour):
                opts = dict(o.split("=", 1) for o in (m.group(1) or "").split() if "=" in o)
                return DebianSource((m.group(2),), opts.get("signed-by", ""))
    return None


def machine_debian_source(apt_dir: Path = APT_DIR, os_release: Path = Path("/etc/os-release"),
                          flavour: str = "") -> DebianSource:
    """The Debian archive this machine is configured with (no host name is hard-coded anywhere);
    ``flavour="-security"``: its security archive."""
    codename = ""
    try:
        for line in os_release.read_text(encoding="utf-8").splitlines():
            if line.startswith("VERSION_CODENAME="):
                codename = line.partition("=")[2].strip().strip("\"'")
    except OSError:
        pass
    files: list[tuple[str, str]] = []
    candidates = [apt_dir / "sources.list", *sorted((apt_dir / "sources.list.d").glob("*"))]
    for path in candidates:
        if path.suffix in (".list", ".sources") and path.is_file():
            files.append((path.name, path.read_text(encoding="utf-8", errors="replace")))
    src = parse_sources(files, codename, flavour)
    if src is None or not src.uris:
        raise AptError(f"no Debian archive entry for '{codename or '?'}{flavour}' in {apt_dir}/sources.list(.d); "
                       "configure the machine's Debian archive first")
    return src


@dataclass(frozen=True)
class PackageInfo:
    name: str
    version: str
    depends: str
    size: int


class PrivateApt:
    """apt-get/apt-cache over a temporary sources file and private lists.

    Use as a context manager; ``update()`` fetches the indexes of the suites
    given at construction.
    """

    def __init__(self, suites: Sequence[str], source: DebianSource | None = None,
                 security: DebianSource | None = None) -> None:
        self.suites = tuple(dict.fromkeys(suites))
        # Resolved before the temporary directory exists, so a bad configuration leaves nothing behind.
        self.source = source or machine_debian_source()
        wants_security = any(s.endswith(SECURITY) for s in self.suites)
        self.security = security or (machine_debian_source(flavour=SECURITY) if wants_security else None)
        self.root = Path(tempfile.mkdtemp(prefix="vmp-apt-"))

    def __enter__(self) -> PrivateApt:
        parts = self.root / "sources.list.d"
        for d in (parts, self.root / "lists" / "partial", self.root / "cache" / "archives" / "partial"):
            d.mkdir(parents=True, exist_ok=True)
        stanzas = []
        for src, suites in ((self.source, [s for s in self.suites if not s.endswith(SECURITY)]),
                            (self.security, [s for s in self.suites if s.endswith(SECURITY)])):
            if src is None or not suites:
                continue
            lines = ["Types: deb", f"URIs: {' '.join(src.uris)}", f"Suites: {' '.join(suites)}", "Components: main"]
            if src.signed_by:
                lines.append(f"Signed-By: {src.signed_by}")
            stanzas.append("\n".join(lines) + "\n")
        (parts / "kernels.sources").write_text("\n".join(stanzas), encoding="utf-8")
        return self

    def __exit__(self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None) -> None:
        shutil.rmtree(self.root, ignore_errors=True)

    def _options(self) -> list[str]:
        opts = {
            "Dir::Etc::SourceList": "/dev/null",
            "Dir::Etc::SourceParts": str(self.root / "sources.list.d"),
            "Dir::State::Lists": str(self.root / "lists"),
            "Dir::Cache": str(self.root / "cache"),
            "Acquire::Languages": "none",
            "APT::Architectures": "amd64",
            "Debug::NoLocking": "1",
        }
        return [arg for k, v in opts.items() for arg in ("-o", f"{k}={v}")]

    def _run(self, tool: str, args: Sequence[str], cwd: Path | None = None) -> str:
        try:
            proc = subprocess.run([tool, *self._options(), *args], capture_output=True, text=True, cwd=cwd,
                                  timeout=APT_TIMEOUT_S, env={**os.environ, "LC_ALL": "C"})
        except subprocess.TimeoutExpired as err:
            raise AptError(f"{tool} {' '.join(args)}: no answer within {APT_TIMEOUT_S:.0f} s "
                           "(is the Debian archive reachable?)") from err
        if proc.returncode != 0:
            raise AptError(f"{tool} {' '.join(args)} failed: {proc.stderr.strip()[-800:]}")
        return proc.stdout

    def update(self) -> None:
        out = self._run("apt-get", ["update", "-q"])
        # apt-get update exits 0 even when an index failed to download.
        errors = [ln for ln in out.splitlines() if ln.startswith(("Err:", "E:"))]
        if errors:
            raise AptError("apt-get update could not fetch the kernel indexes: " + "; ".join(errors))

    def show(self, package: str) -> PackageInfo | None:
        try:
            out = self._run("apt-cache", ["show", "--no-all-versions", package])
        except AptError:
            return None
        fields: dict[str, str] = {}
        for line in out.splitlines():
            k, sep, v = line.partition(": ")
            if sep and not line.startswith(" "):
                fields.setdefault(k, v)
        if fields.get("Package") != package:
            return None
        return PackageInfo(package, fields.get("Version", ""), fields.get("Depends", ""),
                           int(fields.get("Size", "0") or 0))

    def download(self, packages: Sequence[str], dest: Path) -> list[Path]:
        """Fetch ``packages`` (exact names) into ``dest``; return the .deb paths."""
        dest.mkdir(parents=True, exist_ok=True)
        before = set(dest.glob("*.deb"))
        self._run("apt-get", ["download", "-q", *packages], cwd=dest)
        got = sorted(set(dest.glob("*.deb")) - before)
        if len(got) != len(packages):
            raise AptError(f"apt-get download {' '.join(packages)} left {len(got)} files in {dest}")
        return got
