"""Alert e-mail through a real SMTP server (aiosmtpd) started by the test.

The outbox is written with the alert, delivered after commit by the sweep, retried with
backoff while the server is down, and never sent twice; digest users get one mail a day.
"""

from __future__ import annotations

import re
import socket
import threading
from collections import Counter
from datetime import date, datetime, time, timedelta
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from zoneinfo import ZoneInfo

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import select, update

from engine import clock
from engine.db import unit_of_work
from engine.mailer import backoff
from engine.models import Alert, OutboxMail, User
from engine.scheduler import run_sweep
from engine.services import alerts
from tests.helpers import complete, register

BEIJING = ZoneInfo("Asia/Shanghai")
REGISTERED = datetime(2026, 9, 25, 10, 0, tzinfo=BEIJING)
REMIND_DAY = date(2026, 10, 13)  # the draft step's reminder day (see test_escalation)
EMAILS = {
    "drafter": "drafter@court.example",
    "drafter_b": "drafter.b@court.example",
    "head": "head@court.example",
    "leader": "leader@court.example",
}
OUTBOX_ID = re.compile(r"outbox-(\d+)@")


def at(day: date, hour: int, minute: int = 0, second: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute, second), BEIJING)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Collector:
    """aiosmtpd handler that keeps every message it accepts."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._messages: list[tuple[tuple[str, ...], EmailMessage]] = []

    async def handle_DATA(self, server, session, envelope) -> str:  # noqa: N802 - aiosmtpd API
        raw = envelope.original_content or envelope.content
        message = BytesParser(policy=policy.default).parsebytes(raw)
        with self._lock:
            self._messages.append((tuple(envelope.rcpt_tos), message))
        return "250 OK"

    @property
    def messages(self) -> list[tuple[tuple[str, ...], EmailMessage]]:
        with self._lock:
            return list(self._messages)


class MailServer:
    """A local SMTP server on a fixed port that can be stopped and started again."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.collector = Collector()
        self._controller: Controller | None = None

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.port}"

    def start(self) -> None:
        self._controller = Controller(self.collector, hostname="127.0.0.1", port=self.port)
        self._controller.start()

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    @property
    def messages(self) -> list[tuple[tuple[str, ...], EmailMessage]]:
        return self.collector.messages

    def outbox_ids(self) -> Counter:
        """How many times each outbox row arrived (its id is in the Message-ID)."""
        return Counter(
            int(OUTBOX_ID.search(message["Message-ID"]).group(1)) for _, message in self.messages
        )


@pytest.fixture
def smtp_server():
    server = MailServer(free_port())
    server.start()
    yield server
    server.stop()


def give_emails(factory, emails: dict[str, str], digest: tuple[str, ...] = ()) -> None:
    with unit_of_work(factory) as session:
        for username, address in emails.items():
            session.execute(
                update(User)
                .where(User.username == username)
                .values(email=address, daily_digest=username in digest)
            )


def assigned_suggestion(factory, people, title: str = "关于加强诉前调解的建议") -> int:
    clock.travel_to(REGISTERED)
    item_id = register(factory, people["registrar"], title=title)
    complete(factory, people["registrar"], item_id, "register")
    return item_id


def outbox(factory) -> list[OutboxMail]:
    with unit_of_work(factory) as session:
        return list(session.scalars(select(OutboxMail).order_by(OutboxMail.id)))


def test_each_alert_is_mailed_exactly_once(factory, people, smtp_server):
    emails = {k: v for k, v in EMAILS.items() if k != "drafter_b"}  # drafter_b has no address
    give_emails(factory, emails)
    item_id = assigned_suggestion(factory, people)
    clock.travel_to(at(date(2026, 11, 23), 10))  # reminder, overdue and supervision at once
    report = run_sweep(factory, smtp_server.url)
    assert report.escalation.alerts == 4  # drafter, drafter_b, head, leader
    assert (report.mail_sent, report.mail_failed) == (3, 0)

    received = smtp_server.messages
    assert sorted(rcpt for rcpts, _ in received for rcpt in rcpts) == sorted(emails.values())
    by_address = {message["To"]: message for _, message in received}
    assert "催办" in by_address[EMAILS["drafter"]]["Subject"]
    assert "超期" in by_address[EMAILS["head"]]["Subject"]
    assert "督办" in by_address[EMAILS["leader"]]["Subject"]
    with unit_of_work(factory) as session:
        number = session.scalar(select(Alert.message).where(Alert.item_id == item_id))
    assert all(number.split("「")[0] in m["Subject"] for m in by_address.values())
    assert "将于 2026-10-15 到期" in by_address[EMAILS["drafter"]].get_content()

    rows = outbox(factory)
    assert len(rows) == 3
    assert all(r.sent_at is not None and r.attempts == 1 and r.last_error is None for r in rows)
    assert smtp_server.outbox_ids() == Counter({r.id: 1 for r in rows})

    again = run_sweep(factory, smtp_server.url)
    clock.advance(timedelta(hours=2))
    later = run_sweep(factory, smtp_server.url)
    assert (again.mail_sent, later.mail_sent, later.escalation.alerts) == (0, 0, 0)
    assert len(smtp_server.messages) == 3


def test_mail_waits_in_the_outbox_while_smtp_is_down_then_goes_once(factory, people, smtp_server):
    give_emails(factory, {"drafter": EMAILS["drafter"], "drafter_b": EMAILS["drafter_b"]})
    assigned_suggestion(factory, people)
    smtp_server.stop()

    swept_at = at(REMIND_DAY, 9, 0, 1)
    clock.travel_to(swept_at)
    report = run_sweep(factory, smtp_server.url)
    assert report.escalation.alerts == 2
    assert (report.mail_sent, report.mail_failed) == (0, 2)
    rows = outbox(factory)
    assert len(rows) == 2
    for row in rows:
        assert row.sent_at is None and row.attempts == 1
        assert "ConnectionRefused" in row.last_error
        assert row.next_attempt_at >= swept_at + backoff(1)
        assert row.next_attempt_at < swept_at + backoff(1) + timedelta(minutes=1)
    retry_at = min(r.next_attempt_at for r in rows)

    # Before the backoff has passed nothing is tried, even with the server back up.
    assert run_sweep(factory, smtp_server.url).mail_failed == 0
    smtp_server.start()
    report = run_sweep(factory, smtp_server.url)
    assert (report.mail_sent, report.mail_failed) == (0, 0)
    assert smtp_server.messages == []
    assert [r.attempts for r in outbox(factory)] == [1, 1]

    # Down again at the first retry: the wait doubles.
    smtp_server.stop()
    clock.travel_to(retry_at + timedelta(seconds=1))
    assert run_sweep(factory, smtp_server.url).mail_failed == 2
    rows = outbox(factory)
    assert [r.attempts for r in rows] == [2, 2]
    assert all(r.next_attempt_at >= retry_at + backoff(2) for r in rows)
    assert backoff(2) == 2 * backoff(1)

    smtp_server.start()
    clock.travel_to(max(r.next_attempt_at for r in rows) + timedelta(seconds=1))
    report = run_sweep(factory, smtp_server.url)
    assert (report.mail_sent, report.mail_failed) == (2, 0)
    assert run_sweep(factory, smtp_server.url).mail_sent == 0
    clock.advance(timedelta(days=1))
    assert run_sweep(factory, smtp_server.url).mail_sent == 0
    assert sorted(m["To"] for _, m in smtp_server.messages) == sorted(
        [EMAILS["drafter"], EMAILS["drafter_b"]]
    )
    rows = outbox(factory)
    assert smtp_server.outbox_ids() == Counter({r.id: 1 for r in rows})
    assert all(r.sent_at is not None and r.attempts == 3 and r.last_error is None for r in rows)


def test_digest_users_get_one_mail_a_day_not_one_per_alert(factory, people, smtp_server):
    give_emails(
        factory,
        {"drafter": EMAILS["drafter"], "drafter_b": EMAILS["drafter_b"]},
        digest=("drafter",),
    )
    assigned_suggestion(factory, people, "第一件建议")
    assigned_suggestion(factory, people, "第二件建议")

    def mails_to(address: str) -> list[EmailMessage]:
        return [m for _, m in smtp_server.messages if m["To"] == address]

    clock.travel_to(at(REMIND_DAY, 9, 0, 1))
    report = run_sweep(factory, smtp_server.url)
    assert report.escalation.alerts == 4  # both drafters, for both items
    assert report.digests_queued == 1
    assert len(mails_to(EMAILS["drafter_b"])) == 2  # one per alert
    (digest,) = mails_to(EMAILS["drafter"])
    assert "daily digest 2026-10-13 (2)" in digest["Subject"]
    body = digest.get_content()
    assert "第一件建议" in body and "第二件建议" in body

    for moment in (
        at(REMIND_DAY, 15),
        at(REMIND_DAY, 23, 59),
        at(REMIND_DAY + timedelta(1), 7, 59),
    ):
        clock.travel_to(moment)
        assert run_sweep(factory, smtp_server.url).digests_queued == 0
    assert len(mails_to(EMAILS["drafter"])) == 1

    clock.travel_to(at(REMIND_DAY + timedelta(days=1), 8, 0, 1))  # the next day, 08:00
    assert run_sweep(factory, smtp_server.url).digests_queued == 1
    assert run_sweep(factory, smtp_server.url).digests_queued == 0
    assert len(mails_to(EMAILS["drafter"])) == 2

    # Nothing unread, no digest.
    with unit_of_work(factory) as session:
        alerts.mark_read(session, session.get(User, people["drafter"].id))
    clock.travel_to(at(REMIND_DAY + timedelta(days=2), 8, 30))
    assert run_sweep(factory, smtp_server.url).digests_queued == 0
    assert len(mails_to(EMAILS["drafter"])) == 2
    assert len(mails_to(EMAILS["drafter_b"])) == 2
    assert all(count == 1 for count in smtp_server.outbox_ids().values())


def test_no_smtp_url_means_no_outbox(factory, people):
    give_emails(factory, EMAILS)
    assigned_suggestion(factory, people)
    clock.travel_to(at(date(2026, 11, 23), 10))
    report = run_sweep(factory, None)
    assert report.escalation.alerts == 4 and report.mail_sent == 0
    assert outbox(factory) == []


class GrumpyGoodbye(Collector):
    """Accepts every message, then answers QUIT with an error."""

    async def handle_QUIT(self, server, session, envelope) -> str:  # noqa: N802 - aiosmtpd API
        return "451 4.3.0 goodbye failed"


def test_a_message_accepted_before_a_failed_quit_is_not_sent_again(factory, people):
    server = MailServer(free_port())
    server.collector = GrumpyGoodbye()
    server.start()
    try:
        give_emails(factory, {"drafter": EMAILS["drafter"]})
        assigned_suggestion(factory, people)
        with unit_of_work(factory) as session:
            session.execute(update(User).where(User.username == "drafter_b").values(active=False))
        clock.travel_to(at(REMIND_DAY, 9, 0, 1))
        report = run_sweep(factory, server.url)
        assert (report.mail_sent, report.mail_failed) == (1, 0)
        clock.advance(timedelta(hours=1))  # well past any retry backoff
        assert run_sweep(factory, server.url).mail_sent == 0
        assert len(server.messages) == 1
        (row,) = outbox(factory)
        assert row.sent_at is not None and row.attempts == 1
    finally:
        server.stop()
