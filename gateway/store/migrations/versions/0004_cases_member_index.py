"""cases by member, newest first ($inquire)

Revision ID: 0004
Revises: 0002
Create Date: 2026-12-01 11:40:00.000000

Numbered 0004 and based on 0002 so that a 0003 written beside it can be merged in between: the
integrator sets down_revision to the last migration before this one.
"""

from alembic import op

revision = "0004"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_cases_member_created", "cases", ["member_key", "created_at"])


def downgrade() -> None:
    op.drop_index("ix_cases_member_created", table_name="cases")
