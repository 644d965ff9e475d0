"""The Alembic migrations build exactly the schema the models describe."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from engine.models import Base
from engine.services.search import include_name


def test_migrations_match_the_models(db_engine):
    with db_engine.connect() as connection:
        differences = compare_metadata(
            MigrationContext.configure(connection, opts={"include_name": include_name}),
            Base.metadata,
        )
    assert differences == []
