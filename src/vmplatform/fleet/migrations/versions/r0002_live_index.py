"""Index the live hosts by profile and name: counts per profile and example names read only the index.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_fleet_hosts_live", "fleet_hosts", ["retired_at", "profile_id", "name"])
    op.drop_index("ix_fleet_hosts_profile", table_name="fleet_hosts")


def downgrade() -> None:
    op.create_index("ix_fleet_hosts_profile", "fleet_hosts", ["profile_id"])
    op.drop_index("ix_fleet_hosts_live", table_name="fleet_hosts")
