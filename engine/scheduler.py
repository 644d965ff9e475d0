"""The escalation scheduler: one sweep a minute, inside `liaison serve` or on its own.

Every sweep is safe to run on any number of processes and hosts against one database:
timers, escalation levels and mail are each claimed and recorded exactly once.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.blocking import BlockingScheduler
from sqlalchemy.orm import Session, sessionmaker

from engine.db import unit_of_work
from engine.escalation import EscalationReport, sweep_escalations
from engine.mailer import deliver_pending
from engine.services.alerts import queue_digests
from engine.timers import fire_due_timers

log = logging.getLogger("liaison.scheduler")
SWEEP_SECONDS = 60


@dataclass
class SweepReport:
    timers_fired: int
    escalation: EscalationReport
    digests_queued: int
    mail_sent: int
    mail_failed: int

    def summary(self) -> str:
        levels = self.escalation.levels
        return (
            f"timers fired: {self.timers_fired}; reminders: {levels[1]}, overdue: {levels[2]}, "
            f"supervision: {levels[3]}; alerts: {self.escalation.alerts}; "
            f"digests queued: {self.digests_queued}; mail sent: {self.mail_sent}, "
            f"failed: {self.mail_failed}"
        )


def run_sweep(factory: sessionmaker[Session], smtp_url: str | None) -> SweepReport:
    """Fire timers, escalate due tasks and items, then deliver mail (after commit)."""
    timers_fired = fire_due_timers(factory)
    escalation = sweep_escalations(factory, mail_enabled=smtp_url is not None)
    digests = 0
    sent = failed = 0
    if smtp_url:
        with unit_of_work(factory) as session:
            digests = queue_digests(session)
        sent, failed = deliver_pending(factory, smtp_url)
    return SweepReport(timers_fired, escalation, digests, sent, failed)


def _job(factory: sessionmaker[Session], smtp_url: str | None) -> None:
    try:
        report = run_sweep(factory, smtp_url)
        log.info("sweep: %s", report.summary())
    except Exception:  # a failed sweep must not stop the next one
        log.exception("sweep failed")


def _add_job(scheduler, factory, smtp_url) -> None:
    scheduler.add_job(
        _job,
        "interval",
        seconds=SWEEP_SECONDS,
        args=(factory, smtp_url),
        id="sweep",
        max_instances=1,
        coalesce=True,
    )


def start_background_scheduler(
    factory: sessionmaker[Session], smtp_url: str | None
) -> BackgroundScheduler:
    """For `liaison serve`: sweeps run in a thread beside the web server."""
    scheduler = BackgroundScheduler(daemon=True)
    _add_job(scheduler, factory, smtp_url)
    scheduler.start()
    return scheduler


def run_blocking_scheduler(factory: sessionmaker[Session], smtp_url: str | None) -> None:
    """For `liaison scheduler`: a process that only sweeps."""
    scheduler = BlockingScheduler()
    _add_job(scheduler, factory, smtp_url)
    _job(factory, smtp_url)
    scheduler.start()
