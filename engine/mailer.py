"""Deliver the outbox: mail written with its cause, sent after commit, retried with backoff.

A message is leased before sending (its next attempt pushed into the future in a
committed transaction), so a second scheduler does not pick it up while the first is
talking to the SMTP server; it is marked sent right after the server accepts it.
"""

from __future__ import annotations

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
        for mail_id, to_address, subject, body in batch:
            error = _send(target, mail_id, to_address, subject, body)
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


def _send(target: SmtpTarget, mail_id: int, to_address: str, subject: str, body: str) -> str | None:
    message = EmailMessage()
    message["From"] = target.sender
    message["To"] = to_address
    message["Subject"] = subject
    message["Message-ID"] = make_msgid(idstring=f"outbox-{mail_id}")
    message.set_content(body)
    accepted = False
    try:
        with smtplib.SMTP(target.host, target.port, timeout=20) as smtp:
            smtp.ehlo()
            if smtp.has_extn("starttls"):
                smtp.starttls()
                smtp.ehlo()
            if target.username:
                smtp.login(target.username, target.password or "")
            smtp.send_message(message)
            accepted = True
    except (OSError, smtplib.SMTPException) as exc:
        if accepted:  # only the goodbye (QUIT) failed: the server has the message
            return None
        return f"{type(exc).__name__}: {exc}"
    return None
