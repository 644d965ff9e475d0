"""Three `liaison sweep` processes against one PostgreSQL database and 5,000 due tasks.

Every (task, level) is recorded once, every person alerted once per escalation and every
mail delivered once, to a real local SMTP server. PostgreSQL only: SQLite serializes
writers, so it cannot show the SKIP LOCKED claiming this is about.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections import Counter
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, insert, select, text

from engine.db import make_engine, make_session_factory, unit_of_work
from engine.migrate import upgrade
from engine.models import Alert, Escalation, Item, OutboxMail, ProcessInstance, ProcessModel, Task
from engine.services import accounts
from tests.conftest import COURT, _drop_postgres, _fresh_postgres
from tests.test_mail import MailServer, free_port

pytestmark = pytest.mark.skipif(
    not os.environ.get("LIAISON_TEST_DATABASE_URL"),
    reason="needs PostgreSQL: set LIAISON_TEST_DATABASE_URL",
)

BEIJING = ZoneInfo("Asia/Shanghai")
TASKS = int(os.environ.get("SWEEP_TEST_TASKS", "5000"))
PROCESSES = 3
CREATED = datetime(2026, 9, 25, 10, 0, tzinfo=BEIJING)
REMIND = datetime(2026, 10, 13, 9, 0, tzinfo=BEIJING)
DUE = datetime(2026, 10, 15, 23, 59, 59, tzinfo=BEIJING)
SUPERVISE = datetime(2026, 10, 19, 9, 0, tzinfo=BEIJING)
NOW = "2026-11-02T10:00:00+08:00"  # past every level of every task
LIAISON = Path(sys.executable).with_name("liaison")


@pytest.fixture
def pg_database():
    admin_url = os.environ["LIAISON_TEST_DATABASE_URL"]
    url, name = _fresh_postgres(admin_url)
    admin = make_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:  # a scratch database: no need to wait for fsync
        connection.execute(text(f'ALTER DATABASE "{name}" SET synchronous_commit = off'))
    admin.dispose()
    engine = make_engine(url)
    upgrade(engine, COURT)
    yield url, engine
    engine.dispose()
    _drop_postgres(admin_url, name)


def seed(engine) -> dict[str, int]:
    """The court's people (with e-mail) and TASKS open, due draft steps, bulk-inserted."""
    factory = make_session_factory(engine)
    with unit_of_work(factory) as session:
        court = accounts.get_or_create_court(session, COURT)
        accounts.create_departments(session, court, ["办公室", "民一庭"])
        people = {}
        for username, role, department in [
            ("registrar", "registrar", "办公室"),
            ("drafter", "drafter", "民一庭"),
            ("head", "dept_head", "民一庭"),
            ("leader", "leader", None),
        ]:
            user = accounts.create_user(session, court, username, role, department=department)
            user.email = f"{username}@court.example"
            people[username] = user.id
        people["court"] = court.id
        people["department"] = accounts.department_by_name(session, court.id, "民一庭").id
        model_id = session.scalar(select(ProcessModel.id).where(ProcessModel.key == "suggestion"))
    court_id, department_id = people["court"], people["department"]
    with engine.begin() as connection:
        connection.execute(
            insert(Item.__table__),
            [
                {
                    "id": n,
                    "court_id": court_id,
                    "number": f"2026-建-{n:05d}",
                    "kind": "suggestion",
                    "title": f"建议 {n}",
                    "content": "内容",
                    "received_at": CREATED,
                    "status": "open",
                    "current_step": "draft",
                    "department_id": department_id,
                    "due_fallback": False,
                    "escalation_level": 0,
                    "supervised": False,
                    "created_by_id": people["registrar"],
                    "created_at": CREATED,
                }
                for n in range(1, TASKS + 1)
            ],
        )
        connection.execute(
            insert(ProcessInstance.__table__),
            [
                {
                    "id": n,
                    "item_id": n,
                    "process_model_id": model_id,
                    "state": {},
                    "version": 1,
                    "completed": False,
                    "updated_at": CREATED,
                }
                for n in range(1, TASKS + 1)
            ],
        )
        connection.execute(
            insert(Task.__table__),
            [
                {
                    "id": n,
                    "court_id": court_id,
                    "item_id": n,
                    "instance_id": n,
                    "task_guid": str(uuid.uuid4()),
                    "bpmn_id": "draft",
                    "title": "承办拟稿",
                    "form": "draft.schema.json",
                    "role": "drafter",
                    "department_id": department_id,
                    "assignee_id": people["drafter"],
                    "status": "open",
                    "created_at": CREATED,
                    "remind_at": REMIND,
                    "due_at": DUE,
                    "supervise_at": SUPERVISE,
                    "due_fallback": False,
                    "escalation_level": 0,
                    "next_escalation_at": REMIND,
                }
                for n in range(1, TASKS + 1)
            ],
        )
    return people


def test_three_sweep_processes_record_and_mail_every_level_exactly_once(pg_database, tmp_path):
    url, engine = pg_database
    seed(engine)
    server = MailServer(free_port())
    server.start()
    try:
        env = {
            **os.environ,
            "LIAISON_DATABASE_URL": url,
            "LIAISON_SMTP_URL": server.url,
            "LIAISON_NOW": NOW,
            "LIAISON_COURT_NAME": COURT,
            "LIAISON_SECRET_KEY": "test-secret",
            "LIAISON_INSTANCE_DIR": str(tmp_path),
        }
        sweeps = [
            subprocess.Popen(
                [str(LIAISON), "sweep"],
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for _ in range(PROCESSES)
        ]
        try:
            outputs = [sweep.communicate(timeout=600) for sweep in sweeps]
        finally:
            for sweep in sweeps:
                if sweep.poll() is None:
                    sweep.kill()
                    sweep.wait()
        for sweep, (_out, err) in zip(sweeps, outputs, strict=True):
            assert sweep.returncode == 0, err
        summaries = [out.strip().splitlines()[-1] for out, _ in outputs]
        print("\n".join(summaries))
        # The work was shared: several processes claimed rows, none twice (checked below).
        assert sum("reminders: 0," not in summary for summary in summaries) >= 2

        with unit_of_work(make_session_factory(engine)) as session:
            levels = Counter(
                dict(
                    session.execute(
                        select(Escalation.level, func.count()).group_by(Escalation.level)
                    ).all()
                )
            )
            assert levels == {1: TASKS, 2: TASKS, 3: TASKS}
            distinct = session.scalar(
                select(func.count()).select_from(
                    select(Escalation.task_id, Escalation.level).distinct().subquery()
                )
            )
            assert distinct == TASKS * 3
            assert session.scalar(select(func.count()).select_from(Alert)) == TASKS * 3
            pairs = session.scalar(
                select(func.count()).select_from(
                    select(Alert.user_id, Alert.escalation_id).distinct().subquery()
                )
            )
            assert pairs == TASKS * 3
            per_task_level = Counter(session.execute(select(Alert.task_id, Alert.level)).all())
            assert set(per_task_level.values()) == {1}
            assert (
                session.scalar(
                    select(func.count())
                    .select_from(Task)
                    .where(Task.next_escalation_at.is_not(None))
                )
                == 0
            )
            assert (
                session.scalar(
                    select(func.count()).select_from(Task).where(Task.escalation_level != 3)
                )
                == 0
            )
            outbox = session.execute(
                select(OutboxMail.id, OutboxMail.sent_at, OutboxMail.attempts)
            ).all()
        assert len(outbox) == TASKS * 3
        assert all(sent_at is not None and attempts == 1 for _, sent_at, attempts in outbox)

        received = server.outbox_ids()
        assert len(server.messages) == TASKS * 3
        assert set(received.values()) == {1}
        assert set(received) == {mail_id for mail_id, _, _ in outbox}
        by_recipient = Counter(m["To"] for _, m in server.messages)
        assert by_recipient == {
            "drafter@court.example": TASKS,
            "head@court.example": TASKS,
            "leader@court.example": TASKS,
        }

        # The reports add up to the same totals, and one more sweep finds nothing to do.
        assert sum(int(s.split("reminders: ")[1].split(",")[0]) for s in summaries) == TASKS
        assert sum(int(s.split("mail sent: ")[1].split(",")[0]) for s in summaries) == TASKS * 3
        again = subprocess.run(
            [str(LIAISON), "sweep"], env=env, capture_output=True, text=True, timeout=60
        )
        assert again.returncode == 0, again.stderr
        assert "reminders: 0, overdue: 0, supervision: 0; alerts: 0" in again.stdout
        assert "mail sent: 0" in again.stdout
        assert len(server.messages) == TASKS * 3
    finally:
        server.stop()
