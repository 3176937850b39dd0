"""cases.prior_case_id indexed: the authorization lookup reads which cases change a case

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01 14:00:00.000000
"""

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Every authorization lookup asks which cases name this one as their prior case
    # (`replaced_by`); unindexed, that is a scan of every case on each request.
    op.create_index("ix_cases_prior_case_id", "cases", ["prior_case_id"])


def downgrade() -> None:
    op.drop_index("ix_cases_prior_case_id", table_name="cases")
