"""Alembic environment: the URL comes from the caller (engine.migrate), never a file."""

from alembic import context

from engine.models import Base

config = context.config
connection = config.attributes.get("connection")


def run() -> None:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


run()
