"""One Debian kernel package, unpacked into what a TCG boot needs.

Debian's packaging differs by suite (facts observed in the archive's own
packages): bullseye and bookworm keep the image at ``boot/vmlinuz-V`` and the
modules under ``lib/modules/V``; trixie and later under ``usr/lib/modules/V``
and as ``.ko.xz``; from 6.19 ``linux-image-V`` is a metapackage over
``linux-binary-V`` (``usr/lib/modules/V/vmlinuz``, no config file) and
``linux-modules-V``. No package ships ``modules.dep``: a module's
dependencies come from its own ``.modinfo`` section (``depends=``).

From the bzImage we extract the ELF ``vmlinux`` (the compressed payload the
boot header points at) so QEMU can boot it through PVH, skipping the in-guest
decompression; when that is impossible the bzImage is booted as is.
"""

from __future__ import annotations

import gzip
import json
import lzma
import shutil
import struct
import subprocess
import tempfile
import zlib
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

from .apt import AptError, PrivateApt

# Modules loaded in the guest, in this order (their dependencies first):
# TAP, vhost-net and vhost-vsock are what the probe examines; kvm_amd loads
# because TCG emulates AMD SVM for the default CPU model, giving /dev/kvm.
GUEST_MODULES = ("tun", "vhost_net", "vhost_vsock", "kvm_amd")
# Kernel config lines recorded with each report (what the distro built).
CONFIG_KEYS = ("CONFIG_TUN", "CONFIG_VHOST_NET", "CONFIG_VHOST_VSOCK", "CONFIG_KVM", "CONFIG_KVM_AMD",
               "CONFIG_KVM_SMM", "CONFIG_KVM_HYPERV", "CONFIG_BPF_SYSCALL", "CONFIG_PVH")

SUITE_RELEASE = {"bullseye": "11", "bookworm": "12", "trixie": "13", "forky": "14"}


class KernelUnavailable(RuntimeError):
    """This kernel cannot be prepared (not in the archive, incomplete, unreadable)."""


@dataclass(frozen=True)
class KernelSpec:
    """A Debian kernel: its ABI name (``6.17.13+deb13-amd64``) and the suite holding it."""

    abi: str
    suite: str

    @property
    def codename(self) -> str:
        return self.suite.split("-")[0]

    @property
    def debian_release(self) -> str:
        return SUITE_RELEASE.get(self.codename, "")

    @property
    def image_package(self) -> str:
        return f"linux-image-{self.abi}"

    @property
    def series(self) -> str:
        return ".".join(self.abi.split("-")[0].split("+")[0].split(".")[:2])


@dataclass(frozen=True)
class PreparedKernel:
    """A kernel unpacked into ``directory``: the image to boot and the modules to insmod."""

    spec: KernelSpec
    directory: Path
    release: str                      # uname -r
    packages: dict[str, str]          # package name -> version
    image: str                        # file name in directory
    image_format: str                 # "pvh-vmlinux" or "bzimage"
    modules: tuple[str, ...]          # insmod order, file names under modules/
    missing_modules: tuple[str, ...]  # wanted but neither a module file nor built in
    builtin_modules: tuple[str, ...]
    config: dict[str, str] = field(default_factory=dict)

    @property
    def package_version(self) -> str:
        return self.packages.get(self.spec.image_package, "")

    def to_json(self) -> dict[str, object]:
        d = asdict(self)
        d["spec"] = asdict(self.spec)
        d["directory"] = str(self.directory)
        return d

    @classmethod
    def load(cls, directory: Path) -> PreparedKernel:
        d = json.loads((directory / "kernel.json").read_text(encoding="utf-8"))
        return cls(spec=KernelSpec(**d["spec"]), directory=directory, release=d["release"],
                   packages=d["packages"], image=d["image"], image_format=d["image_format"],
                   modules=tuple(d["modules"]), missing_modules=tuple(d["missing_modules"]),
                   builtin_modules=tuple(d["builtin_modules"]), config=d["config"])


# -- bzImage -> vmlinux -------------------------------------------------------

def _decompress(payload: bytes) -> bytes | None:
    if payload.startswith(b"\xfd7zXZ\x00"):
        # One stream: the kernel build appends a 4-byte size word, which lzma.decompress()
        # would try to read as a second stream.
        return lzma.LZMADecompressor().decompress(payload)
    if payload.startswith(b"\x1f\x8b"):
        return zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(payload)
    if payload.startswith(b"\x28\xb5\x2f\xfd") and shutil.which("zstd"):
        # zstd refuses the 4-byte size word the kernel build appends: cut it.
        proc = subprocess.run(["zstd", "-qdc"], input=payload[:-4], capture_output=True, check=False)
        return proc.stdout if proc.returncode == 0 else None
    return None


def extract_vmlinux(bzimage: bytes) -> bytes | None:
    """The ELF kernel inside a bzImage (boot protocol >= 2.08), or None if not extractable."""
    if len(bzimage) < 0x250 or bzimage[0x202:0x206] != b"HdrS":
        return None
    setup_sects = bzimage[0x1F1] or 4
    payload_offset, payload_length = struct.unpack_from("<II", bzimage, 0x248)
    start = (setup_sects + 1) * 512 + payload_offset
    try:
        elf = _decompress(bzimage[start:start + payload_length])
    except (lzma.LZMAError, zlib.error, EOFError):
        return None
    return elf if elf and elf.startswith(b"\x7fELF") else None


XEN_ELFNOTE_PHYS32_ENTRY = 18  # include/xen/interface/elfnote.h: the PVH entry QEMU's loader needs
_PT_NOTE = 4


def has_pvh_entry(elf: bytes) -> bool:
    """True if an ELF64 kernel carries the "Xen" PHYS32_ENTRY note (CONFIG_PVH=y)."""
    if elf[:5] != b"\x7fELF\x02":
        return False
    try:
        return _find_pvh_note(elf)
    except struct.error:  # truncated
        return False


def _find_pvh_note(elf: bytes) -> bool:
    phoff, = struct.unpack_from("<Q", elf, 0x20)
    phentsize, phnum = struct.unpack_from("<HH", elf, 0x36)
    for i in range(phnum):
        p_type, _flags, p_offset, _va, _pa, p_filesz = struct.unpack_from("<IIQQQQ", elf, phoff + i * phentsize)
        if p_type != _PT_NOTE:
            continue
        pos, end = p_offset, p_offset + p_filesz
        while pos + 12 <= end:
            namesz, descsz, ntype = struct.unpack_from("<III", elf, pos)
            name = elf[pos + 12:pos + 12 + namesz].rstrip(b"\0")
            if name == b"Xen" and ntype == XEN_ELFNOTE_PHYS32_ENTRY:
                return True
            pos += 12 + (namesz + 3) // 4 * 4 + (descsz + 3) // 4 * 4
    return False


# -- modules ------------------------------------------------------------------

def _module_name(path: Path) -> str:
    return path.name.split(".ko")[0].replace("-", "_")


def read_module(path: Path) -> bytes:
    data = path.read_bytes()
    if path.name.endswith(".xz"):
        return lzma.decompress(data)
    if path.name.endswith(".gz"):
        return gzip.decompress(data)
    if path.name.endswith(".zst"):
        return subprocess.run(["zstd", "-qdc", str(path)], capture_output=True, check=True).stdout
    return data


def modinfo(elf: bytes) -> dict[str, str]:
    """The ``key=value`` strings of an ELF64 module's ``.modinfo`` section (first value of each key)."""
    out: dict[str, str] = {}
    for k, v in modinfo_items(elf):
        out.setdefault(k, v)
    return out


def modinfo_items(elf: bytes) -> list[tuple[str, str]]:
    """Every ``key=value`` string of the ``.modinfo`` section, in order (``alias`` repeats)."""
    shoff, = struct.unpack_from("<Q", elf, 0x28)
    shentsize, shnum, shstrndx = struct.unpack_from("<HHH", elf, 0x3A)

    def section(i: int) -> tuple[int, int, int]:
        name, _type, _flags, _addr, off, size = struct.unpack_from("<IIQQQQ", elf, shoff + i * shentsize)
        return name, off, size

    _, stroff, _ = section(shstrndx)
    out: list[tuple[str, str]] = []
    for i in range(shnum):
        name, off, size = section(i)
        if elf[stroff + name:elf.index(b"\0", stroff + name)] == b".modinfo":
            for item in elf[off:off + size].split(b"\0"):
                k, sep, v = item.decode(errors="replace").partition("=")
                if sep:
                    out.append((k, v))
    return out


def devname_line(module: str, elf: bytes) -> str | None:
    """The ``modules.devname`` line depmod writes for a module with a ``devname:`` and a
    ``char-major-M-m`` alias (kmod's depmod.c output_devname), e.g. ``vhost_net vhost-net c10:238``."""
    aliases = [v for k, v in modinfo_items(elf) if k == "alias"]
    node = next((a[len("devname:"):] for a in aliases if a.startswith("devname:")), None)
    char = next((a[len("char-major-"):] for a in aliases if a.startswith("char-major-")), None)
    if node is None or char is None or char.count("-") != 1:
        return None
    major, minor = char.split("-")
    return f"{module} {node} c{major}:{minor}"


def load_order(wanted: Iterable[str], index: dict[str, Path], builtin: set[str]
               ) -> tuple[list[str], list[str], dict[str, bytes]]:
    """(insmod order, missing, decompressed module bytes): dependencies first."""
    order: list[str] = []
    missing: list[str] = []
    blobs: dict[str, bytes] = {}

    def visit(name: str) -> None:
        if name in blobs or name in builtin or name in missing:
            return
        path = index.get(name)
        if path is None:
            missing.append(name)
            return
        blob = read_module(path)
        blobs[name] = blob
        for dep in filter(None, modinfo(blob).get("depends", "").split(",")):
            visit(dep.replace("-", "_"))
        order.append(name)

    for w in wanted:
        visit(w)
    return order, missing, blobs


# -- the package --------------------------------------------------------------

def _packages_for(apt: PrivateApt, spec: KernelSpec) -> dict[str, str]:
    image = apt.show(spec.image_package)
    if image is None:
        raise KernelUnavailable(f"{spec.image_package} is not in {spec.suite}")
    split = [f"linux-binary-{spec.abi}", f"linux-modules-{spec.abi}"]
    if f"linux-binary-{spec.abi}" not in image.depends:
        return {image.name: image.version}
    out = {image.name: image.version}
    for name in split:
        info = apt.show(name)
        if info is None:
            raise KernelUnavailable(f"{spec.image_package} needs {name}, which is not in {spec.suite}'s index")
        out[name] = info.version
    return out


def _config(text: str) -> dict[str, str]:
    out = {}
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        if sep and key in CONFIG_KEYS:
            out[key] = value
        elif line.startswith("# CONFIG_") and line.endswith(" is not set"):
            key = line[2:-len(" is not set")]
            if key in CONFIG_KEYS:
                out[key] = "n"
    return out


def prepare(spec: KernelSpec, apt: PrivateApt, cache: Path) -> PreparedKernel:
    """Download and unpack ``spec`` into ``cache/<abi>`` (reused when already there)."""
    target = cache / spec.abi
    if (target / "kernel.json").exists():
        return PreparedKernel.load(target)
    packages = _packages_for(apt, spec)
    work = Path(tempfile.mkdtemp(prefix="vmp-kernel-", dir=cache))
    try:
        # The metapackage itself holds nothing we need when the image is split.
        fetch = [p for p in packages if not (len(packages) > 1 and p == spec.image_package)]
        root = work / "root"
        for deb in apt.download(fetch, work / "debs"):
            subprocess.run(["dpkg-deb", "-x", str(deb), str(root)], check=True, timeout=300)
            deb.unlink()
        mod_dirs = [d for base in ("lib/modules", "usr/lib/modules") for d in sorted((root / base).glob("*"))
                    if d.is_dir()]
        if not mod_dirs:
            raise KernelUnavailable(f"{', '.join(fetch)}: no lib/modules or usr/lib/modules directory")
        moddir = mod_dirs[0]
        release = moddir.name
        images = [root / "boot" / f"vmlinuz-{release}", moddir / "vmlinuz"]
        image_path = next((p for p in images if p.is_file()), None)
        if image_path is None:
            raise KernelUnavailable(f"{', '.join(fetch)}: no vmlinuz for {release}")
        config_path = next((p for p in (root / "boot" / f"config-{release}", moddir / "config") if p.is_file()),
                           None)
        config = _config(config_path.read_text(errors="replace")) if config_path else {}
        index = {_module_name(p): p for p in moddir.rglob("*.ko*")}
        builtin_file = moddir / "modules.builtin"
        builtin = ({_module_name(Path(ln.strip())) for ln in builtin_file.read_text().splitlines() if ln.strip()}
                   if builtin_file.exists() else set())
        order, missing, blobs = load_order(GUEST_MODULES, index, builtin)
        stage = work / "out"
        (stage / "modules").mkdir(parents=True)
        for name in order:
            (stage / "modules" / f"{name}.ko").write_bytes(blobs[name])
        bz = image_path.read_bytes()
        elf = extract_vmlinux(bz)
        if elf is not None and not has_pvh_entry(elf):
            elf = None
        image, fmt = ("vmlinux", "pvh-vmlinux") if elf else ("vmlinuz", "bzimage")
        (stage / image).write_bytes(elf or bz)
        prepared = PreparedKernel(
            spec=spec, directory=target, release=release, packages=packages, image=image, image_format=fmt,
            modules=tuple(order), missing_modules=tuple(missing),
            builtin_modules=tuple(sorted(m for m in GUEST_MODULES if m in builtin)), config=config)
        (stage / "kernel.json").write_text(json.dumps(prepared.to_json(), indent=2) + "\n", encoding="utf-8")
        shutil.rmtree(target, ignore_errors=True)
        stage.rename(target)
        return prepared
    except (OSError, subprocess.SubprocessError, AptError) as err:
        raise KernelUnavailable(f"{spec.image_package}: {err}") from err
    finally:
        shutil.rmtree(work, ignore_errors=True)


def prepare_all(specs: Sequence[KernelSpec], cache: Path) -> list[PreparedKernel | KernelUnavailable]:
    """Prepare every spec, fetching the indexes once; failures are returned, not raised."""
    cache.mkdir(parents=True, exist_ok=True)
    todo = [s for s in specs if not (cache / s.abi / "kernel.json").exists()]
    out: list[PreparedKernel | KernelUnavailable] = []
    if not todo:
        return [PreparedKernel.load(cache / s.abi) for s in specs]
    with PrivateApt([s.suite for s in todo]) as apt:
        apt.update()
        for s in specs:
            try:
                out.append(prepare(s, apt, cache))
            except KernelUnavailable as err:
                out.append(err)
    return out
