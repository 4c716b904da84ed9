"""The hook reads a domain's manifest in one pass without building the document
(``_xml.metadata_texts``): the same texts, the same errors as the document it stands in for."""

from __future__ import annotations

from pathlib import Path

import pytest

from vmplatform.errors import VmplatformError
from vmplatform.libvirt import _xml
from vmplatform.libvirt.metadata import manifest_of, read_manifest, with_manifest
from vmplatform.libvirt.namespace import ELEMENT, NAMESPACE
from vmplatform.resolution.manifest import loads

DATA = Path(__file__).parents[1] / "data"
NS = NAMESPACE


def _from_document(text: str) -> list[str] | None:
    meta = _xml.element(_xml.root_of(_xml.parse(text, "d")), "metadata")
    return None if meta is None else [_xml.text_of(el) for el in _xml.elements(meta, ELEMENT, NAMESPACE)]


def _outcome(read: object, text: str) -> object:
    try:
        return read(text)  # type: ignore[operator]
    except VmplatformError as err:
        return (type(err).__name__, str(err))


def _pinned() -> str:
    manifest = loads((DATA / "manifests/debian13-6.12-default.json").read_text())
    return with_manifest((DATA / "domains/tiny-tcg.xml").read_text(), manifest, "tiny-tcg.xml")


CASES = {
    "no metadata": "<domain type='kvm'><name>a</name></domain>",
    "empty metadata": "<domain><metadata/></domain>",
    "other application's": "<domain><metadata><x:m xmlns:x='urn:other'>no</x:m></metadata></domain>",
    "prefixed": f"<domain><metadata><v:manifest xmlns:v='{NS}'>a&amp;b</v:manifest></metadata></domain>",
    "default namespace": f"<domain><metadata><manifest xmlns='{NS}'><![CDATA[x]]>y</manifest></metadata></domain>",
    "without namespace": "<domain><metadata><manifest>x</manifest></metadata></domain>",
    "two": f"<domain><metadata><v:manifest xmlns:v='{NS}'>1</v:manifest><manifest xmlns='{NS}'>2</manifest>"
           "</metadata></domain>",
    "nested text left out": f"<domain><metadata><v:manifest xmlns:v='{NS}'>a<b>c</b><!-- d -->e</v:manifest>"
                            "</metadata></domain>",
    "deeper": f"<domain><metadata><g><v:manifest xmlns:v='{NS}'>x</v:manifest></g></metadata></domain>",
    "second metadata": f"<domain><metadata/><metadata><v:manifest xmlns:v='{NS}'>x</v:manifest></metadata></domain>",
    "under devices": f"<domain><devices><metadata><v:manifest xmlns:v='{NS}'>x</v:manifest></metadata></devices>"
                     "</domain>",
    "root in a namespace": "<d:domain xmlns:d='urn:d'><metadata/></d:domain>",
    "root in a default namespace": "<domain xmlns='urn:d'><metadata/></domain>",
    "another root": "<network><metadata/></network>",
    "another root, malformed later": "<network><metadata></network>",
    "malformed": "<domain><metadata></domain>",
    "unbound prefix": "<domain><metadata><v:manifest>x</v:manifest></metadata></domain>",
    "empty": "",
    "entity": "<!DOCTYPE domain [<!ENTITY e 'ent'>]><domain><metadata>"
              f"<v:manifest xmlns:v='{NS}'>&e;</v:manifest></metadata></domain>",
    "undefined entity": f"<domain><metadata><v:manifest xmlns:v='{NS}'>&e;</v:manifest></metadata></domain>",
}


@pytest.mark.parametrize("name", CASES)
def test_texts_and_errors_are_the_documents(name: str) -> None:
    text = CASES[name]
    assert _outcome(lambda t: _xml.metadata_texts(t, "d", NAMESPACE, ELEMENT), text) == \
        _outcome(_from_document, text)


@pytest.mark.parametrize("text", [
    _pinned(), *(p.read_text() for p in sorted((DATA / "domains").glob("*.xml")))])
def test_the_manifest_read_in_one_pass_is_the_documents(text: str) -> None:
    assert _outcome(lambda t: manifest_of(t, "d"), text) == \
        _outcome(lambda t: read_manifest(_xml.parse(t, "d"), "d"), text)
