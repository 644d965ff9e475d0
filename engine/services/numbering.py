"""Item and archive numbers such as `2026-建-0001`: per court, series and year, never reused.

The counter row is incremented with a single UPDATE, which takes a row lock on
PostgreSQL and the database write lock on SQLite, so concurrent registrations queue
instead of reading the same value.
"""

from __future__ import annotations

from sqlalchemy import insert, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from engine.models import NumberSequence

KIND_CODES = {
    "suggestion": "建",
    "letter": "信",
    "concern_case": "案",
    "petition": "访",
    "supervision": "督",
    "archive": "档",
}


def next_number(session: Session, court_id: int, series: str, year: int) -> str:
    key = f"{series}:{year}"
    value = _increment(session, court_id, key)
    if value is None:
        try:
            with session.begin_nested():
                session.execute(
                    insert(NumberSequence).values(court_id=court_id, series=key, last_value=0)
                )
        except IntegrityError:
            pass  # another transaction created the row first; it is ours to increment now
        value = _increment(session, court_id, key)
    return f"{year}-{KIND_CODES[series]}-{value:04d}"


def _increment(session: Session, court_id: int, key: str) -> int | None:
    return session.execute(
        update(NumberSequence)
        .where(NumberSequence.court_id == court_id, NumberSequence.series == key)
        .values(last_value=NumberSequence.last_value + 1)
        .returning(NumberSequence.last_value)
    ).scalar()
