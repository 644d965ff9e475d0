"""Benchmark databases: a temporary SQLite file, or the PostgreSQL URL given."""

from __future__ import annotations

import uuid

from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from bench.scenario import COURT
from engine.db import make_engine, make_session_factory
from engine.demo import load_demo
from engine.migrate import upgrade


def prepare(url: str) -> tuple[Engine, sessionmaker[Session]]:
    """Migrate, then load the demo court (users registrar, drafter, leader, ...)."""
    engine = make_engine(url)
    upgrade(engine, COURT)
    factory = make_session_factory(engine)
    load_demo(factory, COURT)
    return engine, factory


def create_sibling_postgres(url: str, suffix: str) -> str | None:
    """A new, empty database on the same server; None if the role may not create one."""
    parsed = make_url(url)
    name = f"{parsed.database}_{suffix}_{uuid.uuid4().hex[:6]}"
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception:  # any refusal (no CREATEDB right, ...): share the given database
        return None
    finally:
        admin.dispose()
    return parsed.set(database=name).render_as_string(hide_password=False)


def drop_postgres(admin_url: str, url: str) -> None:
    name = make_url(url).database
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        admin.dispose()
