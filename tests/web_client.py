"""A signed-in browser for Flask test-client tests: cookies, CSRF tokens, forms."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from flask.testing import FlaskClient

from tests.conftest import PASSWORD


def csrf_token(page: str) -> str:
    match = re.search(r'<meta name="csrf-token" content="([^"]+)"', page)
    assert match, "page has no csrf-token meta tag"
    return match.group(1)


def text(response) -> str:
    return response.get_data(as_text=True)


@dataclass
class Browser:
    """One user's browser: a test client with its own cookie jar."""

    client: FlaskClient
    username: str | None = None
    last: str = field(default="", repr=False)

    def get(self, url: str, status: int = 200) -> str:
        response = self.client.get(url)
        assert response.status_code == status, (url, response.status_code, text(response)[:300])
        self.last = text(response)
        return self.last

    def csrf(self) -> str:
        return csrf_token(self.get("/login" if self.username is None else "/inbox"))

    def submit(self, url: str, data: dict[str, str], *, csrf: bool = True):
        """POST a form the way the page would (with the session's CSRF token)."""
        if csrf:
            data = {**data, "csrf_token": self.csrf()}
        return self.client.post(url, data=data)

    def login(self, username: str, password: str = PASSWORD):
        response = self.submit("/login", {"username": username, "password": password})
        if response.status_code == 302:
            self.username = username
        return response
