"""Database engine, sessions and the unit of work.

Each engine service call runs inside one `unit_of_work`: workflow state, task
projections and the audit event commit together or not at all.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker

READ_ONLY_OPTION = "liaison_read_only"


def make_engine(url: str, **kwargs) -> Engine:
    """Create an engine; SQLite gets WAL, foreign keys and a busy timeout.

    WAL plus a busy timeout lets the web process and a scheduler process share the
    embedded database without 'database is locked' errors under normal load.
    """
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": 30}, **kwargs)

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection, _record) -> None:
            # Let SQLAlchemy own transactions so BEGIN IMMEDIATE below takes effect.
            dbapi_connection.isolation_level = None
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.close()

        @event.listens_for(engine, "begin")
        def _sqlite_begin(conn) -> None:
            # Writers take the write lock up front: a read-then-write transaction that
            # upgrades later can fail with SQLITE_BUSY instead of waiting its turn.
            # Read-only units of work (page views) use a plain BEGIN and never queue.
            read_only = conn.get_execution_options().get(READ_ONLY_OPTION, False)
            conn.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")

        return engine
    return create_engine(url, pool_pre_ping=True, **kwargs)


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(bind=engine, expire_on_commit=False)


@contextmanager
def unit_of_work(factory: sessionmaker[Session], *, read_only: bool = False) -> Iterator[Session]:
    """One transaction: commit on success, roll back on any exception.

    `read_only` promises no writes; on SQLite it lets the transaction run beside a
    writer instead of waiting for the write lock.
    """
    if read_only:
        bind = factory.kw["bind"].execution_options(**{READ_ONLY_OPTION: True})
        session = factory(bind=bind)
    else:
        session = factory()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def refresh_statistics(engine: Engine) -> None:
    """Refresh the query planner's statistics (SQLite has none until ANALYZE runs).

    PostgreSQL's autovacuum keeps its own; SQLite needs this after large imports for
    the inbox and sweep queries to pick their indexes.
    """
    if engine.dialect.name == "sqlite":
        with engine.connect() as connection:
            connection.exec_driver_sql("ANALYZE")
            connection.commit()
