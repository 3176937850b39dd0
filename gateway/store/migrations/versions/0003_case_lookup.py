"""case_lookup: the $inquire lookup by member, provider NPI and trace number

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01 11:40:00.000000
"""

import sqlalchemy as sa
from alembic import op

from gateway.store.models import UTCDateTime

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "case_lookup",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("case_id", sa.String(length=32), nullable=False),
        sa.Column("member_key", sa.String(), nullable=True),
        sa.Column("npi", sa.String(), nullable=False),
        sa.Column("trace_number", sa.String(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_case_lookup_case_id", "case_lookup", ["case_id"])
    op.create_index("ix_case_lookup_member_npi", "case_lookup", ["member_key", "npi", "created_at"])
    _backfill()


def _backfill() -> None:
    """Lookup rows for the cases stored before this migration, in pages."""
    from gateway.store.lookup import lookup_rows

    bind = op.get_bind()
    cases = sa.table(
        "cases",
        sa.column("id", sa.String()),
        sa.column("member_key", sa.String()),
        sa.column("case_json", sa.JSON()),
        sa.column("created_at", UTCDateTime()),
    )
    lookup = sa.table(
        "case_lookup",
        sa.column("case_id", sa.String()),
        sa.column("member_key", sa.String()),
        sa.column("npi", sa.String()),
        sa.column("trace_number", sa.String()),
        sa.column("created_at", UTCDateTime()),
    )
    after = ""
    while True:
        page = bind.execute(
            sa.select(cases).where(cases.c.id > after).order_by(cases.c.id).limit(500)
        ).all()
        if not page:
            return
        rows = []
        for case_id, member_key, case_json, created_at in page:
            rows.extend(lookup_rows(case_id, member_key, case_json or {}, created_at))
        if rows:
            bind.execute(sa.insert(lookup), rows)
        after = page[-1][0]


def downgrade() -> None:
    op.drop_index("ix_case_lookup_member_npi", table_name="case_lookup")
    op.drop_index("ix_case_lookup_case_id", table_name="case_lookup")
    op.drop_table("case_lookup")
