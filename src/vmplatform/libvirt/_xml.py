"""Domain XML in and out, keeping everything vmplatform does not touch.

``xml.dom.minidom`` (not ElementTree) because it keeps what a person wrote:
namespace prefixes and where they are declared, comments, attribute order.
Elements vmplatform adds are indented like their siblings.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, cast
from xml.dom import Node
from xml.parsers import expat
from xml.parsers.expat import ExpatError

from vmplatform.errors import FileFormatError

if TYPE_CHECKING:
    from xml.dom import minidom

QEMU_NS = "http://libvirt.org/schemas/domain/qemu/1.0"
XMLNS_NS = "http://www.w3.org/2000/xmlns/"
_HINT = "pass the XML of a libvirt domain, e.g. from 'virsh dumpxml DOMAIN'"


class DomainXmlError(FileFormatError):
    """A file is not a usable libvirt domain XML."""


def parse(text: str, source: str) -> minidom.Document:
    """Parse a libvirt domain XML; the root must be ``<domain>``."""
    from xml.dom import minidom  # the document model: only for what edits or reads a whole domain

    try:
        doc = minidom.parseString(text.encode("utf-8"))
    except ExpatError as err:
        raise _not_well_formed(source, err) from None
    root = root_of(doc)
    if root.namespaceURI is not None or root.localName != "domain":
        raise _not_a_domain(source, root.tagName)
    return doc


def _not_well_formed(source: str, err: ExpatError) -> DomainXmlError:
    return DomainXmlError(source, "", f"not well-formed XML (line {err.lineno}, column {err.offset}): "
                          f"{_expat_message(err)}", hint=_HINT)


def _not_a_domain(source: str, tag: str) -> DomainXmlError:
    return DomainXmlError(source, "", f"not a libvirt domain XML (root element <{tag}>)", hint=_HINT)


def metadata_texts(text: str, source: str, ns: str, local: str) -> list[str] | None:
    """The texts of the elements ``local`` in namespace ``ns`` directly under the domain's first
    ``<metadata>`` (None without a ``<metadata>``), as :func:`text_of` reads them from :func:`parse`'s
    document, with the same errors: one pass of the same parser (expat, namespaces on) that builds no
    document, for the libvirt hook, which reads nothing else of the domain before it decides."""
    parser = expat.ParserCreate(namespace_separator=" ")
    parser.namespace_prefixes = True   # names are "uri local prefix", "uri local" or "local"
    parser.buffer_text = True
    open_: list[bool] = []             # per open element: is it one of those wanted
    found: list[list[str]] = []
    root: list[str] = []
    metadata = 0                       # 0 before the first <metadata>, 1 inside it, 2 after it

    def start(name: str, _attrs: object) -> None:
        nonlocal metadata
        depth = len(open_)
        if depth == 0:
            root.append(name)
        elif depth == 1 and name == "metadata" and metadata == 0:
            metadata = 1
        parts = name.split(" ")
        wanted = depth == 2 and metadata == 1 and len(parts) > 1 and parts[0] == ns and parts[1] == local
        if wanted:
            found.append([])
        open_.append(wanted)

    def end(name: str) -> None:
        nonlocal metadata
        open_.pop()
        if len(open_) == 1 and metadata == 1:
            metadata = 2

    def data(chunk: str) -> None:
        if open_ and open_[-1]:
            found[-1].append(chunk)

    parser.StartElementHandler = start
    parser.EndElementHandler = end
    parser.CharacterDataHandler = data
    try:
        parser.Parse(text.encode("utf-8"), True)
    except ExpatError as err:
        raise _not_well_formed(source, err) from None
    parts = root[0].split(" ")
    if len(parts) > 1 or parts[0] != "domain":
        raise _not_a_domain(source, parts[0] if len(parts) == 1 else
                            f"{parts[2]}:{parts[1]}" if len(parts) > 2 else parts[1])
    return None if metadata == 0 else ["".join(chunks) for chunks in found]


def root_of(doc: minidom.Document) -> minidom.Element:
    root = doc.documentElement
    assert root is not None  # a parsed document always has one
    return root


def doc_of(node: minidom.Element) -> minidom.Document:
    doc = node.ownerDocument
    assert doc is not None  # every node vmplatform handles belongs to a document
    return doc


def _expat_message(err: ExpatError) -> str:
    text = str(err)
    return text.split(":")[0] if ":" in text else text


def serialize(doc: minidom.Document, original: str) -> str:
    """The document as text; an XML declaration only if the original had one."""
    if original.lstrip().startswith("<?xml"):
        return doc.toxml(encoding=None) + "\n"
    return root_of(doc).toxml() + "\n"


def elements(parent: minidom.Element | minidom.Document, local: str,
             ns: str | None = None) -> list[minidom.Element]:
    """Direct child elements named ``local`` in namespace ``ns`` (None: no namespace)."""
    return [c for c in parent.childNodes
            if c.nodeType == Node.ELEMENT_NODE and c.localName == local and c.namespaceURI == ns]


def element(parent: minidom.Element, local: str, ns: str | None = None) -> minidom.Element | None:
    found = elements(parent, local, ns)
    return found[0] if found else None


def text_of(el: minidom.Element) -> str:
    return "".join(c.data for c in el.childNodes if c.nodeType in (Node.TEXT_NODE, Node.CDATA_SECTION_NODE))


def prefix_for(root: minidom.Element, ns: str, preferred: str) -> str:
    """The prefix ``root`` binds to ``ns``; binds ``preferred`` on the root if there is none."""
    for name, value in root.attributes.items():
        if name.startswith("xmlns:") and value == ns:
            return name.split(":", 1)[1]
    root.setAttributeNS(XMLNS_NS, f"xmlns:{preferred}", ns)
    return preferred


def _indent_before(node: minidom.Node) -> str | None:
    prev = node.previousSibling
    if prev is not None and prev.nodeType == Node.TEXT_NODE and not prev.data.strip() and "\n" in prev.data:
        data: str = prev.data
        return data[data.rfind("\n") + 1:]
    return None


def _child_indent(parent: minidom.Element) -> str | None:
    kids = [c for c in parent.childNodes if c.nodeType == Node.ELEMENT_NODE]
    if kids:
        return _indent_before(kids[0])
    own = _indent_before(parent)
    return None if own is None else own + "  "


def append(parent: minidom.Element, child: minidom.Element) -> minidom.Element:
    """Append ``child`` as the last element of ``parent``, indented like its siblings."""
    doc = doc_of(parent)
    indent = _child_indent(parent)
    if indent is None:
        parent.appendChild(child)
        return child
    last = parent.lastChild
    if last is not None and last.nodeType == Node.TEXT_NODE and not last.data.strip():
        parent.insertBefore(doc.createTextNode("\n" + indent), last)
        parent.insertBefore(child, last)
    else:
        own = _indent_before(parent) or ""
        parent.appendChild(doc.createTextNode("\n" + indent))
        parent.appendChild(child)
        parent.appendChild(doc.createTextNode("\n" + own))
    return child


def insert_after(parent: minidom.Element, child: minidom.Element, ref: minidom.Element) -> minidom.Element:
    """Insert ``child`` right after ``ref`` (a child of ``parent``), with ``ref``'s indentation."""
    doc = doc_of(parent)
    nxt = cast(Any, ref.nextSibling)
    parent.insertBefore(child, nxt)
    indent = _indent_before(ref)
    if indent is not None:
        parent.insertBefore(doc.createTextNode("\n" + indent), child)
    return child


def ensure(parent: minidom.Element, local: str, ns: str | None = None, qname: str | None = None,
           attrs: dict[str, str] | None = None) -> minidom.Element:
    """The first child ``local`` (with matching ``attrs``), created at the end if there is none."""
    for el in elements(parent, local, ns):
        if all(el.getAttribute(k) == v for k, v in (attrs or {}).items()):
            return el
    doc = doc_of(parent)
    el = doc.createElementNS(ns, qname or local) if ns else doc.createElement(local)
    for k, v in (attrs or {}).items():
        el.setAttribute(k, v)
    return append(parent, el)
