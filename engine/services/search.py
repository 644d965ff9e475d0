"""Search across items: number, title, content, case number (案号) and deputy names.

Chinese has no spaces between words, so word tokenizers are useless here; both backends
index character trigrams instead and match any substring of the query:

* SQLite: the FTS5 table `item_search` (tokenizer `trigram`, SQLite >= 3.34), one row per
  item (rowid = items.id) holding number, title, content, case number and the item's
  deputy names, kept in sync by triggers (migration 0008, rebuilt with `case_number` by
  0010; the items trigger fires on `UPDATE OF case_number`, since the register step sets
  it after registration). Queries of 3 characters or more use `MATCH` with the input
  quoted as one FTS5 string, so no user syntax gets through; shorter ones (a
  two-character name such as 王芳) cannot be expressed as trigrams and fall back to LIKE
  on the items and deputies.
* PostgreSQL: pg_trgm GIN indexes on items.number, items.title, items.content,
  items.case_number and deputies.name; ILIKE uses them (for patterns of 3+ characters).

A case number is found whole (（2026）京0105民初1234号) or by any fragment (民初1234);
an item whose number or case number is exactly the query comes first.

The caller ANDs the returned condition with `visible_items(user)`, so search never widens
what a user may see. Adding a column later means: a new migration that rebuilds
`item_search` with the column (as 0010 does with 0008's `sqlite_objects`) and adds a
trigram index on PostgreSQL (named in `PG_TRIGRAM_INDEXES` below), plus the column's name
in `ITEM_TEXT_COLUMNS`.
"""

from __future__ import annotations

from sqlalchemy import (
    ColumnElement,
    Integer,
    case,
    false,
    or_,
    select,
    text,
    union,
)
from sqlalchemy.orm import Session

from engine.models import Deputy, Item, ItemDeputy

SEARCH_TABLE = "item_search"
ITEM_TEXT_COLUMNS = ("number", "title", "content", "case_number")  # items columns searched
MIN_TRIGRAM = 3  # shorter queries cannot use a trigram index
MAX_QUERY = 200  # longer input is cut: nobody types more, and it bounds the work
SQLITE_TRIGRAM = (3, 34, 0)  # first SQLite with FTS5's trigram tokenizer
LIKE_ESCAPE = "\\"


def normalize(q: str | None) -> str:
    """The text searched for: trimmed, bounded, without NUL (PostgreSQL text cannot hold it)."""
    return (q or "").replace("\x00", "").strip()[:MAX_QUERY]


def escape_like(value: str) -> str:
    """`value` as a literal inside a LIKE pattern escaped with a backslash."""
    return (
        value.replace(LIKE_ESCAPE, LIKE_ESCAPE * 2)
        .replace("%", LIKE_ESCAPE + "%")
        .replace("_", LIKE_ESCAPE + "_")
    )


def fts5_string(value: str) -> str:
    """`value` as one FTS5 string (a phrase): operators, `*`, `:` and quotes are literal."""
    return '"' + value.replace('"', '""') + '"'


def sqlite_trigram_supported(connection) -> bool:
    """Whether this SQLite library has FTS5 with the trigram tokenizer."""
    version = connection.exec_driver_sql("SELECT sqlite_version()").scalar()
    fts5 = connection.exec_driver_sql("SELECT sqlite_compileoption_used('ENABLE_FTS5')").scalar()
    return bool(fts5) and tuple(int(p) for p in version.split(".")[:3]) >= SQLITE_TRIGRAM


def fts_ready(session: Session) -> bool:
    """True when migrations 0008/0010 built the FTS5 table (skipped on an old SQLite)."""
    return (
        session.execute(
            text("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = :name"),
            {"name": SEARCH_TABLE},
        ).scalar()
        is not None
    )


def matches(session: Session, q: str | None) -> ColumnElement[bool]:
    """Items whose number, title, content, case number or a deputy's name contains `q`.

    `q` is taken literally.
    """
    q = normalize(q)
    if not q:
        return false()
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        return _postgres(q)
    if dialect == "sqlite" and len(q) >= MIN_TRIGRAM and fts_ready(session):
        hits = text(f"SELECT rowid FROM {SEARCH_TABLE} WHERE {SEARCH_TABLE} MATCH :search_q")
        return Item.id.in_(
            hits.bindparams(search_q=fts5_string(q)).columns(rowid=Integer)  # type: ignore[arg-type]
        )
    return _like(q)


def exact_number_first(q: str | None) -> ColumnElement[int]:
    """Sort key: 0 for the item whose number or case number is exactly `q`, 1 for others."""
    q = normalize(q)
    return case((or_(Item.number == q, Item.case_number == q), 0), else_=1)


def _pattern(q: str) -> str:
    return f"%{escape_like(q)}%"


def _like(q: str) -> ColumnElement[bool]:
    """Plain LIKE (case-insensitive for ASCII on SQLite): short queries, or no FTS5."""
    pattern = _pattern(q)
    # deputies are few: their matching items are one small list, not a join per item
    by_deputy = (
        select(ItemDeputy.item_id)
        .join(Deputy, Deputy.id == ItemDeputy.deputy_id)
        .where(Deputy.name.like(pattern, escape=LIKE_ESCAPE))
    )
    return or_(
        *(getattr(Item, c).like(pattern, escape=LIKE_ESCAPE) for c in ITEM_TEXT_COLUMNS),
        Item.id.in_(by_deputy),
    )


def _postgres(q: str) -> ColumnElement[bool]:
    """One id set from a BitmapOr of the items' trigram indexes plus the deputies' one."""
    pattern = _pattern(q)
    in_item = select(Item.id).where(
        or_(*(getattr(Item, c).ilike(pattern, escape=LIKE_ESCAPE) for c in ITEM_TEXT_COLUMNS))
    )
    by_deputy = (
        select(ItemDeputy.item_id)
        .join(Deputy, Deputy.id == ItemDeputy.deputy_id)
        .where(Deputy.name.ilike(pattern, escape=LIKE_ESCAPE))
    )
    return Item.id.in_(union(in_item, by_deputy))


PG_TRIGRAM_INDEXES = (
    "ix_items_number_trgm",
    "ix_items_title_trgm",
    "ix_items_content_trgm",
    "ix_items_case_number_trgm",  # migration 0010
    "ix_deputies_name_trgm",
)


def include_name(name: str | None, type_: str, _parent_names: dict) -> bool:
    """Alembic autogenerate filter: the search objects live in migrations, not the models.

    The FTS5 table (and its shadow tables `item_search_*`) and the trigram indexes cannot
    be declared as SQLAlchemy models, so comparisons must not report them as extra.
    """
    if type_ == "table" and name is not None:
        return not (name == SEARCH_TABLE or name.startswith(SEARCH_TABLE + "_"))
    if type_ == "index":
        return name not in PG_TRIGRAM_INDEXES
    return True
