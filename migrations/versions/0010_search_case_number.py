"""search on case number (案号): item_search gains case_number; pg_trgm index on it

Revision ID: 0010
Revises: 0009

SQLite: an FTS5 table cannot gain a column, so the upgrade drops `item_search` and its
triggers (built by 0008) and builds them again with 0008's `sqlite_objects` plus
`case_number`, which also backfills every existing item. The items' update trigger
fires on `UPDATE OF case_number` too: the case number is set after registration, when
the register step completes. An SQLite without the trigram tokenizer had no table from
0008 and gets none here (search falls back to LIKE). The downgrade rebuilds 0008's
table without the column.

PostgreSQL: a GIN trigram index on items.case_number, which ILIKE uses.
"""

import importlib.util
from pathlib import Path

from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def _item_search_0008():
    """Migration 0008's module: its column map, triggers and `sqlite_objects`."""
    path = Path(__file__).with_name("0008_item_search.py")
    spec = importlib.util.spec_from_file_location("liaison_migration_0008", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


PG_INDEX = "ix_items_case_number_trgm"


def _rebuild_sqlite(with_case_number: bool) -> None:
    bind = op.get_bind()
    m0008 = _item_search_0008()
    if not m0008._trigram_supported(bind):
        return  # 0008 built nothing either: search uses LIKE
    for trigger in m0008.TRIGGERS:
        op.execute(f"DROP TRIGGER IF EXISTS {trigger}")
    op.execute(f"DROP TABLE IF EXISTS {m0008.TABLE}")
    columns, item_columns = dict(m0008.COLUMNS), m0008.ITEM_COLUMNS
    if with_case_number:
        columns["case_number"] = "{row}.case_number"
        item_columns = (*item_columns, "case_number")
    for statement in m0008.sqlite_objects(columns, item_columns):
        op.execute(statement)


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
        op.execute(f"CREATE INDEX {PG_INDEX} ON items USING gin (case_number gin_trgm_ops)")
    elif bind.dialect.name == "sqlite":
        _rebuild_sqlite(with_case_number=True)


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        op.execute(f"DROP INDEX IF EXISTS {PG_INDEX}")
    elif bind.dialect.name == "sqlite":
        _rebuild_sqlite(with_case_number=False)
