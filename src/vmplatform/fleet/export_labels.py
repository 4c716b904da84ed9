"""Kubernetes node labels: one per supported platform, plus the host's feature facts.

Every label is valid by Kubernetes' own rules (checked here, and refused
rather than written if a rule is broken), in a sub-namespace of
``feature.node.kubernetes.io``, which node-feature-discovery always allows
(nfd-master denies other ``*.kubernetes.io`` namespaces and needs
``-extra-label-ns`` for foreign ones; NFD docs, "nfd-master command line
reference", -extra-label-ns / -deny-label-ns).

Labels (``P`` = :data:`PREFIX`)::

    P/platform.linux-6.2=true        one per platform the host supports
    P/feature.tap-uso=true|false     a feature the probe found (unknown: no label)
    P/default-platform=linux-6.12    the host's own default platform
    P/domain=d-3f9a0c12be            its migration domain (hosts with the same platforms)

Two outputs: a node-feature-discovery ``features.d`` file for the host's
nfd-worker (local source), or ``kubectl label node`` arguments.
"""

from __future__ import annotations

import functools
import hashlib
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType

from vmplatform.errors import VmplatformError
from vmplatform.fleet.export_view import FleetView, host_defaults
from vmplatform.fleet.files import write_atomically
from vmplatform.model.jsonvalue import JsonObject
from vmplatform.model.report import FeatureStatus, HostReport

PREFIX = "vmplatform.feature.node.kubernetes.io"

# Kubernetes label rules, from k8s.io/apimachinery/pkg/util/validation/validation.go
# (IsQualifiedName, IsDNS1123Subdomain, IsValidLabelValue): name part at most 63
# characters of [-A-Za-z0-9_.] starting and ending alphanumeric; an optional prefix
# that is a DNS-1123 subdomain of at most 253 characters; a value empty or like a
# name part, at most 63 characters.
NAME_MAX = 63
PREFIX_MAX = 253
VALUE_MAX = 63
_NAME_RE = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")
_DNS1123_SUBDOMAIN_RE = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_VALUE_RE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")

# node-feature-discovery's local source (source/local/local.go): files in this
# directory, one "name[=value]" per line, '#' comments, files whose name starts
# with '.' ignored (so a dot-file renamed into place is an atomic update), at
# most 64 KiB per file.
NFD_FEATURES_DIR = Path("/etc/kubernetes/node-feature-discovery/features.d")
NFD_MAX_FILE_SIZE = 65536


class LabelError(VmplatformError):
    """A label would break Kubernetes' rules."""


def label_problems(key: str, value: str) -> list[str]:
    """What is wrong with this label by Kubernetes' rules (empty: valid)."""
    problems = []
    prefix, _, name = key.rpartition("/")
    if "/" in prefix:
        problems.append("a key has at most one '/'")
    if "/" in key:
        if not prefix:
            problems.append("the prefix before '/' is empty")
        elif len(prefix) > PREFIX_MAX or not _DNS1123_SUBDOMAIN_RE.match(prefix):
            problems.append(f"prefix {prefix!r} is not a DNS subdomain (lower-case, at most {PREFIX_MAX})")
    if not name:
        problems.append("the name is empty")
    elif len(name) > NAME_MAX:
        problems.append(f"name {name!r} is longer than {NAME_MAX} characters")
    elif not _NAME_RE.match(name):
        problems.append(f"name {name!r} must be [-A-Za-z0-9_.] and start and end alphanumeric")
    if len(value) > VALUE_MAX:
        problems.append(f"value {value!r} is longer than {VALUE_MAX} characters")
    elif not _VALUE_RE.match(value):
        problems.append(f"value {value!r} must be empty or [-A-Za-z0-9_.] starting and ending alphanumeric")
    return problems


def label_name(kind: str, ident: str) -> str:
    """``kind.ident`` as a valid name part; shortened with a hash when it would not fit.

    Catalog feature ids and shipped platform names fit as they are. A
    platform name from an extra definition directory may be longer than 63
    characters or start or end with '-', '_' or '.': it becomes its leading
    characters plus a hash of the whole name, so two names never share a label.
    """
    name = f"{kind}.{ident}"
    if len(name) <= NAME_MAX and _NAME_RE.match(name):
        return name
    digest = hashlib.sha256(ident.encode()).hexdigest()[:10]
    head = f"{kind}.{ident}"[: NAME_MAX - 11].rstrip("-_.")
    return f"{head}-{digest}"


def domain_id(platforms: frozenset[str]) -> str:
    """A short stable name for the migration domain with exactly these platforms."""
    return "d-" + hashlib.sha256("\n".join(sorted(platforms)).encode()).hexdigest()[:10]


@dataclass(frozen=True)
class NodeLabels:
    host: str
    labels: Mapping[str, str]        # full key (with prefix) -> value, sorted by key
    absent: tuple[str, ...] = ()     # our keys this host must not carry (platforms it lacks, unknown facts)


@dataclass(frozen=True)
class LabelSet:
    nodes: tuple[NodeLabels, ...]            # sorted by host
    names: Mapping[str, str]                 # label name part -> what it stands for ("platform linux-6.2")

    @functools.cached_property
    def _by_host(self) -> dict[str, NodeLabels]:
        return {n.host: n for n in self.nodes}

    def node(self, host: str) -> NodeLabels:
        return self._by_host[host]

    def to_json(self, prefix: str) -> JsonObject:
        return {"prefix": prefix, "names": {**self.names},
                "nodes": {n.host: {"labels": {**n.labels}, "absent": [*n.absent]} for n in self.nodes}}


def node_labels(view: FleetView, reports: Mapping[str, HostReport] | None = None,
                hosts: Iterable[str] | None = None, prefix: str = PREFIX) -> LabelSet:
    """The labels of ``hosts`` (default: every host of ``view``); each checked against Kubernetes' rules.

    The ``default-platform`` label needs the host's own report (its distro
    and kernel decide it): it is set for the hosts in ``reports``.
    """
    defaults = host_defaults(view, reports or {})
    names: dict[str, str] = {}

    def name(kind: str, ident: str) -> str:
        n = label_name(kind, ident)
        meaning = f"{kind} {ident}"
        if names.setdefault(n, meaning) != meaning:  # a hash collision: never silently merge two things
            raise LabelError(f"label {n} would stand for both {names[n]} and {meaning}",
                             "rename one of the two platform definitions")
        return n

    every_key = {f"{prefix}/{name('platform', p.name)}" for p in view.platforms} | \
        {f"{prefix}/{name('feature', f.id)}" for f in view.platforms.catalog} | {f"{prefix}/default-platform"}
    per_class: list[dict[str, str]] = []
    for fc in view.classes:
        labels = {f"{prefix}/{name('platform', p)}": "true" for p in fc.supported_platforms}
        for fid, status in fc.statuses:
            if status is not FeatureStatus.UNKNOWN:
                labels[f"{prefix}/{name('feature', fid)}"] = "true" if status is FeatureStatus.SUPPORTED \
                    else "false"
        labels[f"{prefix}/domain"] = domain_id(fc.supported_platforms)
        per_class.append(labels)
    # Hosts of one class with the same default carry the same labels: build and check them once.
    shared: dict[tuple[int, str | None], tuple[Mapping[str, str], tuple[str, ...]]] = {}
    nodes = []
    for host in sorted(view.class_index if hosts is None else set(hosts)):
        if host not in view.class_index:
            raise LabelError(f"no host {host} in the fleet", "list the hosts with 'vmplatform fleet hosts'")
        key = (view.class_index[host], defaults.get(host))
        if key not in shared:
            labels = dict(per_class[key[0]])
            default = key[1]
            if default is not None:
                labels[f"{prefix}/default-platform"] = default if len(default) <= VALUE_MAX and \
                    _VALUE_RE.match(default) else label_name("platform", default).partition(".")[2]
            for k, value in labels.items():
                problems = label_problems(k, value)
                if problems:
                    raise LabelError(f"host {host}: label {k}={value} is not valid: {'; '.join(problems)}",
                                     "choose a different --prefix (a lower-case DNS subdomain)")
            shared[key] = (MappingProxyType(dict(sorted(labels.items()))), tuple(sorted(every_key - set(labels))))
        nodes.append(NodeLabels(host, *shared[key]))
    return LabelSet(tuple(nodes), MappingProxyType(dict(sorted(names.items()))))


def nfd_file_text(node: NodeLabels, expiry: str | None = None) -> str:
    """The host's labels as a node-feature-discovery features.d file.

    ``expiry`` (RFC 3339) becomes NFD's ``# +expiry-time=`` directive: the
    labels lapse if the host stops refreshing the file.
    """
    lines = [f"# vmplatform node labels for {node.host}; regenerate, do not edit"]
    if expiry:
        lines.append(f"# +expiry-time={expiry}")
    lines += [f"{k}={v}" for k, v in node.labels.items()]
    text = "\n".join(lines) + "\n"
    if len(text.encode()) > NFD_MAX_FILE_SIZE:
        raise LabelError(f"host {node.host}: the features.d file would be {len(text.encode())} bytes, "
                         f"node-feature-discovery reads at most {NFD_MAX_FILE_SIZE}",
                         "split the platforms over several files with --platform-dir")
    return text


def write_nfd_file(node: NodeLabels, path: Path, expiry: str | None = None) -> None:
    """Write atomically: a dot-file (NFD skips those) in the same directory, renamed into place."""
    text = nfd_file_text(node, expiry)
    if path.name.startswith("."):
        raise LabelError(f"{path}: node-feature-discovery ignores files whose name starts with '.'",
                         "choose a name without a leading dot, e.g. vmplatform")
    write_atomically(path, text, 0o644, error=LabelError,
                     hint=f"create the directory (nfd-worker reads {NFD_FEATURES_DIR}) or pass another path")


def kubectl_args(node: NodeLabels) -> list[str]:
    """``kubectl label node HOST --overwrite k=v ... k- ...`` as an argument vector.

    ``k-`` removes a label we set before that no longer holds (a kernel
    downgrade took a platform away), so the node never keeps a stale promise.
    """
    return ["kubectl", "label", "node", node.host, "--overwrite",
            *(f"{k}={v}" for k, v in node.labels.items()), *(f"{k}-" for k in node.absent)]
