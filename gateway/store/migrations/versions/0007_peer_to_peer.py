"""peer_to_peer_bookings: booked peer-to-peer calls, one per reviewer and slot

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01 14:10:00.000000
"""

import sqlalchemy as sa
from alembic import op

from gateway.store.models import UTCDateTime

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "peer_to_peer_bookings",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("case_id", sa.String(length=32), nullable=False),
        sa.Column("reviewer_id", sa.String(length=64), nullable=False),
        sa.Column("slot_start", UTCDateTime(), nullable=False),
        sa.Column("slot_end", UTCDateTime(), nullable=False),
        sa.Column("held_start", UTCDateTime(), nullable=True),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("mode", sa.String(length=16), nullable=False),
        sa.Column("provider_time_zone", sa.String(length=64), nullable=False),
        sa.Column("booked_by", sa.String(length=64), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=True),
        sa.Column("outcome_notes", sa.Text(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"]),
        sa.PrimaryKeyConstraint("id"),
        # A double booking fails in the database too; a cancelled booking holds no slot (NULL).
        sa.UniqueConstraint("reviewer_id", "held_start", name="uq_p2p_reviewer_slot"),
    )
    op.create_index("ix_peer_to_peer_bookings_case_id", "peer_to_peer_bookings", ["case_id"])


def downgrade() -> None:
    op.drop_index("ix_peer_to_peer_bookings_case_id", table_name="peer_to_peer_bookings")
    op.drop_table("peer_to_peer_bookings")
