"""Deliver the outbox: mail written with its cause, sent after commit, retried with backoff.

A message is leased before sending (its next attempt pushed into the future in a
committed transaction), so a second scheduler does not pick it up while the first is
talking to the SMTP server; it is marked sent right after the server accepts it.
"""

from __future__ import annotations

import contextlib
import os
import smtplib
from dataclasses import dataclass
from datetime import timedelta
from email.message import EmailMessage
from email.utils import make_msgid
from urllib.parse import unquote, urlparse

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from engine import clock
from engine.db import unit_of_work
from engine.models import OutboxMail

BATCH = 50
LEASE = timedelta(minutes=5)
MAX_BACKOFF = timedelta(hours=6)
SENDER = "liaison-desk@localhost"


@dataclass(frozen=True)
class SmtpTarget:
    host: str
    port: int
    username: str | None
    password: str | None
    sender: str

    @classmethod
    def from_url(cls, url: str) -> SmtpTarget:
        """`smtp://user:pass@host:port[?from=addr]`."""
        parsed = urlparse(url)
        if parsed.scheme != "smtp" or not parsed.hostname:
            raise ValueError("LIAISON_SMTP_URL must look like smtp://user:pass@host:port")
        query = dict(part.split("=", 1) for part in parsed.query.split("&") if "=" in part)
        return cls(
            host=parsed.hostname,
            port=parsed.port or 25,
            username=unquote(parsed.username) if parsed.username else None,
            password=unquote(parsed.password) if parsed.password else None,
            sender=unquote(query.get("from", SENDER)),
        )


def mail_enabled() -> bool:
    """Whether mail is on (`LIAISON_SMTP_URL`); without it nothing is written to the outbox."""
    return bool(os.environ.get("LIAISON_SMTP_URL"))


def queue(session: Session, key: str, to_address: str, subject: str, body: str) -> OutboxMail:
    """Write one message to the outbox, in the caller's transaction; `key` (unique) names its
    cause, so the same message is never queued twice."""
    mail = OutboxMail(
        key=key,
        to_address=to_address,
        subject=subject,
        body=body,
        created_at=clock.now(),
        next_attempt_at=clock.now(),
    )
    session.add(mail)
    return mail


def backoff(attempts: int) -> timedelta:
    return min(timedelta(minutes=2 ** max(attempts - 1, 0)), MAX_BACKOFF)


def deliver_pending(factory: sessionmaker[Session], smtp_url: str) -> tuple[int, int]:
    """Send due outbox mail; returns (sent, failed this round)."""
    target = SmtpTarget.from_url(smtp_url)
    sent = failed = 0
    while True:
        with unit_of_work(factory) as session:
            batch = _lease(session)
        if not batch:
            return sent, failed
        with _Connection(target) as connection:
            for mail_id, to_address, subject, body in batch:
                error = connection.send(mail_id, to_address, subject, body)
                with unit_of_work(factory) as session:
                    mail = session.get(OutboxMail, mail_id)
                    if error is None:
                        mail.sent_at = clock.now()
                        mail.last_error = None
                        sent += 1
                    else:
                        mail.last_error = error[:2000]
                        mail.next_attempt_at = clock.now() + backoff(mail.attempts)
                        failed += 1
        if len(batch) < BATCH:
            return sent, failed


def _lease(session: Session) -> list[tuple[int, str, str, str]]:
    now = clock.now()
    rows = session.scalars(
        select(OutboxMail)
        .where(OutboxMail.sent_at.is_(None), OutboxMail.next_attempt_at <= now)
        .order_by(OutboxMail.id)
        .limit(BATCH)
        .with_for_update(skip_locked=True)
    ).all()
    for mail in rows:
        mail.attempts += 1
        mail.next_attempt_at = now + LEASE
    return [(m.id, m.to_address, m.subject, m.body) for m in rows]


class _Connection:
    """One SMTP session reused for a batch, reopened after a connection-level failure."""

    def __init__(self, target: SmtpTarget) -> None:
        self.target = target
        self.smtp: smtplib.SMTP | None = None

    def __enter__(self) -> _Connection:
        return self

    def __exit__(self, *exc_info) -> None:
        if self.smtp is not None:
            # every message was already accepted or recorded as failed: a bad goodbye is moot
            with contextlib.suppress(OSError, smtplib.SMTPException):
                self.smtp.quit()
            self.smtp = None

    def _open(self) -> smtplib.SMTP:
        smtp = smtplib.SMTP(self.target.host, self.target.port, timeout=20)
        smtp.ehlo()
        if smtp.has_extn("starttls"):
            smtp.starttls()
            smtp.ehlo()
        if self.target.username:
            smtp.login(self.target.username, self.target.password or "")
        return smtp

    def send(self, mail_id: int, to_address: str, subject: str, body: str) -> str | None:
        """None once the server accepted the message, else why not."""
        message = EmailMessage()
        message["From"] = self.target.sender
        message["To"] = to_address
        message["Subject"] = subject
        message["Message-ID"] = make_msgid(idstring=f"outbox-{mail_id}")
        message.set_content(body)
        try:
            if self.smtp is None:
                self.smtp = self._open()
            self.smtp.send_message(message)
        except smtplib.SMTPRecipientsRefused as exc:
            return f"recipient refused: {exc}"
        except (OSError, smtplib.SMTPException) as exc:
            self.__exit__()  # the session may be broken: the next message reconnects
            return f"{type(exc).__name__}: {exc}"
        return None
