"""Alembic environment: the URL comes from the caller (engine.migrate), never a file."""

from alembic import context

from engine.models import Base
from engine.services.search import include_name

config = context.config
connection = config.attributes.get("connection")


def run() -> None:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
        include_name=include_name,  # search objects built by hand in 0008
    )
    with context.begin_transaction():
        context.run_migrations()


run()
