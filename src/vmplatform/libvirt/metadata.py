"""The dependency manifest inside a libvirt domain's ``<metadata>``.

libvirt keeps one element per namespace URI in ``<metadata>`` (that is what
``virsh metadata DOMAIN --uri URI --key PREFIX --set XML`` writes). vmplatform's
element carries the manifest JSON (compact, sorted keys) as its text, in a
CDATA section so that it stays readable (libvirt may turn it into plain text;
both read the same)::

    <metadata>
      <vmplatform:manifest xmlns:vmplatform="https://vmplatform.dev/xmlns/manifest/1"><![CDATA[{"accel":...}]]></vmplatform:manifest>
    </metadata>

Everything else in the domain XML, other applications' metadata included,
is left as it was.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from vmplatform.libvirt import _xml
from vmplatform.libvirt.namespace import ELEMENT, NAMESPACE, PREFIX
from vmplatform.resolution.manifest import Manifest, ManifestError, loads

if TYPE_CHECKING:
    from xml.dom import minidom

    from vmplatform.model.platforms import Platform, PlatformSet

# libvirt's own order of the elements that come before <metadata> (domain_conf.c virDomainDefFormat).
_BEFORE_METADATA = ("name", "uuid", "genid", "title", "description")


def compact_json(manifest: Manifest) -> str:
    return json.dumps(manifest.to_json(), sort_keys=True, separators=(",", ":"))


def read_manifest(doc: minidom.Document, source: str) -> Manifest | None:
    """The manifest stored in the domain, or None when there is none."""
    meta = _xml.element(_xml.root_of(doc), "metadata")
    if meta is None:
        return None
    return _the_manifest([_xml.text_of(el) for el in _xml.elements(meta, ELEMENT, NAMESPACE)], source)


def _the_manifest(texts: list[str], source: str) -> Manifest | None:
    """The manifest in the texts of the vmplatform elements of ``<metadata>``: none, or exactly one."""
    if not texts:
        return None
    if len(texts) > 1:
        raise ManifestError(source, "", f"<metadata> holds {len(texts)} vmplatform manifests, expected one",
                            hint="keep one <vmplatform:manifest> element ('vmplatform libvirt pin' rewrites it)")
    return loads(texts[0], f"{source}: <metadata> vmplatform manifest")


def write_manifest(doc: minidom.Document, manifest: Manifest) -> None:
    """Store ``manifest`` in ``<metadata>``, replacing an earlier one; create ``<metadata>`` if needed."""
    root = _xml.root_of(doc)
    meta = _xml.element(root, "metadata")
    if meta is None:
        meta = doc.createElement("metadata")
        before = [el for name in _BEFORE_METADATA for el in _xml.elements(root, name)]
        if before:
            last = max(before, key=lambda el: list(root.childNodes).index(el))
            _xml.insert_after(root, meta, last)
        else:
            root.insertBefore(meta, root.firstChild)
    for old in _xml.elements(meta, ELEMENT, NAMESPACE):
        prev = old.previousSibling
        meta.removeChild(old)
        if prev is not None and prev.nodeType == prev.TEXT_NODE and not prev.data.strip():
            meta.removeChild(prev)
    el = doc.createElementNS(NAMESPACE, f"{PREFIX}:{ELEMENT}")
    el.setAttributeNS(_xml.XMLNS_NS, f"xmlns:{PREFIX}", NAMESPACE)
    text = compact_json(manifest)
    # CDATA keeps the JSON readable (a text node would escape every quote); a "]]>" in it cannot be CDATA.
    el.appendChild(doc.createTextNode(text) if "]]>" in text else doc.createCDATASection(text))
    _xml.append(meta, el)


def manifest_of(text: str, source: str) -> Manifest | None:
    """The manifest in a domain XML text, or None. (Reads it without building the document.)"""
    return _the_manifest(_xml.metadata_texts(text, source, NAMESPACE, ELEMENT) or [], source)


def with_manifest(text: str, manifest: Manifest, source: str) -> str:
    """``text`` with ``manifest`` stored in its ``<metadata>``; all else unchanged."""
    doc = _xml.parse(text, source)
    write_manifest(doc, manifest)
    return _xml.serialize(doc, text)


def manifest_platform(manifest: Manifest, platforms: PlatformSet, domain: str) -> Platform:
    """The platform a domain's manifest pins to: the named platform when it still guarantees exactly
    the recorded features, else (a merged or host-scope platform) exactly those features."""
    import datetime

    from vmplatform.model.platforms import Platform

    feats = frozenset(manifest.platform_features)
    if manifest.platform and manifest.platform in platforms:
        known = platforms.get(manifest.platform)
        if known.features == feats:
            return known
    label = manifest.platform or f"host scope of {manifest.analysed_on or domain}"
    return Platform(name=manifest.platform or "host", description=f"the platform recorded in domain {domain}'s "
                    f"manifest ({label})", vendor="manifest", released=datetime.date(1970, 1, 1), kernel="",
                    features=feats, synthetic=True, origin=f"domain {domain} manifest")
