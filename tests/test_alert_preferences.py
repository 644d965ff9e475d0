"""Users choose where escalation mail goes and whether it comes as a daily digest."""

from __future__ import annotations

import os
import subprocess
import sys

from sqlalchemy import select

from engine.db import unit_of_work
from engine.models import User


def _user(factory, username: str) -> User:
    with unit_of_work(factory) as session:
        return session.scalar(select(User).where(User.username == username))


def test_user_sets_email_and_digest(browser, factory):
    drafter = browser("drafter")
    page = drafter.get("/profile/alerts")
    assert 'name="email"' in page
    response = drafter.submit("/profile/alerts", {"email": "li@court.example", "daily_digest": "y"})
    assert response.status_code == 302
    saved = _user(factory, "drafter")
    assert (saved.email, saved.daily_digest) == ("li@court.example", True)
    response = drafter.submit("/profile/alerts", {"email": ""})
    assert response.status_code == 302
    saved = _user(factory, "drafter")
    assert (saved.email, saved.daily_digest) == (None, False)


def test_bad_email_is_a_field_error_and_changes_nothing(browser, factory):
    drafter = browser("drafter")
    response = drafter.submit("/profile/alerts", {"email": "not-an-address"})
    assert response.status_code == 422
    assert 'data-field-error="email"' in response.get_data(as_text=True)
    assert _user(factory, "drafter").email is None


def test_preferences_need_login_and_csrf(browser):
    anonymous = browser()
    assert anonymous.client.get("/profile/alerts").status_code == 302
    drafter = browser("drafter")
    response = drafter.submit("/profile/alerts", {"email": "x@y.cn"}, csrf=False)
    assert response.status_code == 400


def test_cli_creates_a_user_with_email(settings, factory, people):
    env = {**os.environ, "LIAISON_DATABASE_URL": settings.database_url}
    command = [
        sys.executable,
        "-m",
        "web.cli",
        "users",
        "create",
        "clerk2",
        "--role",
        "registrar",
        "--department",
        "办公室",
        "--email",
    ]
    done = subprocess.run(
        [*command, "clerk2@court.example"], env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert _user(factory, "clerk2").email == "clerk2@court.example"
    refused = subprocess.run(
        [*command[:5], "clerk3", *command[6:], "nope"], env=env, capture_output=True, text=True
    )
    assert refused.returncode == 1
    assert "not an e-mail address" in refused.stderr
