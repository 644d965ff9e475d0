"""Shared fixtures: every database test runs on SQLite and, when
LIAISON_TEST_DATABASE_URL names a PostgreSQL server, on PostgreSQL too."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from argon2 import PasswordHasher, profiles
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.orm import Session, sessionmaker

from engine import clock
from engine.config import Settings
from engine.db import make_engine, make_session_factory, unit_of_work
from engine.migrate import upgrade
from engine.models import Base, User
from engine.services import accounts
from engine.workflow.specs import forget_cached_specs

# The live `server` and the clerk's `desk` fixtures for browser tests.
pytest_plugins = ["tests.browser_support", "tests.browser_desk"]

COURT = "测试人民法院"
PASSWORD = "secret-pass-1"
DEPARTMENTS = ["办公室", "民一庭", "刑一庭"]
USERS = {
    "registrar": ("registrar", "办公室"),
    "drafter": ("drafter", "民一庭"),
    "drafter_b": ("drafter", "民一庭"),
    "drafter_other": ("drafter", "刑一庭"),
    "head": ("dept_head", "民一庭"),
    "leader": ("leader", None),
    "president": ("president", None),
    "designer": ("designer", None),
    "admin": ("admin", None),
}


@pytest.fixture(autouse=True)
def _attachments_in_tmp(tmp_path, monkeypatch) -> None:
    """Uploaded files and generated letters never land in the checkout's instance/."""
    monkeypatch.setenv("LIAISON_ATTACHMENTS_DIR", str(tmp_path / "attachments"))


@pytest.fixture(scope="session", autouse=True)
def _cheap_password_hashing() -> None:
    accounts.use_password_hasher(PasswordHasher.from_parameters(profiles.CHEAPEST))


def _backends() -> list[str]:
    backends = ["sqlite"]
    if os.environ.get("LIAISON_TEST_DATABASE_URL"):
        backends.append("postgresql")
    return backends


@pytest.fixture(scope="session")
def pg_admin_url() -> str | None:
    return os.environ.get("LIAISON_TEST_DATABASE_URL")


def _fresh_postgres(admin_url: str) -> tuple[str, str]:
    """A database of our own on the server named by LIAISON_TEST_DATABASE_URL."""
    name = f"liaison_test_{uuid.uuid4().hex[:10]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    base, _, _ = admin_url.rpartition("/")
    return f"{base}/{name}", name


def _drop_postgres(admin_url: str, name: str) -> None:
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(scope="session", params=_backends())
def database_url(request, tmp_path_factory, pg_admin_url) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path_factory.mktemp('db') / 'test.db'}"
        return
    url, name = _fresh_postgres(pg_admin_url)
    yield url
    _drop_postgres(pg_admin_url, name)


@pytest.fixture(scope="session")
def db_engine(database_url: str) -> Iterator[Engine]:
    engine = make_engine(database_url)
    upgrade(engine, COURT)
    yield engine
    engine.dispose()


REFERENCE_TABLES = {"calendar_years", "calendar_days"}


def _clear(engine: Engine) -> None:
    """Empty every table but the seeded calendar, keeping the schema (faster than migrating)."""
    with engine.begin() as connection:
        tables = [
            t for t in reversed(Base.metadata.sorted_tables) if t.name not in REFERENCE_TABLES
        ]
        if engine.dialect.name == "postgresql":
            names = ", ".join(t.name for t in tables)
            connection.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
        else:
            for table in tables:
                connection.execute(table.delete())


@pytest.fixture
def factory(db_engine: Engine) -> Iterator[sessionmaker[Session]]:
    _clear(db_engine)
    forget_cached_specs()  # ids restart in the emptied database
    clock.reset()
    upgrade(db_engine, COURT)
    yield make_session_factory(db_engine)
    clock.reset()


@dataclass
class People:
    """The test court's users, by key in USERS (loaded detached, read-only)."""

    by_key: dict[str, User]

    def __getitem__(self, key: str) -> User:
        return self.by_key[key]


@pytest.fixture
def people(factory) -> People:
    with unit_of_work(factory) as session:
        court = accounts.get_or_create_court(session, COURT)
        accounts.create_departments(session, court, DEPARTMENTS)
        users = {
            key: accounts.create_user(
                session,
                court,
                key,
                role,
                department=department,
                password=PASSWORD,
                display_name=key,
            )
            for key, (role, department) in USERS.items()
        }
    return People(users)


@pytest.fixture
def settings(database_url: str) -> Settings:
    return Settings(
        database_url=database_url,
        secret_key="test-secret",
        timezone="Asia/Shanghai",
        smtp_url=None,
        court_name=COURT,
    )


@pytest.fixture
def app(factory, settings):
    from web import create_app

    application = create_app(settings)
    application.config.update(TESTING=True)
    yield application
    application.extensions["liaison"]["engine"].dispose()


@pytest.fixture
def browser(app, people):
    """`browser("drafter")` → a Browser signed in as that user; `browser()` → anonymous."""
    from tests.web_client import Browser, text  # imports PASSWORD from this module

    def open_browser(username: str | None = None) -> Browser:
        opened = Browser(app.test_client())
        if username is not None:
            response = opened.login(username)
            assert response.status_code == 302, text(response)
        return opened

    return open_browser
