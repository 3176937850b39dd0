"""Alembic environment: the engine is handed over by gateway.store.db.upgrade."""

from alembic import context

import gateway.audit.models  # noqa: F401  (registers the audit table on Base)
import gateway.partners.models  # noqa: F401  (registers the partner tables on Base)
from gateway.store.models import Base

config = context.config
engine = config.attributes.get("engine")
if engine is None:  # run from the alembic command line
    from gateway.settings import get_settings
    from gateway.store.db import make_engine

    engine = make_engine(get_settings().database_url)

with engine.connect() as connection:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()
    connection.commit()
