"""The unit of work for one request: handlers open it, call one service, render."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from flask import current_app, request
from flask_login import current_user
from sqlalchemy.orm import Session, object_session

from engine.db import unit_of_work
from engine.errors import Unauthorized
from engine.models import User


@contextmanager
def work() -> Iterator[Session]:
    """GET and HEAD requests never write, so their unit of work is read-only."""
    read_only = request.method in ("GET", "HEAD")
    with unit_of_work(
        current_app.extensions["liaison"]["sessions"], read_only=read_only
    ) as session:
        yield session


def actor(session: Session) -> User:
    """The signed-in user, loaded in this unit of work's session."""
    if not current_user.is_authenticated:
        raise Unauthorized("sign in or send an API token")
    user = session.get(User, current_user.id)
    if user is None or not user.active:
        raise Unauthorized("account is disabled")
    return user


def reader_of(record: object) -> tuple[Session, User] | None:
    """The session a page loaded `record` in and the signed-in user in it, for template
    panels that add to a page what that user may see (None outside a page's session)."""
    session = object_session(record)
    if session is None or not current_user.is_authenticated:
        return None
    return session, session.get(User, current_user.id)
