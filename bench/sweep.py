"""`python -m bench.sweep`: escalation sweep time against the number of due and open tasks.

The sweep (`engine.scheduler.run_sweep`, as `liaison sweep` runs it, without SMTP) should
cost what its due rows cost, whatever the number of open ones. Measured:

  * 100 due tasks among 10,000 open, then among 200,000 open (target: within 2x);
  * 5,000 due tasks among 10,000 open;
  * an idle sweep (nothing due) at both sizes.

Open tasks are bulk-inserted with SQLAlchemy core (item + process instance + task rows);
a due task has its reminder passed. Between repetitions the due tasks are reset (their
escalations, alerts and audit rows deleted), so every repetition does the same work.

  --database-url URL  a PostgreSQL server to use (a scratch database is created on it and
                      dropped afterwards); default: a temporary SQLite file
  --open N [N ...]    open-task counts (default 10000 200000)
  --due N             due tasks for the comparison (default 100)
  --bulk-due N        due tasks for the bulk figure (default 5000; 0 skips it)
  --reps N            repetitions per figure; the median is reported (default 5)
"""

from __future__ import annotations

import argparse
import random
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import Engine, delete, insert, select, text, update
from sqlalchemy.engine import make_url

from engine import clock
from engine.db import make_engine, make_session_factory, unit_of_work
from engine.migrate import upgrade
from engine.models import (
    Alert,
    AuditEvent,
    Escalation,
    Item,
    ProcessInstance,
    ProcessModel,
    Task,
)
from engine.scheduler import run_sweep
from engine.services import accounts

COURT = "基准测试人民法院"
BEIJING = ZoneInfo("Asia/Shanghai")
NOW = datetime(2026, 11, 2, 10, 0, tzinfo=BEIJING)
CREATED = datetime(2026, 9, 25, 10, 0, tzinfo=BEIJING)
PAST_REMIND = datetime(2026, 10, 13, 9, 0, tzinfo=BEIJING)  # due tasks: reminder passed
FUTURE_REMIND = datetime(2027, 3, 1, 9, 0, tzinfo=BEIJING)  # open, not due
DUE_AT = datetime(2027, 3, 3, 23, 59, 59, tzinfo=BEIJING)
SUPERVISE_AT = datetime(2027, 3, 5, 9, 0, tzinfo=BEIJING)
DRAFTERS = 20
CHUNK = 5_000
RATIO_TARGET = 2.0


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.sweep", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--open", type=int, nargs="+", default=[10_000, 200_000])
    parser.add_argument("--due", type=int, default=100)
    parser.add_argument("--bulk-due", type=int, default=5_000)
    parser.add_argument("--reps", type=int, default=5)
    return parser.parse_args(argv)


class Bench:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.factory = make_session_factory(engine)
        self.open = 0
        self.postgres = engine.dialect.name == "postgresql"
        with unit_of_work(self.factory) as session:
            court = accounts.get_or_create_court(session, COURT)
            accounts.create_departments(session, court, ["办公室", "民一庭"])
            department = accounts.department_by_name(session, court.id, "民一庭")
            registrar = accounts.create_user(session, court, "registrar", "registrar")
            self.drafters = [
                accounts.create_user(
                    session, court, f"drafter{n}", "drafter", department="民一庭"
                ).id
                for n in range(DRAFTERS)
            ]
            accounts.create_user(session, court, "head", "dept_head", department="民一庭")
            accounts.create_user(session, court, "leader", "leader")
            self.court_id, self.department_id = court.id, department.id
            self.registrar_id = registrar.id
            self.model_id = session.scalar(
                select(ProcessModel.id).where(ProcessModel.key == "suggestion")
            )

    def grow_to(self, total: int) -> float:
        """Bulk-insert open, not-yet-due draft tasks until `total` are open; seconds taken."""
        started = time.perf_counter()
        while self.open < total:
            first, last = self.open + 1, min(self.open + CHUNK, total)
            ids = range(first, last + 1)
            with self.engine.begin() as connection:
                connection.execute(
                    insert(Item.__table__),
                    [
                        {
                            "id": n,
                            "court_id": self.court_id,
                            "number": f"2026-建-{n:06d}",
                            "kind": "suggestion",
                            "title": f"建议 {n}",
                            "content": "内容",
                            "received_at": CREATED,
                            "status": "open",
                            "current_step": "draft",
                            "department_id": self.department_id,
                            "due_fallback": False,
                            "escalation_level": 0,
                            "supervised": False,
                            "created_by_id": self.registrar_id,
                            "created_at": CREATED,
                        }
                        for n in ids
                    ],
                )
                connection.execute(
                    insert(ProcessInstance.__table__),
                    [
                        {
                            "id": n,
                            "item_id": n,
                            "process_model_id": self.model_id,
                            "state": {},
                            "version": 1,
                            "completed": False,
                            "updated_at": CREATED,
                        }
                        for n in ids
                    ],
                )
                connection.execute(
                    insert(Task.__table__),
                    [
                        {
                            "id": n,
                            "court_id": self.court_id,
                            "item_id": n,
                            "instance_id": n,
                            "task_guid": str(uuid.UUID(int=n)),
                            "bpmn_id": "draft",
                            "title": "承办拟稿",
                            "form": "draft.schema.json",
                            "role": "drafter",
                            "department_id": self.department_id,
                            "assignee_id": self.drafters[n % DRAFTERS],
                            "status": "open",
                            "created_at": CREATED,
                            "remind_at": FUTURE_REMIND,
                            "due_at": DUE_AT,
                            "supervise_at": SUPERVISE_AT,
                            "due_fallback": False,
                            "escalation_level": 0,
                            "next_escalation_at": FUTURE_REMIND,
                        }
                        for n in ids
                    ],
                )
            self.open = last
        if self.postgres:
            with self.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as c:
                c.execute(text("ANALYZE items, process_instances, tasks"))
        return time.perf_counter() - started

    def make_due(self, task_ids: list[int]) -> None:
        """Put these tasks back to "reminder passed, nothing recorded yet"."""
        with unit_of_work(self.factory) as session:
            for start in range(0, len(task_ids), 1_000):
                chunk = task_ids[start : start + 1_000]
                session.execute(delete(Alert).where(Alert.task_id.in_(chunk)))
                session.execute(delete(Escalation).where(Escalation.task_id.in_(chunk)))
                session.execute(
                    delete(AuditEvent).where(
                        AuditEvent.item_id.in_(chunk), AuditEvent.action.like("escalated_%")
                    )
                )
                session.execute(
                    update(Task)
                    .where(Task.id.in_(chunk))
                    .values(
                        remind_at=PAST_REMIND, escalation_level=0, next_escalation_at=PAST_REMIND
                    )
                )

    def settle(self, task_ids: list[int]) -> None:
        """Return measured tasks to "open, not due" so the next figure starts clean."""
        self.make_due(task_ids)
        with unit_of_work(self.factory) as session:
            for start in range(0, len(task_ids), 1_000):
                session.execute(
                    update(Task)
                    .where(Task.id.in_(task_ids[start : start + 1_000]))
                    .values(remind_at=FUTURE_REMIND, next_escalation_at=FUTURE_REMIND)
                )

    def sweep_seconds(self, due: int, reps: int, rng: random.Random) -> tuple[float, float]:
        """Median and best time of one sweep over `due` due tasks spread over the open ones."""
        task_ids = sorted(rng.sample(range(1, self.open + 1), due)) if due else []
        times = []
        for _ in range(reps):
            if task_ids:
                self.make_due(task_ids)
            clock.travel_to(NOW)
            started = time.perf_counter()
            report = run_sweep(self.factory, None)
            times.append(time.perf_counter() - started)
            if report.escalation.levels[1] != due or report.escalation.alerts != due:
                raise SystemExit(f"sweep did {report.summary()}, expected {due} reminders")
        if task_ids:
            self.settle(task_ids)
        return statistics.median(times), min(times)


def _scratch_postgres(url: str) -> tuple[str, str]:
    parsed = make_url(url)
    name = f"liaison_bench_sweep_{uuid.uuid4().hex[:8]}"
    admin = make_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return parsed.set(database=name).render_as_string(hide_password=False), name


def _drop_postgres(url: str, name: str) -> None:
    admin = make_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:10.1f}"


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    sizes = sorted(set(args.open))
    if args.due > sizes[0] or args.bulk_due > sizes[0]:
        raise SystemExit("--due and --bulk-due must not exceed the smallest --open")
    workdir = Path(tempfile.mkdtemp(prefix="liaison-bench-sweep-"))
    scratch = None
    if args.database_url:
        url, scratch = _scratch_postgres(args.database_url)
    else:
        url = f"sqlite:///{workdir / 'sweep.db'}"
    engine = make_engine(url)
    rng = random.Random(20261001)
    rows: list[tuple[str, float, float]] = []
    try:
        upgrade(engine, COURT)
        bench = Bench(engine)
        print(f"database: {engine.dialect.name}; sweep = engine.scheduler.run_sweep (no SMTP)")
        by_size: dict[int, float] = {}
        for size in sizes:
            seconds = bench.grow_to(size)
            print(f"  {size:,} open tasks ready ({seconds:.1f} s to insert)", flush=True)
            median, best = bench.sweep_seconds(0, args.reps, rng)
            rows.append((f"idle: 0 due / {size:,} open", median, best))
            median, best = bench.sweep_seconds(args.due, args.reps, rng)
            rows.append((f"{args.due:,} due / {size:,} open", median, best))
            by_size[size] = median
            if size == sizes[0] and args.bulk_due:
                reps = max(1, min(3, args.reps))
                median, best = bench.sweep_seconds(args.bulk_due, reps, rng)
                rows.append((f"{args.bulk_due:,} due / {size:,} open", median, best))
        print()
        print(f"{'sweep':<30}{'median ms':>10}{'best ms':>10}{'ms/due':>10}")
        for label, median, best in rows:
            due = int(label.split(" due")[0].split(":")[-1].strip().replace(",", ""))
            per_due = f"{median * 1000 / due:10.2f}" if due else f"{'-':>10}"
            print(f"{label:<30}{_ms(median)}{_ms(best)}{per_due}")
        if len(sizes) > 1:
            small, large = by_size[sizes[0]], by_size[sizes[-1]]
            ratio = large / small
            verdict = "PASS" if ratio <= RATIO_TARGET else "MISS"
            print(
                f"\n{args.due} due: {sizes[-1]:,} open vs {sizes[0]:,} open = {ratio:.2f}x "
                f"(target <= {RATIO_TARGET:.0f}x) {verdict}"
            )
    finally:
        clock.reset()
        engine.dispose()
        if scratch:
            _drop_postgres(args.database_url, scratch)
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
