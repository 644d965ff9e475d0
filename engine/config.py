"""Settings read from the environment (the contract in DESIGN.md, part A)."""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
WORKFLOWS_DIR = PROJECT_ROOT / "workflows"


def instance_dir() -> Path:
    """Where the embedded database and the generated secret live (`instance/`)."""
    path = Path(os.environ.get("LIAISON_INSTANCE_DIR", PROJECT_ROOT / "instance"))
    path.mkdir(parents=True, exist_ok=True)
    return path


def _secret_key() -> str:
    """Use LIAISON_SECRET_KEY, else a key generated once and kept under instance/.

    Generating it once (rather than per process) keeps sessions valid across restarts
    and across several processes sharing one instance folder.
    """
    if key := os.environ.get("LIAISON_SECRET_KEY"):
        return key
    path = instance_dir() / "secret_key"
    if not path.exists():
        path.write_text(secrets.token_urlsafe(48))
        path.chmod(0o600)
    return path.read_text().strip()


@dataclass(frozen=True)
class Settings:
    database_url: str
    secret_key: str
    timezone: str
    smtp_url: str | None
    court_name: str
    base_url: str = "http://127.0.0.1:5000"  # absolute links in e-mails (deputy feedback)

    @classmethod
    def from_env(cls) -> Settings:
        default_db = f"sqlite:///{instance_dir() / 'liaison.db'}"
        return cls(
            database_url=os.environ.get("LIAISON_DATABASE_URL", default_db),
            secret_key=_secret_key(),
            timezone=os.environ.get("LIAISON_TIMEZONE", "Asia/Shanghai"),
            smtp_url=os.environ.get("LIAISON_SMTP_URL") or None,
            court_name=os.environ.get("LIAISON_COURT_NAME", "示例人民法院"),
            base_url=(os.environ.get("LIAISON_BASE_URL") or "http://127.0.0.1:5000").rstrip("/"),
        )
