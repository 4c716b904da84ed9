"""The fleet inventory: an SQLite file by default, PostgreSQL by URL, the same code on both.

Writes are batched: one transaction per batch inserts every report (kept
forever, with probe and arrival time) and moves each host's ``latest``
pointer forward only when the new report is newer, in the database's own
upsert (``INSERT ... ON CONFLICT DO UPDATE ... WHERE newer``), so writers on
many hosts at once neither lose a report nor leave a host pointing at an
older one. SQLite runs in WAL mode with ``BEGIN IMMEDIATE`` for writers (no
lock upgrade, so no spurious "database is locked") and a busy timeout.

The store's own schema is versioned by Alembic (``fleet_alembic_version``):
an older store is migrated forward on open; a store written by a newer
vmplatform is refused with what to do.
"""

from __future__ import annotations

import datetime
import hashlib
import os
import secrets
import zlib
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from vmplatform.errors import VmplatformError
from vmplatform.fleet._deps import require
from vmplatform.fleet.profile import Profile, profile_of
from vmplatform.model.jsonvalue import JsonObject
from vmplatform.model.report import HostReport

if TYPE_CHECKING:
    import sqlalchemy as sa

DEFAULT_DB = "fleet.db"
BATCH = 2000


class StoreError(VmplatformError):
    """The store cannot be opened, or refuses what was asked of it."""


class StoreUnavailable(StoreError):
    """The database did not take a write (server restarted or gone, connection lost): nothing of it
    was committed, and the same write may succeed once the server is back."""


@dataclass(frozen=True)
class Incoming:
    """A parsed report on its way in: where it came from and its exact text."""

    source: str
    report: HostReport
    text: str


@dataclass(frozen=True)
class Row:
    """A report reduced to what the store writes: made in worker processes on large ingests."""

    host: str
    profile: Profile
    kernel_release: str
    os_id: str
    os_version: str
    probed_at: str                 # as the report gives it; normalised when stored
    body: bytes                    # the report's text, zlib-compressed
    source: str = ""               # where it came from (a file, a request), for what could not be stored


def row_of(item: Incoming) -> Row:
    r = item.report
    osr = r.host.os_release
    return Row(r.name, profile_of(r), r.host.kernel_release, osr.get("ID", ""), osr.get("VERSION_ID", ""),
               r.probed_at, zlib.compress(item.text.encode(), 1), item.source)


@dataclass(frozen=True)
class StoredReport:
    id: int
    host: str
    probed_at: str
    received_at: str
    kernel_release: str
    profile_id: int


@dataclass(frozen=True)
class HostRow:
    name: str
    report_id: int
    profile_id: int
    probed_at: str
    kernel_release: str
    retired_at: str | None

    def to_json(self) -> JsonObject:
        return {"host": self.name, "kernel-release": self.kernel_release, "probed-at": self.probed_at,
                "report-id": self.report_id, "profile": self.profile_id, "retired-at": self.retired_at}


def utc_now() -> str:
    return _fmt(datetime.datetime.now(datetime.UTC))


def _fmt(t: datetime.datetime) -> str:
    return t.astimezone(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def normalise_time(text: str, fallback: str) -> str:
    """An ISO 8601 time as fixed-width UTC text (sorts as time); ``fallback`` when absent or unreadable."""
    try:
        t = datetime.datetime.fromisoformat(text)
    except ValueError:
        return fallback
    if t.tzinfo is None:
        t = t.replace(tzinfo=datetime.UTC)
    return _fmt(t)


def database_url(spec: str | None) -> str:
    """``--db`` as an SQLAlchemy URL: a path is an SQLite file; postgresql:// uses psycopg 3."""
    spec = spec or os.environ.get("VMPLATFORM_FLEET_DB") or DEFAULT_DB
    if spec.startswith(("postgresql://", "postgres://")):
        return "postgresql+psycopg://" + spec.split("://", 1)[1]
    if "://" in spec:
        return spec
    return f"sqlite:///{Path(spec).expanduser().resolve()}"


def token_digest(token: str) -> str:
    """Tokens are 256-bit random strings: a plain SHA-256 is enough to store them (no password stretching)."""
    return hashlib.sha256(token.encode()).hexdigest()


class Store:
    """One fleet inventory. Open with :meth:`open`; close with :meth:`close` (or ``with``)."""

    def __init__(self, engine: sa.Engine, url: str) -> None:
        self.engine = engine
        self.url = url
        self.dialect = engine.dialect.name
        self._profile_ids: dict[str, int] = {}

    # -- opening ----------------------------------------------------------------

    @classmethod
    def open(cls, spec: str | None = None, *, create: bool = True) -> Store:
        require("sqlalchemy")
        import sqlalchemy as sa
        from sqlalchemy import event

        url = database_url(spec)
        try:
            if url.startswith("sqlite"):
                path = url.split("///", 1)[1]
                if not create and not Path(path).exists():
                    raise StoreError(f"no fleet store at {path}",
                                     "add reports first with 'vmplatform fleet add --db PATH REPORT.json'")
                engine = sa.create_engine(url, connect_args={"timeout": 60})

                @event.listens_for(engine, "connect")
                def _sqlite_setup(dbapi_conn: Any, _record: Any) -> None:
                    dbapi_conn.isolation_level = None  # we emit BEGIN ourselves
                    cur = dbapi_conn.cursor()
                    cur.execute("PRAGMA journal_mode=WAL")
                    cur.execute("PRAGMA synchronous=NORMAL")
                    cur.execute("PRAGMA busy_timeout=60000")
                    cur.execute("PRAGMA foreign_keys=ON")
                    cur.close()

                @event.listens_for(engine, "begin")
                def _sqlite_begin(conn: Any) -> None:
                    conn.exec_driver_sql("BEGIN IMMEDIATE" if conn.info.get("write") else "BEGIN")
            else:
                require("psycopg")
                # pre-ping: a server restart leaves dead connections in the pool; test one before use.
                engine = sa.create_engine(url, pool_pre_ping=True)
            store = cls(engine, url)
            store._migrate()
        except sa.exc.SQLAlchemyError as err:
            raise StoreError(f"cannot open the fleet store {_safe(url)}: {_first_line(err)}",
                             "check --db: a file path for SQLite, or postgresql://USER@HOST/DB for a "
                             "running PostgreSQL the user may connect to") from err
        return store

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _revision(self, conn: sa.Connection) -> str | None:
        import sqlalchemy as sa

        if not sa.inspect(conn).has_table("fleet_alembic_version"):
            return None
        return conn.exec_driver_sql("SELECT version_num FROM fleet_alembic_version").scalar()

    def _migrate(self) -> None:
        from vmplatform.fleet.schema import HEAD

        with self.engine.connect() as conn:
            current = self._revision(conn)
            conn.rollback()
        if current == HEAD:
            return
        with self._writing() as conn:
            if self.dialect == "postgresql":  # one migrator at a time; the others wait, then see HEAD
                conn.exec_driver_sql("SELECT pg_advisory_xact_lock(7316001)")
            current = self._revision(conn)
            if current == HEAD:
                return
            known = _known_revisions()
            if current is not None and current not in known:
                raise StoreError(
                    f"the fleet store {_safe(self.url)} was written by a newer vmplatform (store revision "
                    f"{current}; this one knows {', '.join(sorted(known))})",
                    "upgrade vmplatform on this machine, or point --db at another store")
            _upgrade(conn)

    # -- writing ----------------------------------------------------------------

    @contextmanager
    def _writing(self) -> Iterator[sa.Connection]:
        with self.engine.connect() as conn:
            conn.info["write"] = True
            try:
                with conn.begin():
                    yield conn
            finally:
                conn.info["write"] = False

    def _insert(self, table: sa.Table) -> Any:
        if self.dialect == "postgresql":
            from sqlalchemy.dialects import postgresql

            return postgresql.insert(table)
        from sqlalchemy.dialects import sqlite

        return sqlite.insert(table)

    def _profile_id(self, conn: sa.Connection, profile: Profile) -> int:
        from vmplatform.fleet.schema import profiles

        digest = profile.digest
        pid = self._profile_ids.get(digest)
        if pid is None:
            conn.execute(self._insert(profiles).on_conflict_do_nothing(index_elements=["digest"]),
                         {"digest": digest, "statuses": profile.dumps()})
            pid = conn.execute(profiles.select().with_only_columns(profiles.c.id)
                               .where(profiles.c.digest == digest)).scalar_one()
            self._profile_ids[digest] = pid
        return pid

    def add_reports(self, items: Sequence[Incoming], labels: Iterable[str] = ()) -> list[int]:
        """Store a batch of reports in one transaction; returns their ids (in order)."""
        return self.add_rows([row_of(it) for it in items], labels)

    def add_rows(self, items: Sequence[Row], labels: Iterable[str] = ()) -> list[int]:
        """Store a batch of prepared reports in one transaction; returns their ids (in order)."""
        import sqlalchemy as sa


        if not items:
            return []
        try:
            return self._add_rows(items, labels)
        except sa.exc.SQLAlchemyError as err:
            # The transaction rolled back: profile ids learnt inside it may not exist.
            self._profile_ids.clear()
            raise StoreUnavailable(f"the fleet store {_safe(self.url)} did not take {len(items)} report(s): "
                                   f"{_first_line(err)}", "nothing of them was stored; add them again") from err

    def _add_rows(self, items: Sequence[Row], labels: Iterable[str]) -> list[int]:
        import sqlalchemy as sa

        from vmplatform.fleet.schema import hosts, reports
        from vmplatform.fleet.schema import labels as labels_t

        now = utc_now()
        with self._writing() as conn:
            rows = [{"host": it.host, "profile_id": self._profile_id(conn, it.profile),
                     "schema": "vmplatform/host-report/1", "kernel_release": it.kernel_release,
                     "os_id": it.os_id, "os_version": it.os_version,
                     "probed_at": normalise_time(it.probed_at, now), "received_at": now, "body": it.body}
                    for it in items]
            ids = list(conn.execute(reports.insert().returning(reports.c.id, sort_by_parameter_order=True),
                                    rows).scalars())
            latest: dict[str, dict[str, Any]] = {}
            for rid, row in zip(ids, rows, strict=True):
                name = str(row["host"])
                cur = latest.get(name)
                if cur is None or (row["probed_at"], rid) > (cur["probed_at"], cur["report_id"]):
                    latest[name] = {"name": name, "report_id": rid, "profile_id": row["profile_id"],
                                           "probed_at": row["probed_at"], "kernel_release": row["kernel_release"],
                                           "retired_at": None}
            ins = self._insert(hosts)
            ex = ins.excluded
            newer = sa.or_(ex.probed_at > hosts.c.probed_at,
                           sa.and_(ex.probed_at == hosts.c.probed_at, ex.report_id > hosts.c.report_id))
            still_retired = sa.and_(hosts.c.retired_at.is_not(None), ex.probed_at <= hosts.c.retired_at)
            conn.execute(ins.on_conflict_do_update(
                index_elements=[hosts.c.name],
                set_={"report_id": ex.report_id, "profile_id": ex.profile_id, "probed_at": ex.probed_at,
                      "kernel_release": ex.kernel_release,
                      "retired_at": sa.case((still_retired, hosts.c.retired_at), else_=None)},
                where=newer), sorted(latest.values(), key=lambda h: str(h["name"])))
            label_rows = [{"host": h, "label": lab} for h in sorted(latest) for lab in sorted(set(labels))]
            if label_rows:
                conn.execute(self._insert(labels_t).on_conflict_do_nothing(), label_rows)
        return ids

    def retire(self, host: str) -> None:
        from vmplatform.fleet.schema import hosts

        with self._writing() as conn:
            done = conn.execute(hosts.update().where(hosts.c.name == host).values(retired_at=utc_now()))
            if done.rowcount == 0:
                raise StoreError(f"no host '{host}' in the fleet store", "list hosts with 'vmplatform fleet hosts'")

    def label(self, names: Iterable[str], label: str, remove: bool = False) -> None:
        from vmplatform.fleet.schema import labels

        names = sorted(set(names))
        self._known(names)
        with self._writing() as conn:
            if remove:
                conn.execute(labels.delete().where(labels.c.label == label, labels.c.host.in_(names)))
            elif names:
                conn.execute(self._insert(labels).on_conflict_do_nothing(),
                             [{"host": n, "label": label} for n in names])

    def put_manifest(self, name: str, text: str) -> None:
        from vmplatform.fleet.schema import manifests

        ins = self._insert(manifests)
        with self._writing() as conn:
            conn.execute(ins.on_conflict_do_update(index_elements=[manifests.c.name],
                                                   set_={"body": ins.excluded.body,
                                                         "stored_at": ins.excluded.stored_at}),
                         {"name": name, "body": text, "stored_at": utc_now()})

    def issue_token(self, host: str) -> str:
        """A new token for ``host`` (replacing any earlier one); only its SHA-256 is stored."""
        from vmplatform.fleet.schema import tokens

        token = secrets.token_urlsafe(32)
        ins = self._insert(tokens)
        with self._writing() as conn:
            conn.execute(ins.on_conflict_do_update(
                index_elements=[tokens.c.host],
                set_={"token_sha256": ins.excluded.token_sha256, "created_at": ins.excluded.created_at}),
                {"host": host, "token_sha256": token_digest(token), "created_at": utc_now()})
        return token

    # -- reading ----------------------------------------------------------------

    def host_for_token(self, token: str) -> str | None:
        from vmplatform.fleet.schema import tokens

        with self.engine.connect() as conn:
            return conn.execute(tokens.select().with_only_columns(tokens.c.host)
                                .where(tokens.c.token_sha256 == token_digest(token))).scalar()

    def _live(self, group: str | None) -> Any:
        import sqlalchemy as sa

        from vmplatform.fleet.schema import hosts, labels

        cond: Any = hosts.c.retired_at.is_(None)
        if group is not None:
            cond = sa.and_(cond, hosts.c.name.in_(
                sa.select(labels.c.host).where(labels.c.label == group).scalar_subquery()))
        return cond

    def profile_counts(self, group: str | None = None) -> dict[int, int]:
        """Profile id -> number of live hosts (of ``group``) whose latest report has it."""
        import sqlalchemy as sa

        from vmplatform.fleet.schema import hosts

        q = sa.select(hosts.c.profile_id, sa.func.count()).where(self._live(group)).group_by(hosts.c.profile_id)
        with self.engine.connect() as conn:
            return {int(p): int(n) for p, n in conn.execute(q)}

    def profiles(self, ids: Iterable[int] | None = None) -> dict[int, Profile]:
        from vmplatform.fleet.schema import profiles

        q = profiles.select()
        if ids is not None:
            q = q.where(profiles.c.id.in_(sorted(set(ids))))
        with self.engine.connect() as conn:
            return {int(r.id): Profile.loads(r.statuses) for r in conn.execute(q)}

    def hosts_with(self, profile_ids: Iterable[int], group: str | None = None, limit: int | None = None,
                   ) -> list[str]:
        """Names of live hosts (of ``group``) with one of these profiles, sorted."""
        import sqlalchemy as sa

        from vmplatform.fleet.schema import hosts

        ids = sorted(set(profile_ids))
        if not ids:
            return []
        q = (sa.select(hosts.c.name).where(self._live(group), hosts.c.profile_id.in_(ids))
             .order_by(hosts.c.name))
        if limit is not None:
            q = q.limit(limit)
        with self.engine.connect() as conn:
            return list(conn.execute(q).scalars())

    def examples(self, group: str | None, n: int, profile_ids: Iterable[int]) -> dict[int, list[str]]:
        """Profile id -> the first ``n`` live host names (sorted) with it: one index seek per profile."""
        import sqlalchemy as sa

        from vmplatform.fleet.schema import hosts

        out: dict[int, list[str]] = {}
        with self.engine.connect() as conn:
            for pid in sorted(set(profile_ids)):
                q = (sa.select(hosts.c.name).where(self._live(group), hosts.c.profile_id == pid)
                     .order_by(hosts.c.name).limit(n))
                out[pid] = [str(x) for x in conn.execute(q).scalars()]
        return out

    def host_profiles(self, group: str | None = None) -> dict[str, int]:
        """Live host name -> profile id (of ``group``)."""
        import sqlalchemy as sa

        from vmplatform.fleet.schema import hosts

        q = sa.select(hosts.c.name, hosts.c.profile_id).where(self._live(group))
        with self.engine.connect() as conn:
            return {str(n): int(p) for n, p in conn.execute(q)}

    def hosts(self, include_retired: bool = False, group: str | None = None) -> list[HostRow]:
        import sqlalchemy as sa

        from vmplatform.fleet.schema import hosts, labels

        q = sa.select(hosts).order_by(hosts.c.name)
        if not include_retired:
            q = q.where(hosts.c.retired_at.is_(None))
        if group is not None:
            q = q.where(hosts.c.name.in_(sa.select(labels.c.host).where(labels.c.label == group)
                                         .scalar_subquery()))
        with self.engine.connect() as conn:
            return [HostRow(r.name, r.report_id, r.profile_id, r.probed_at, r.kernel_release, r.retired_at)
                    for r in conn.execute(q)]

    def host(self, name: str) -> HostRow:
        from vmplatform.fleet.schema import hosts

        with self.engine.connect() as conn:
            r = conn.execute(hosts.select().where(hosts.c.name == name)).first()
        if r is None:
            raise StoreError(f"no host '{name}' in the fleet store", "list hosts with 'vmplatform fleet hosts'")
        return HostRow(r.name, r.report_id, r.profile_id, r.probed_at, r.kernel_release, r.retired_at)

    def _known(self, names: Sequence[str]) -> None:
        import sqlalchemy as sa

        from vmplatform.fleet.schema import hosts

        with self.engine.connect() as conn:
            found = set(conn.execute(sa.select(hosts.c.name).where(hosts.c.name.in_(list(names)))).scalars())
        missing = [n for n in names if n not in found]
        if missing:
            raise StoreError(f"no host {', '.join(repr(m) for m in missing)} in the fleet store",
                             "list hosts with 'vmplatform fleet hosts'")

    def report(self, report_id: int) -> HostReport:
        """A stored report, read back (and validated) from its kept text."""
        from vmplatform.fleet.schema import reports
        from vmplatform.model.report import loads

        with self.engine.connect() as conn:
            r = conn.execute(reports.select().with_only_columns(reports.c.body, reports.c.host)
                             .where(reports.c.id == report_id)).first()
        if r is None:
            raise StoreError(f"no report {report_id} in the fleet store")
        return loads(zlib.decompress(r.body).decode(), f"stored report {report_id} of {r.host}")

    def latest_report(self, host: str) -> HostReport:
        return self.report(self.host(host).report_id)

    def history(self, host: str) -> list[StoredReport]:
        """Every report of ``host``, oldest first."""
        from vmplatform.fleet.schema import reports

        q = (reports.select().with_only_columns(reports.c.id, reports.c.host, reports.c.probed_at,
                                                reports.c.received_at, reports.c.kernel_release,
                                                reports.c.profile_id)
             .where(reports.c.host == host).order_by(reports.c.probed_at, reports.c.id))
        with self.engine.connect() as conn:
            out = [StoredReport(r.id, r.host, r.probed_at, r.received_at, r.kernel_release, r.profile_id)
                   for r in conn.execute(q)]
        if not out:
            raise StoreError(f"no report of host '{host}' in the fleet store",
                             "list hosts with 'vmplatform fleet hosts'")
        return out

    def kernel_profile(self, kernel_release: str) -> int | None:
        """The profile of the latest report any host sent while running ``kernel_release``."""
        from vmplatform.fleet.schema import reports

        q = (reports.select().with_only_columns(reports.c.profile_id)
             .where(reports.c.kernel_release == kernel_release)
             .order_by(reports.c.probed_at.desc(), reports.c.id.desc()).limit(1))
        with self.engine.connect() as conn:
            return conn.execute(q).scalar()

    def manifests(self) -> dict[str, str]:
        from vmplatform.fleet.schema import manifests

        with self.engine.connect() as conn:
            return {r.name: r.body for r in conn.execute(manifests.select().order_by(manifests.c.name))}

    def count_reports(self) -> int:
        import sqlalchemy as sa

        from vmplatform.fleet.schema import reports

        with self.engine.connect() as conn:
            return int(conn.execute(sa.select(sa.func.count()).select_from(reports)).scalar_one())


def _known_revisions() -> set[str]:
    from alembic.script import ScriptDirectory

    return {s.revision for s in ScriptDirectory(str(Path(__file__).parent / "migrations")).walk_revisions()}


def _upgrade(conn: sa.Connection) -> None:
    require("alembic")
    from alembic import command
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(Path(__file__).parent / "migrations"))
    cfg.attributes["connection"] = conn
    command.upgrade(cfg, "head")


def _safe(url: str) -> str:
    """The URL without a password."""
    if "@" in url and "://" in url:
        scheme, rest = url.split("://", 1)
        cred, host = rest.rsplit("@", 1)
        return f"{scheme}://{cred.split(':', 1)[0]}@{host}"
    return url


def _first_line(err: BaseException) -> str:
    return str(getattr(err, "orig", None) or err).strip().splitlines()[0]
