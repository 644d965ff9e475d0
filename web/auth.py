"""Who is calling: a browser session (Flask-Login) or a Bearer API token."""

from __future__ import annotations

from dataclasses import dataclass

from flask import Flask, request
from flask_login import UserMixin

from engine.db import unit_of_work
from engine.services import accounts, alerts
from web.extensions import login_manager


@dataclass
class SignedInUser(UserMixin):
    """What the session remembers; the full User is loaded per unit of work."""

    id: int
    username: str
    display_name: str
    role: str
    via_token: bool = False
    unread_alerts: int = 0

    def get_id(self) -> str:
        return str(self.id)


def signed_in(user, via_token: bool = False, unread_alerts: int = 0) -> SignedInUser:
    return SignedInUser(
        user.id, user.username, user.display_name, user.role, via_token, unread_alerts
    )


def bearer_token() -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


def init_app(app: Flask) -> None:
    sessions = app.extensions["liaison"]["sessions"]

    @login_manager.user_loader
    def load_user(user_id: str) -> SignedInUser | None:
        if not user_id.isdigit():
            return None
        with unit_of_work(sessions, read_only=True) as session:
            user = accounts.get_user(session, int(user_id))
            if user is None or not user.active:
                return None
            # Counted here, before the page's own unit of work, for the bell on every page.
            return signed_in(user, unread_alerts=alerts.unread_count(session, user))

    @login_manager.request_loader
    def load_from_token(_request) -> SignedInUser | None:
        token = bearer_token()
        if token is None:
            return None
        with unit_of_work(sessions, read_only=True) as session:
            user = accounts.user_for_token(session, token)
            return signed_in(user, via_token=True) if user else None
