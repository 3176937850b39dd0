"""core_batches: CAQH CORE batch submissions and the payloads waiting for retrieval

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01 14:20:00.000000
"""

import sqlalchemy as sa
from alembic import op

from gateway.store.models import UTCDateTime

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "core_batches",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("partner_id", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("payload_id", sa.String(length=64), nullable=False),
        sa.Column("submission_id", sa.String(length=64), nullable=True),
        sa.Column("sender_id", sa.String(length=64), nullable=False),
        sa.Column("payload_type", sa.String(length=64), nullable=False),
        sa.Column("payload", sa.Text(), nullable=True),
        sa.Column("checksum", sa.String(length=40), nullable=False),
        sa.Column("case_ids", sa.JSON(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("retrieved_at", UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("partner_id", "kind", "payload_id", name="uq_core_batches_payload"),
    )
    op.create_index(
        "ix_core_batches_waiting", "core_batches", ["partner_id", "kind", "retrieved_at", "id"]
    )


def downgrade() -> None:
    op.drop_index("ix_core_batches_waiting", table_name="core_batches")
    op.drop_table("core_batches")
