"""Create or migrate the schema with Alembic, then make sure the court, the holiday
calendar and the shipped workflows exist (each only if missing)."""

from __future__ import annotations

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine
from sqlalchemy.orm import sessionmaker

from engine.config import PROJECT_ROOT
from engine.db import refresh_statistics, unit_of_work
from engine.services.accounts import get_or_create_court
from engine.services.process_models import load_shipped
from engine.workcalendar import seed_from_chinesecalendar


def alembic_config(engine: Engine) -> Config:
    config = Config()
    config.set_main_option("script_location", str(PROJECT_ROOT / "migrations"))
    config.attributes["engine"] = engine
    return config


def upgrade(engine: Engine, court_name: str) -> list[str]:
    """Upgrade to head; create the court; load shipped workflows not loaded yet."""
    config = alembic_config(engine)
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "head")
    factory = sessionmaker(bind=engine, expire_on_commit=False)
    with unit_of_work(factory) as session:
        seed_from_chinesecalendar(session)
        court = get_or_create_court(session, court_name)
        loaded = load_shipped(session, court)
    refresh_statistics(engine)
    return loaded
