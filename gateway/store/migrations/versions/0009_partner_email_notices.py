"""partners.email_notices: whether a partner's cases send the opt-in e-mail notices

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-01 16:00:00.000000
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    columns = {column["name"] for column in sa.inspect(op.get_bind()).get_columns("partners")}
    if "email_notices" in columns:
        return
    # True for every partner already registered: the requests' own addresses decide, as before.
    with op.batch_alter_table("partners") as batch:
        batch.add_column(
            sa.Column("email_notices", sa.Boolean(), nullable=False, server_default=sa.true())
        )


def downgrade() -> None:
    with op.batch_alter_table("partners") as batch:
        batch.drop_column("email_notices")
