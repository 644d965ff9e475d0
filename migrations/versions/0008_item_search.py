"""item search: FTS5 trigram table on SQLite, pg_trgm GIN indexes on PostgreSQL

Revision ID: 0008
Revises: 0007

SQLite: `item_search` holds one row per item (rowid = items.id) with the searched text;
triggers on items, item_deputies and deputies keep it in sync and the upgrade backfills
existing items. An FTS5 table cannot gain a column, so adding one later (案号) is a new
migration that drops these objects and calls `sqlite_objects` with one more column.
An SQLite without the trigram tokenizer (< 3.34) gets no table: search then falls back
to LIKE (engine.services.search).

PostgreSQL: the pg_trgm extension and GIN trigram indexes, which ILIKE uses.
"""

import logging

from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

log = logging.getLogger("alembic.runtime.migration")

TABLE = "item_search"
DEPUTY_NAMES = (
    "(SELECT group_concat(d.name, ' ') FROM item_deputies AS x"
    " JOIN deputies AS d ON d.id = x.deputy_id WHERE x.item_id = {item_id})"
)
# index column -> SQL for its value, given the items row `{row}`
COLUMNS = {
    "number": "{row}.number",
    "title": "{row}.title",
    "content": "{row}.content",
    "deputies": DEPUTY_NAMES.replace("{item_id}", "{row}.id"),
}
ITEM_COLUMNS = ("number", "title", "content")  # an update of these re-indexes the item
TRIGGERS = (
    "item_search_items_ai",
    "item_search_items_au",
    "item_search_items_ad",
    "item_search_links_ai",
    "item_search_links_au",
    "item_search_links_ad",
    "item_search_deputies_au",
)
PG_INDEXES = (
    ("ix_items_number_trgm", "items", "number"),
    ("ix_items_title_trgm", "items", "title"),
    ("ix_items_content_trgm", "items", "content"),
    ("ix_deputies_name_trgm", "deputies", "name"),
)


def sqlite_objects(columns: dict[str, str], item_columns: tuple[str, ...]) -> list[str]:
    """DDL for the FTS5 table, its triggers, and the backfill of existing items."""
    names = ", ".join(columns)
    values = ", ".join(sql.format(row="new") for sql in columns.values())
    deputies = DEPUTY_NAMES.format(item_id="{id}")

    def set_deputies(item_id: str) -> str:
        return (
            f"UPDATE {TABLE} SET deputies = {deputies.format(id=item_id)} WHERE rowid = {item_id};"
        )

    return [
        f"CREATE VIRTUAL TABLE {TABLE} USING fts5({names}, tokenize = 'trigram')",
        f"CREATE TRIGGER item_search_items_ai AFTER INSERT ON items BEGIN "
        f"INSERT INTO {TABLE}(rowid, {names}) VALUES (new.id, {values}); END",
        f"CREATE TRIGGER item_search_items_au AFTER UPDATE OF id, {', '.join(item_columns)} "
        f"ON items BEGIN DELETE FROM {TABLE} WHERE rowid = old.id; "
        f"INSERT INTO {TABLE}(rowid, {names}) VALUES (new.id, {values}); END",
        f"CREATE TRIGGER item_search_items_ad AFTER DELETE ON items BEGIN "
        f"DELETE FROM {TABLE} WHERE rowid = old.id; END",
        f"CREATE TRIGGER item_search_links_ai AFTER INSERT ON item_deputies BEGIN "
        f"{set_deputies('new.item_id')} END",
        f"CREATE TRIGGER item_search_links_au AFTER UPDATE ON item_deputies BEGIN "
        f"{set_deputies('old.item_id')} {set_deputies('new.item_id')} END",
        f"CREATE TRIGGER item_search_links_ad AFTER DELETE ON item_deputies BEGIN "
        f"{set_deputies('old.item_id')} END",
        f"CREATE TRIGGER item_search_deputies_au AFTER UPDATE OF name ON deputies BEGIN "
        f"UPDATE {TABLE} SET deputies = {deputies.format(id=TABLE + '.rowid')} "
        f"WHERE rowid IN (SELECT item_id FROM item_deputies WHERE deputy_id = new.id); END",
        f"INSERT INTO {TABLE}(rowid, {names}) "
        f"SELECT i.id, {', '.join(sql.format(row='i') for sql in columns.values())} "
        f"FROM items AS i",
    ]


def _trigram_supported(bind) -> bool:
    version = bind.exec_driver_sql("SELECT sqlite_version()").scalar()
    fts5 = bind.exec_driver_sql("SELECT sqlite_compileoption_used('ENABLE_FTS5')").scalar()
    return bool(fts5) and tuple(int(p) for p in version.split(".")[:3]) >= (3, 34, 0)


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
        for name, table, column in PG_INDEXES:
            op.execute(f"CREATE INDEX {name} ON {table} USING gin ({column} gin_trgm_ops)")
    elif bind.dialect.name == "sqlite":
        if not _trigram_supported(bind):
            version = bind.exec_driver_sql("SELECT sqlite_version()").scalar()
            log.warning(
                "SQLite %s has no FTS5 trigram tokenizer (needs 3.34+ with FTS5): "
                "item search falls back to LIKE scans",
                version,
            )
            return
        for statement in sqlite_objects(COLUMNS, ITEM_COLUMNS):
            op.execute(statement)


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        for name, _table, _column in PG_INDEXES:
            op.execute(f"DROP INDEX IF EXISTS {name}")
        # the extension stays: other databases objects may use it, and it is harmless
    elif bind.dialect.name == "sqlite":
        for trigger in TRIGGERS:
            op.execute(f"DROP TRIGGER IF EXISTS {trigger}")
        op.execute(f"DROP TABLE IF EXISTS {TABLE}")
