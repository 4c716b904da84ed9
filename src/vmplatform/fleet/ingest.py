"""Reading reports (and manifests) for ``fleet add``: files, directories, stdin.

A bad input is refused with its source and the reason, and the rest still go
in. Schemas are checked before anything else: a report written by a newer
vmplatform is refused as such (not as "not a report"), so an operator knows
to upgrade the store's side.
"""

from __future__ import annotations

import json
import os
import re
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from vmplatform.errors import HostReportError, VmplatformError
from vmplatform.fleet.store import BATCH, Incoming, Row, Store, StoreUnavailable, row_of
from vmplatform.model import _jsontext
from vmplatform.model.jsonvalue import JsonObject
from vmplatform.model.report import SCHEMA as REPORT_SCHEMA
from vmplatform.model.report import from_json_obj

if TYPE_CHECKING:
    from tqdm import tqdm

_SCHEMA = re.compile(r"^vmplatform/(host-report|manifest)/(\d+)$")
_READS = {"host-report": 1, "manifest": 1}


# Waits between tries of a batch the database did not take (a PostgreSQL restart takes
# a second or two); after the last, the batch is reported as not stored.
RETRY_DELAYS = (0.2, 0.5, 1.0, 2.0, 4.0)


@dataclass(frozen=True)
class Refusal:
    source: str
    reason: str


@dataclass(frozen=True)
class ManifestIn:
    name: str
    source: str
    text: str


@dataclass(frozen=True)
class IngestResult:
    reports: int
    manifests: int
    refused: tuple[Refusal, ...]

    def to_json(self) -> JsonObject:
        return {"added-reports": self.reports, "added-manifests": self.manifests,
                "refused": [{"source": r.source, "reason": r.reason} for r in self.refused]}


def sources(paths: Sequence[str]) -> list[str]:
    """Expand directories (every ``*.json``, sorted); '-' stays stdin."""
    out: list[str] = []
    for p in paths:
        path = Path(p)
        if p != "-" and path.is_dir():
            out += [str(f) for f in sorted(path.glob("*.json"))]
        else:
            out.append(p)
    return out


def _texts(source: str) -> Iterator[tuple[str, str | Refusal]]:
    """(source of each JSON document, its text or why it cannot be read)."""
    try:
        text = sys.stdin.read() if source == "-" else Path(source).read_text(encoding="utf-8")
    except OSError as err:
        yield source, Refusal(source, f"cannot read: {err.strerror}")
        return
    except UnicodeDecodeError:
        yield source, Refusal(source, "not a text file")
        return
    name = "<stdin>" if source == "-" else source
    decoder = json.JSONDecoder()
    i, n = 0, 0
    while True:
        while i < len(text) and text[i].isspace():
            i += 1
        if i >= len(text):
            if n == 0:
                yield name, Refusal(name, "empty file, not a host report")
            return
        n += 1
        try:
            _, end = decoder.raw_decode(text, i)
        except json.JSONDecodeError:
            # the reader below says exactly what is wrong with it
            yield (f"{name} (document {n})" if n > 1 else name), text[i:]
            return
        label = name if (n == 1 and not text[end:].strip()) else f"{name} (document {n})"
        yield label, text[i:end]
        i = end


def classify(obj: object, source: str) -> str:
    """'host-report' or 'manifest', or a HostReportError that says why neither."""
    schema = obj.get("schema") if isinstance(obj, dict) else None
    m = _SCHEMA.match(schema) if isinstance(schema, str) else None
    if m is None:
        raise HostReportError(source, "", f"not a vmplatform host report or manifest (schema {schema!r}, "
                              f"expected {REPORT_SCHEMA!r})",
                              hint="produce one on that host with 'vmplatform probe --json > REPORT.json'")
    kind, version = m.group(1), int(m.group(2))
    reads = _READS[kind]
    if version > reads:
        raise HostReportError(source, "", f"written by a newer vmplatform ({kind} schema {version}; this one "
                              f"reads schema {reads})", hint="upgrade vmplatform where the store is fed")
    if version < reads:
        raise HostReportError(source, "", f"{kind} schema {version} is older than this vmplatform reads "
                              f"(schema {reads})", hint="probe that host again with a current vmplatform")
    return kind


def parse(source: str, text: str) -> Incoming | ManifestIn | Refusal:
    from vmplatform.model.report import loads

    try:
        obj = _jsontext.loads(text)
    except json.JSONDecodeError:
        try:
            loads(text, source)  # raises with the precise problem (truncated, invalid, ...)
        except VmplatformError as err:
            return Refusal(source, err.message.removeprefix(f"{source}: "))
        return Refusal(source, "invalid JSON")
    try:
        kind = classify(obj, source)
        if kind == "manifest":
            from vmplatform.resolution.manifest import loads as manifest_loads

            manifest_loads(text, source)
            stem = Path(source.split(" (document")[0]).stem
            return ManifestIn(stem, source, text)
        return Incoming(source, from_json_obj(obj, source), text)
    except VmplatformError as err:
        return Refusal(source, err.message.removeprefix(f"{source}: "))


PARALLEL_MIN = 4000   # documents: below this, starting worker processes costs more than it saves
CHUNK = 500


def ingest(store: Store, paths: Sequence[str], labels: Iterable[str] = (), progress: bool | None = None,
           on_refusal: Callable[[Refusal], None] | None = None, batch_size: int = BATCH,
           workers: int | None = None) -> IngestResult:
    """Store every report and manifest of ``paths``; refusals are collected, not raised."""
    files = sources(paths)

    def docs() -> Iterator[tuple[str, str | Refusal]]:
        for f in files:
            yield from _texts(f)

    return ingest_docs(store, docs(), len(files), labels, progress, on_refusal, batch_size, workers)


def prepare(chunk: Sequence[tuple[str, str | Refusal]]) -> list[Row | ManifestIn | Refusal]:
    """Parse, validate, profile and compress documents (in a worker process on large ingests)."""
    out: list[Row | ManifestIn | Refusal] = []
    for source, text in chunk:
        item = text if isinstance(text, Refusal) else parse(source, text)
        out.append(row_of(item) if isinstance(item, Incoming) else item)
    return out


def _chunks(docs: Iterator[tuple[str, str | Refusal]], size: int) -> Iterator[list[tuple[str, str | Refusal]]]:
    chunk: list[tuple[str, str | Refusal]] = []
    for d in docs:
        chunk.append(d)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def ingest_docs(store: Store, docs: Iterator[tuple[str, str | Refusal]], total: int,
                labels: Iterable[str] = (), progress: bool | None = None,
                on_refusal: Callable[[Refusal], None] | None = None, batch_size: int = BATCH,
                workers: int | None = None) -> IngestResult:
    """Store documents given as (source, text); large ingests parse in ``workers`` processes
    (default: one per CPU) while this one writes, batch by batch, in the documents' order."""
    labels = tuple(labels)
    bar = _bar(total, progress)
    refused: list[Refusal] = []
    batch: list[Row] = []
    unavailable: list[str] = []
    n_reports = n_manifests = 0
    if workers is None:
        workers = (os.cpu_count() or 1) if total >= PARALLEL_MIN else 1

    def flush() -> None:
        nonlocal n_reports
        stored = write_batch(store, batch, labels)
        if stored is None:
            for row in batch:
                failed = Refusal(row.source or row.host, f"not stored: {unavailable[-1]}")
                refused.append(failed)
                if on_refusal is not None:
                    on_refusal(failed)
        else:
            n_reports += len(batch)
        batch.clear()

    def write_batch(store: Store, rows: list[Row], labels: tuple[str, ...]) -> list[int] | None:
        """The batch's ids, or None when the database did not take it within the retries."""
        for delay in RETRY_DELAYS:
            try:
                return store.add_rows(rows, labels)
            except StoreUnavailable as err:
                unavailable.append(err.message)
                time.sleep(delay)
        try:
            return store.add_rows(rows, labels)
        except StoreUnavailable as err:
            unavailable.append(err.message)
            return None

    def take(items: list[Row | ManifestIn | Refusal]) -> None:
        nonlocal n_reports, n_manifests
        for item in items:
            if isinstance(item, Refusal):
                refused.append(item)
                if on_refusal is not None:
                    on_refusal(item)
            elif isinstance(item, ManifestIn):
                store.put_manifest(item.name, item.text)
                n_manifests += 1
            else:
                batch.append(item)
                if len(batch) >= batch_size:
                    flush()
        if bar is not None:
            bar.update(len(items))

    try:
        chunks = _chunks(docs, CHUNK)
        if workers > 1:
            import multiprocessing

            with multiprocessing.get_context("fork").Pool(workers) as pool:
                for items in pool.imap(prepare, chunks):
                    take(items)
        else:
            for chunk in chunks:
                take(prepare(chunk))
        if batch:
            flush()
    finally:
        if bar is not None:
            bar.close()
    return IngestResult(n_reports, n_manifests, tuple(refused))


def _bar(total: int, progress: bool | None) -> tqdm[Any] | None:
    """A tqdm bar on stderr for long ingests (when stderr is a terminal, unless forced on or off)."""
    if progress is False or (progress is None and (total < 200 or not sys.stderr.isatty())):
        return None
    from tqdm import tqdm

    return tqdm(total=total, unit="report", desc="fleet add", file=sys.stderr, mininterval=0.2)

