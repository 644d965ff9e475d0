"""Courts, departments, users, passwords (argon2) and API tokens (stored hashed)."""

from __future__ import annotations

import hashlib
import re
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerifyMismatchError
from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.errors import Conflict, InvalidData, NotFound
from engine.models import ROLES, ApiToken, Court, Department, User

_hasher = PasswordHasher()
# Verifying against a fixed hash when the user does not exist keeps timing uniform.
_DUMMY_HASH = _hasher.hash("not-a-real-password")


def use_password_hasher(hasher: PasswordHasher) -> None:
    """Swap the argon2 parameters (tests use argon2's cheapest profile to stay fast)."""
    global _hasher, _DUMMY_HASH
    _hasher = hasher
    _DUMMY_HASH = hasher.hash("not-a-real-password")


def get_or_create_court(session: Session, name: str) -> Court:
    court = session.scalar(select(Court).order_by(Court.id))
    if court is None:
        court = Court(name=name)
        session.add(court)
        session.flush()
    return court


def create_departments(session: Session, court: Court, names: list[str]) -> list[Department]:
    """Idempotent: existing departments are returned unchanged."""
    existing = {
        d.name: d
        for d in session.scalars(select(Department).where(Department.court_id == court.id))
    }
    result = []
    for name in names:
        name = name.strip()
        if not name:
            raise InvalidData("department name is empty", {"name": "must not be empty"})
        if name not in existing:
            existing[name] = Department(court_id=court.id, name=name)
            session.add(existing[name])
        result.append(existing[name])
    session.flush()
    return result


def department_by_name(session: Session, court_id: int, name: str) -> Department | None:
    return session.scalar(
        select(Department).where(Department.court_id == court_id, Department.name == name)
    )


def department_names(session: Session, court_id: int) -> list[str]:
    return list(
        session.scalars(
            select(Department.name).where(Department.court_id == court_id).order_by(Department.id)
        )
    )


def create_user(
    session: Session,
    court: Court,
    username: str,
    role: str,
    *,
    department: str | None = None,
    password: str | None = None,
    display_name: str | None = None,
    email: str | None = None,
) -> User:
    if role not in ROLES:
        raise InvalidData(f"unknown role {role!r}; roles: {', '.join(ROLES)}", {"role": "unknown"})
    if session.scalar(select(User.id).where(User.username == username)) is not None:
        raise Conflict(f"user {username!r} already exists")
    department_id = None
    if department:
        found = department_by_name(session, court.id, department)
        if found is None:
            raise InvalidData(f"unknown department {department!r}", {"department": "unknown"})
        department_id = found.id
    user = User(
        court_id=court.id,
        username=username,
        display_name=display_name or username,
        role=role,
        department_id=department_id,
        password_hash=_hasher.hash(password) if password else None,
        email=_checked_email(email),
    )
    session.add(user)
    session.flush()
    return user


def authenticate(session: Session, username: str, password: str) -> User | None:
    user = session.scalar(select(User).where(User.username == username, User.active.is_(True)))
    stored = user.password_hash if user and user.password_hash else _DUMMY_HASH
    try:
        _hasher.verify(stored, password)
    except (VerifyMismatchError, InvalidHashError):
        return None
    return user if user and user.password_hash else None


def _digest(token: str) -> str:
    # Tokens are 256 random bits, so a fast hash is enough: nothing to brute-force.
    return hashlib.sha256(token.encode()).hexdigest()


def issue_token(session: Session, username: str) -> str:
    user = session.scalar(select(User).where(User.username == username))
    if user is None:
        raise NotFound(f"no user named {username!r}")
    token = secrets.token_urlsafe(32)
    session.add(ApiToken(user_id=user.id, token_hash=_digest(token)))
    session.flush()
    return token


def user_for_token(session: Session, token: str) -> User | None:
    return session.scalar(
        select(User)
        .join(ApiToken, ApiToken.user_id == User.id)
        .where(ApiToken.token_hash == _digest(token), User.active.is_(True))
    )


def get_user(session: Session, user_id: int) -> User | None:
    return session.get(User, user_id)


EMAIL_PATTERN = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def _checked_email(email: str | None) -> str | None:
    email = (email or "").strip()
    if not email:
        return None
    if len(email) > 200 or not EMAIL_PATTERN.match(email):
        raise InvalidData(
            f"not an e-mail address: {email!r}", {"email": "邮箱格式不正确 / not an e-mail address"}
        )
    return email


def update_alert_preferences(
    session: Session, user: User, *, email: str | None, daily_digest: bool
) -> User:
    """Where the user's escalation mail goes, and whether as one daily digest."""
    user.email = _checked_email(email)
    user.daily_digest = daily_digest
    session.flush()
    return user
