"""PAP therapies and their nights of usage (the home health / DME program's compliance rule)

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01 15:00:00.000000
"""

import sqlalchemy as sa
from alembic import op

from gateway.store.models import UTCDateTime

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "pap_therapies",
        sa.Column("id", sa.String(length=32), primary_key=True),
        sa.Column("submitter_id", sa.String(length=64), nullable=True),
        sa.Column("case_id", sa.String(length=32), nullable=True),
        sa.Column("member_key", sa.String(length=64), nullable=False),
        sa.Column("device_code", sa.String(length=16), nullable=False),
        sa.Column("start_date", sa.Date(), nullable=False),
        sa.Column("supplier", sa.JSON(), nullable=False),
        sa.Column("physician", sa.JSON(), nullable=False),
        sa.Column("outreach_sent", sa.JSON(), nullable=False),
        sa.Column("compliant_on", sa.Date(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
    )
    op.create_index("ix_pap_therapies_submitter_id", "pap_therapies", ["submitter_id"])
    op.create_table(
        "pap_nights",
        sa.Column(
            "therapy_id", sa.String(length=32), sa.ForeignKey("pap_therapies.id"), primary_key=True
        ),
        sa.Column("night", sa.Date(), primary_key=True),
        sa.Column("hours", sa.Float(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("pap_nights")
    op.drop_index("ix_pap_therapies_submitter_id", table_name="pap_therapies")
    op.drop_table("pap_therapies")
