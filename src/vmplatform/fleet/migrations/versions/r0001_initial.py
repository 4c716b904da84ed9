"""Initial fleet store: profiles, reports, hosts, labels, tokens, manifests.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "fleet_profiles",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("digest", sa.String(64), nullable=False, unique=True),
        sa.Column("statuses", sa.Text, nullable=False))
    op.create_table(
        "fleet_reports",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("host", sa.String(255), nullable=False),
        sa.Column("profile_id", sa.Integer, sa.ForeignKey("fleet_profiles.id"), nullable=False),
        sa.Column("schema", sa.String(64), nullable=False),
        sa.Column("kernel_release", sa.String(255), nullable=False),
        sa.Column("os_id", sa.String(64), nullable=False),
        sa.Column("os_version", sa.String(64), nullable=False),
        sa.Column("probed_at", sa.String(32), nullable=False),
        sa.Column("received_at", sa.String(32), nullable=False),
        sa.Column("body", sa.LargeBinary, nullable=False))
    op.create_index("ix_fleet_reports_host", "fleet_reports", ["host", "probed_at"])
    op.create_table(
        "fleet_hosts",
        sa.Column("name", sa.String(255), primary_key=True),
        sa.Column("report_id", sa.Integer, sa.ForeignKey("fleet_reports.id"), nullable=False),
        sa.Column("profile_id", sa.Integer, sa.ForeignKey("fleet_profiles.id"), nullable=False),
        sa.Column("probed_at", sa.String(32), nullable=False),
        sa.Column("kernel_release", sa.String(255), nullable=False),
        sa.Column("retired_at", sa.String(32), nullable=True))
    op.create_index("ix_fleet_hosts_profile", "fleet_hosts", ["profile_id"])
    op.create_table(
        "fleet_labels",
        sa.Column("host", sa.String(255), primary_key=True),
        sa.Column("label", sa.String(255), primary_key=True))
    op.create_index("ix_fleet_labels_label", "fleet_labels", ["label", "host"])
    op.create_table(
        "fleet_tokens",
        sa.Column("host", sa.String(255), primary_key=True),
        sa.Column("token_sha256", sa.String(64), nullable=False, unique=True),
        sa.Column("created_at", sa.String(32), nullable=False))
    op.create_table(
        "fleet_manifests",
        sa.Column("name", sa.String(255), primary_key=True),
        sa.Column("body", sa.Text, nullable=False),
        sa.Column("stored_at", sa.String(32), nullable=False))


def downgrade() -> None:
    for table in ("fleet_manifests", "fleet_tokens", "fleet_labels", "fleet_hosts", "fleet_reports",
                  "fleet_profiles"):
        op.drop_table(table)
