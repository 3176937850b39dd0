"""partners.callback_url: where X12 follow-ups (unsolicited 278 responses) are POSTed

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01 14:00:00.000000
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Only when missing: a store whose version row was set back (a restore, a test rewinding to
    # an earlier revision) upgrades again without failing on a column it already has.
    columns = {column["name"] for column in sa.inspect(op.get_bind()).get_columns("partners")}
    if "callback_url" in columns:
        return
    # Nullable, no default: a partner without one gets its follow-ups in the mailbox only.
    with op.batch_alter_table("partners") as batch:
        batch.add_column(sa.Column("callback_url", sa.String(length=2048), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("partners") as batch:
        batch.drop_column("callback_url")
