"""The store's tables (SQLAlchemy Core). Alembic's migrations/ creates and evolves them.

``hosts`` holds one row per host: its latest report and, denormalised from
it, the profile the questions group by. Every report ever received stays in
``reports`` with its probe time and arrival time; the body is the report's
JSON, zlib-compressed (a 4.6 kB report stores in about 0.7 kB).
"""

from __future__ import annotations

import sqlalchemy as sa

# The Alembic revision this code reads and writes; migrations/versions/ ends here.
HEAD = "0002"

metadata = sa.MetaData()

profiles = sa.Table(
    "fleet_profiles", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("digest", sa.String(64), nullable=False, unique=True),
    sa.Column("statuses", sa.Text, nullable=False),           # JSON {feature: status}
)

reports = sa.Table(
    "fleet_reports", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("host", sa.String(255), nullable=False),
    sa.Column("profile_id", sa.Integer, sa.ForeignKey("fleet_profiles.id"), nullable=False),
    sa.Column("schema", sa.String(64), nullable=False),
    sa.Column("kernel_release", sa.String(255), nullable=False),
    sa.Column("os_id", sa.String(64), nullable=False),
    sa.Column("os_version", sa.String(64), nullable=False),
    sa.Column("probed_at", sa.String(32), nullable=False),    # normalised UTC, sorts as text
    sa.Column("received_at", sa.String(32), nullable=False),
    sa.Column("body", sa.LargeBinary, nullable=False),
    sa.Index("ix_fleet_reports_host", "host", "probed_at"),
)

hosts = sa.Table(
    "fleet_hosts", metadata,
    sa.Column("name", sa.String(255), primary_key=True),
    sa.Column("report_id", sa.Integer, sa.ForeignKey("fleet_reports.id"), nullable=False),
    sa.Column("profile_id", sa.Integer, sa.ForeignKey("fleet_profiles.id"), nullable=False),
    sa.Column("probed_at", sa.String(32), nullable=False),
    sa.Column("kernel_release", sa.String(255), nullable=False),
    sa.Column("retired_at", sa.String(32), nullable=True),
    sa.Index("ix_fleet_hosts_live", "retired_at", "profile_id", "name"),
)

labels = sa.Table(
    "fleet_labels", metadata,
    sa.Column("host", sa.String(255), primary_key=True),
    sa.Column("label", sa.String(255), primary_key=True),
    sa.Index("ix_fleet_labels_label", "label", "host"),
)

tokens = sa.Table(
    "fleet_tokens", metadata,
    sa.Column("host", sa.String(255), primary_key=True),
    sa.Column("token_sha256", sa.String(64), nullable=False, unique=True),
    sa.Column("created_at", sa.String(32), nullable=False),
)

manifests = sa.Table(
    "fleet_manifests", metadata,
    sa.Column("name", sa.String(255), primary_key=True),
    sa.Column("body", sa.Text, nullable=False),
    sa.Column("stored_at", sa.String(32), nullable=False),
)
