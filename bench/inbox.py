"""(d) Inbox queries on a large database.

Bulk-loads N items with SQLAlchemy core (items, process instances with a dummy state that
is never loaded, task rows: completed history plus one open task per open item, spread
over 20 departments and ~200 users), then times `engine.services.tasks.inbox` for a
drafter and a registrar in every scope, and shows the plan of the candidate query.
"""

from __future__ import annotations

import random
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from sqlalchemy import Boolean, Date, DateTime, Engine, Integer, Table, event, func, select, text
from sqlalchemy.orm import Session, sessionmaker

from bench.stats import Summary
from engine import clock
from engine.db import refresh_statistics, unit_of_work
from engine.models import Department, Item, ProcessInstance, ProcessModel, Task, User
from engine.services import tasks

Factory = sessionmaker[Session]
MEASURED = ("drafter", "registrar")  # demo users: drafter of 民一庭, registrar of 办公室
SCOPES = ("mine", "candidate", "all")
EXTRA_DEPARTMENTS = 15
DRAFTERS_PER_DEPARTMENT = 8
REGISTRARS = 15
LEADERS = 5
OPEN_SHARE = 0.25  # items still being handled; the rest are filed
# The step an open item waits at, with its share; then who holds such a task.
OPEN_STEPS = [
    ("register", 0.08),
    ("draft", 0.50),
    ("leader_approve", 0.17),
    ("reply", 0.15),
    ("file", 0.10),
]
STEP_ROLE = {
    "register": "registrar",
    "draft": "drafter",
    "leader_approve": "leader",
    "reply": "registrar",
    "file": "registrar",
}
STEP_TITLE = {
    "register": "登记交办",
    "draft": "承办拟稿",
    "leader_approve": "领导审批",
    "reply": "答复代表",
    "file": "归档",
}
ASSIGNED_SHARE = {"draft": 0.8, "leader_approve": 0.5, "reply": 0.85, "file": 0.85}
BUSY_DEPARTMENT = "民一庭"  # the measured drafter's division gets this weight, others 1
BUSY_WEIGHT = 4
BATCH = 5_000


@dataclass
class LoadReport:
    items: int = 0
    instances: int = 0
    task_rows: int = 0
    open_tasks: int = 0
    departments: int = 0
    users: int = 0
    seconds: float = 0.0
    analyzed: bool = False


@dataclass
class InboxTiming:
    username: str
    scope: str
    total: int
    summary: Summary
    cpu: Summary


@dataclass
class InboxResult:
    load: LoadReport
    timings: list[InboxTiming] = field(default_factory=list)
    plans: list[tuple[str, list[str]]] = field(default_factory=list)  # (title, plan lines)
    candidate_uses_index: bool = False


# ---------------------------------------------------------------------------
# Bulk load
# ---------------------------------------------------------------------------


def _filler(column) -> Any:
    """A value for a NOT NULL column this loader does not know (the schema moves on)."""
    kind = column.type
    kind = getattr(kind, "impl_instance", kind)  # a TypeDecorator: look at what it stores
    if isinstance(kind, Boolean):
        return False
    if isinstance(kind, Integer):
        return 0
    if isinstance(kind, Date):
        return date.today()
    if isinstance(kind, DateTime):
        return clock.now()
    return ""


def _insert(connection, table: Table, rows: list[dict]) -> None:
    """Core executemany in batches; fills NOT NULL columns without a default."""
    if not rows:
        return
    given = rows[0].keys()
    missing = {
        column.name: _filler(column)
        for column in table.columns
        if not column.nullable
        and not column.primary_key
        and column.name not in given
        and column.default is None
        and column.server_default is None
    }
    for start in range(0, len(rows), BATCH):
        batch = rows[start : start + BATCH]
        if missing:
            batch = [{**missing, **row} for row in batch]
        connection.execute(table.insert(), batch)


def _next_id(connection, model) -> int:
    return (connection.execute(select(func.max(model.id))).scalar() or 0) + 1


def _people(connection, court_id: int) -> dict[str, Any]:
    """Departments and users around the demo ones; returns ids grouped by role."""
    departments = Department.__table__
    users = User.__table__
    names = [f"业务{k + 1:02d}庭" for k in range(EXTRA_DEPARTMENTS)]
    existing = set(
        connection.execute(select(Department.name).where(Department.court_id == court_id)).scalars()
    )
    _insert(
        connection,
        departments,
        [{"court_id": court_id, "name": n} for n in names if n not in existing],
    )
    department_ids = list(
        connection.execute(
            select(Department.id).where(Department.court_id == court_id).order_by(Department.id)
        ).scalars()
    )

    rows = []
    drafter_count = {
        d: connection.execute(
            select(func.count())
            .select_from(User)
            .where(User.role == "drafter", User.department_id == d)
        ).scalar()
        for d in department_ids
    }
    for d in department_ids:
        for k in range(max(0, DRAFTERS_PER_DEPARTMENT - drafter_count[d])):
            rows.append(("drafter", d, f"bench_drafter_{d}_{k}"))
        rows.append(("dept_head", d, f"bench_head_{d}"))
    for role, wanted in (("registrar", REGISTRARS), ("leader", LEADERS)):
        have = connection.execute(
            select(func.count()).select_from(User).where(User.role == role)
        ).scalar()
        rows.extend((role, None, f"bench_{role}_{k}") for k in range(max(0, wanted - have)))
    taken = set(connection.execute(select(User.username)).scalars())
    _insert(
        connection,
        users,
        [
            {
                "court_id": court_id,
                "username": name,
                "display_name": name,
                "role": role,
                "department_id": d,
                "active": True,
                "password_hash": None,
            }
            for role, d, name in rows
            if name not in taken
        ],
    )

    by_role: dict[str, list[int]] = {}
    drafters_of: dict[int, list[int]] = {}
    for user_id, role, d in connection.execute(
        select(User.id, User.role, User.department_id).where(User.court_id == court_id)
    ):
        by_role.setdefault(role, []).append(user_id)
        if role == "drafter":
            drafters_of.setdefault(d, []).append(user_id)
    return {"departments": department_ids, "by_role": by_role, "drafters_of": drafters_of}


def bulk_load(engine: Engine, n: int, seed: int = 20260101) -> LoadReport:
    rng = random.Random(seed)
    report = LoadReport()
    t_start = time.perf_counter()
    with engine.begin() as connection:
        court_id = connection.execute(select(func.min(User.court_id))).scalar()
        model_id = connection.execute(
            select(ProcessModel.id).where(
                ProcessModel.key == "suggestion", ProcessModel.deployed.is_(True)
            )
        ).scalar()
        people = _people(connection, court_id)
        registrars = people["by_role"]["registrar"]
        departments = [d for d in people["departments"] if people["drafters_of"].get(d)]
        busy = connection.execute(
            select(Department.id).where(
                Department.court_id == court_id, Department.name == BUSY_DEPARTMENT
            )
        ).scalar()
        department_weights = [BUSY_WEIGHT if d == busy else 1 for d in departments]
        report.departments = len(people["departments"])
        report.users = sum(len(v) for v in people["by_role"].values())

        item_id = _next_id(connection, Item)
        instance_id = _next_id(connection, ProcessInstance)
        task_id = _next_id(connection, Task)
        now = clock.now()
        span = timedelta(days=3 * 365)
        steps = [s for s, _ in OPEN_STEPS]
        weights = [w for _, w in OPEN_STEPS]
        item_rows: list[dict] = []
        instance_rows: list[dict] = []
        task_rows: list[dict] = []

        def flush() -> None:
            _insert(connection, Item.__table__, item_rows)
            _insert(connection, ProcessInstance.__table__, instance_rows)
            _insert(connection, Task.__table__, task_rows)
            report.task_rows += len(task_rows)
            item_rows.clear()
            instance_rows.clear()
            task_rows.clear()

        for i in range(n):
            created = now - span + span * (i / n) - timedelta(days=30)
            # the newest items are the open ones, plus a few long-overdue old ones
            is_open = (i >= n * (1 - OPEN_SHARE) and rng.random() < 0.96) or rng.random() < 0.01
            at_step = rng.choices(steps, weights)[0] if is_open else None
            done_steps = steps[: steps.index(at_step)] if is_open else steps
            department = rng.choices(departments, department_weights)[0]
            registrar = rng.choice(registrars)
            item_rows.append(
                {
                    "id": item_id,
                    "court_id": court_id,
                    "kind": "suggestion",
                    "number": f"{created.year}-建-B{i:06d}",
                    "title": f"关于改进诉讼服务的建议（批量 {i}）",
                    "content": "代表反映群众关切，建议法院研究办理并及时答复。",
                    "received_at": created,
                    "created_at": created,
                    "created_by_id": registrar,
                    "status": "open" if is_open else "filed",
                    "current_step": at_step,
                    "department_id": department if done_steps else None,
                    "filed_at": None if is_open else created + timedelta(days=20),
                    "archive_number": None if is_open else f"{created.year}-档-B{i:06d}",
                }
            )
            instance_rows.append(
                {
                    "id": instance_id,
                    "item_id": item_id,
                    "process_model_id": model_id,
                    "state": {"bench": "dummy state, never loaded"},
                    "version": 1,
                    "completed": not is_open,
                    "updated_at": created,
                }
            )
            for day, step in enumerate(done_steps):
                who = _holder(rng, people, step, registrar, department)
                task_rows.append(
                    _task_row(
                        task_id,
                        court_id,
                        item_id,
                        instance_id,
                        step,
                        department if step == "draft" else None,
                        created + timedelta(days=day),
                        status="completed",
                        assignee=who,
                        completed_by=who,
                        completed_at=created + timedelta(days=day + 1),
                    )
                )
                task_id += 1
            if is_open:
                assigned = at_step == "register" or rng.random() < ASSIGNED_SHARE[at_step]
                task_rows.append(
                    _task_row(
                        task_id,
                        court_id,
                        item_id,
                        instance_id,
                        at_step,
                        department if at_step == "draft" else None,
                        min(created + timedelta(days=len(done_steps)), now),
                        status="open",
                        assignee=(
                            _holder(rng, people, at_step, registrar, department)
                            if assigned
                            else None
                        ),
                    )
                )
                task_id += 1
                report.open_tasks += 1
            item_id += 1
            instance_id += 1
            report.items += 1
            report.instances += 1
            if len(task_rows) >= BATCH * 4:
                flush()
        flush()
        if engine.dialect.name == "postgresql":
            for table in ("items", "process_instances", "tasks", "users", "departments"):
                connection.execute(
                    text(
                        f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                        f"(SELECT max(id) FROM {table}))"
                    )
                )
    if engine.dialect.name == "postgresql":
        # autovacuum would analyze such a load within a minute; do it now, deterministically
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.execute(text("ANALYZE"))
    else:
        refresh_statistics(engine)  # what `liaison db upgrade` does after a bulk import
    report.analyzed = True
    report.seconds = time.perf_counter() - t_start
    return report


def _holder(rng: random.Random, people: dict, step: str, registrar: int, department: int) -> int:
    """Who works on `step` of an item: its registrar, a drafter of its department, ..."""
    if step == "register":
        return registrar
    if step == "draft":
        return rng.choice(people["drafters_of"][department])
    if step == "leader_approve":
        return rng.choice(people["by_role"]["leader"])
    return rng.choice(people["by_role"]["registrar"])


def _task_row(
    task_id,
    court_id,
    item_id,
    instance_id,
    step,
    department_id,
    created_at,
    *,
    status,
    assignee,
    completed_by=None,
    completed_at=None,
) -> dict:
    return {
        "id": task_id,
        "court_id": court_id,
        "item_id": item_id,
        "instance_id": instance_id,
        "task_guid": f"bench-{task_id:030d}",
        "bpmn_id": step,
        "title": STEP_TITLE[step],
        "form": f"{step}.schema.json",
        "role": STEP_ROLE[step],
        "department_id": department_id,
        "assignee_id": assignee,
        "status": status,
        "created_at": created_at,
        "completed_by_id": completed_by,
        "completed_at": completed_at,
    }


# ---------------------------------------------------------------------------
# Timing and plans
# ---------------------------------------------------------------------------


@contextmanager
def _capture(engine: Engine) -> Iterator[list[tuple[str, Any]]]:
    captured: list[tuple[str, Any]] = []

    def before(_conn, _cursor, statement, parameters, _context, _many) -> None:
        captured.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", before)
    try:
        yield captured
    finally:
        event.remove(engine, "before_cursor_execute", before)


def explain(engine: Engine, statement: str, parameters: Any) -> list[str]:
    with engine.connect() as connection:
        if engine.dialect.name == "sqlite":
            rows = connection.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, parameters).all()
            depth = {0: -1}
            lines = []
            for node_id, parent, _unused, detail in rows:
                depth[node_id] = depth.get(parent, -1) + 1
                lines.append("  " * depth[node_id] + detail)
            return lines
        rows = connection.exec_driver_sql("EXPLAIN " + statement, parameters).all()
        return [row[0] for row in rows]


# How the tasks table is reached: by an index (SQLite SEARCH/SCAN ... USING INDEX, PostgreSQL
# index or bitmap scans of a tasks index) or by reading the whole table.
_TASKS_INDEX = re.compile(
    r"(?:(?:SEARCH|SCAN) tasks USING (?:COVERING )?INDEX (\w+)"
    r"|Index (?:Only )?Scan(?: Backward)? using (\w+) on tasks\b"
    r"|Bitmap Index Scan on ((?:ix_)?tasks\w*))"
)
_TASKS_FULL_SCAN = re.compile(r"(?:^\s*SCAN tasks\b|Seq Scan on tasks\b)")  # also full index scans


_FROM_TASKS = re.compile(r"\s*SELECT\b.*?\bFROM\s+tasks\b", re.IGNORECASE | re.DOTALL)


def _short(statement: str) -> str:
    one_line = " ".join(statement.split())
    head = one_line.split(" FROM ")[0]
    return (head[:60] + " …") if len(head) > 60 else head


def run(
    engine: Engine,
    factory: Factory,
    n: int,
    repetitions: int,
    explain_scopes: tuple[str, ...] = ("candidate",),
) -> InboxResult:
    result = InboxResult(load=bulk_load(engine, n))
    with unit_of_work(factory) as session:
        actors = {
            user.username: user
            for user in session.scalars(select(User).where(User.username.in_(MEASURED)))
        }
    for username in MEASURED:
        actor = actors[username]
        for scope in SCOPES:
            query = tasks.TaskQuery(scope=scope)
            for _ in range(5):  # warm the statement cache and the page cache
                with unit_of_work(factory) as session:
                    _rows, total = tasks.inbox(session, actor, query)
            samples, cpu = [], []
            for _ in range(repetitions):
                c0 = time.process_time()
                t0 = time.perf_counter()
                with unit_of_work(factory) as session:
                    tasks.inbox(session, actor, query)
                samples.append(time.perf_counter() - t0)
                cpu.append(time.process_time() - c0)
            timing = InboxTiming(
                username, scope, total, Summary.of_seconds(samples), Summary.of_seconds(cpu)
            )
            result.timings.append(timing)

    uses_index: list[bool] = []
    for scope in explain_scopes:
        for username in MEASURED:
            with _capture(engine) as captured, unit_of_work(factory) as session:
                tasks.inbox(session, actors[username], tasks.TaskQuery(scope=scope))
            for statement, parameters in captured:
                if not _FROM_TASKS.match(statement):
                    continue
                plan = explain(engine, statement, parameters)
                result.plans.append((f"{username} / {scope}: {_short(statement)}", plan))
                if scope == "candidate":
                    full_scan = any(_TASKS_FULL_SCAN.search(line) for line in plan)
                    uses_index.append(bool(indexes_in(plan)) and not full_scan)
    result.candidate_uses_index = bool(uses_index) and all(uses_index)
    return result


def indexes_in(plan: list[str]) -> list[str]:
    """Indexes of the tasks table that the plan uses."""
    found = set()
    for line in plan:
        for match in _TASKS_INDEX.finditer(line):
            found.update(name for name in match.groups() if name)
    return sorted(found)
