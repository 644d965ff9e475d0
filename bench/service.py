"""(a) Service layer: register + five completions per letter through engine.services.

One completion = one `unit_of_work` around `tasks.complete` (commit included), as a web
request does it, minus HTTP. The next task's id is looked up outside the timed part.
"""

from __future__ import annotations

import cProfile
import io
import pstats
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from sqlalchemy import Engine, event, select
from sqlalchemy.orm import Session, sessionmaker

from bench.scenario import STEPS, USERNAMES, new_item_payload
from bench.stats import Summary
from engine.db import unit_of_work
from engine.models import Task, User
from engine.services import audit, items, projection, tasks
from engine.workflow import runtime

Factory = sessionmaker[Session]


@dataclass
class ServiceResult:
    completions: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)  # process CPU time per completion
    registrations: list[float] = field(default_factory=list)
    by_step: dict[str, list[float]] = field(default_factory=dict)

    @property
    def summary(self) -> Summary:
        return Summary.of_seconds(self.completions)

    @property
    def cpu_summary(self) -> Summary:
        return Summary.of_seconds(self.cpu)

    @property
    def cpu_share(self) -> float:
        """Process CPU time / wall time of the completions (< 1: waited on I/O or the CPU)."""
        return sum(self.cpu) / sum(self.completions) if self.completions else float("nan")


def load_actors(factory: Factory) -> dict[str, User]:
    """The demo users, detached (expire_on_commit=False), as the tests use them."""
    with unit_of_work(factory) as session:
        users = session.scalars(select(User).where(User.username.in_(USERNAMES))).all()
        return {user.username: user for user in users}


def _open_task_id(factory: Factory, item_id: int) -> int:
    with unit_of_work(factory) as session:
        task_id = session.scalar(
            select(Task.id).where(Task.item_id == item_id, Task.status == "open")
        )
    if task_id is None:
        raise AssertionError(f"item {item_id} has no open task")
    return task_id


def _register(factory: Factory, registrar: User, index: int) -> int:
    with unit_of_work(factory) as session:
        return items.register(session, registrar, items.NewItem(**new_item_payload(index))).id


# (bpmn_id, seconds inside complete(), seconds for the unit of work, CPU seconds for it)
Hook = Callable[[str, float, float, float], None]


def walk(factory: Factory, actors: dict[str, User], index: int, hook: Hook | None = None) -> float:
    """Register one letter and complete its five steps; returns the registration time."""
    t0 = time.perf_counter()
    item_id = _register(factory, actors["registrar"], index)
    registration = time.perf_counter() - t0
    item = None
    for username, bpmn_id, data in STEPS:
        task_id = _open_task_id(factory, item_id)
        c0 = time.process_time()
        t0 = time.perf_counter()
        with unit_of_work(factory) as session:
            item = tasks.complete(session, actors[username], task_id, data)
            t1 = time.perf_counter()
        t2 = time.perf_counter()
        c2 = time.process_time()
        if hook is not None:
            hook(bpmn_id, t1 - t0, t2 - t0, c2 - c0)
    if item is None or item.status != "filed":
        raise AssertionError(f"item {item_id} is not filed after five completions")
    return registration


def run(factory: Factory, n: int, warmup: int) -> ServiceResult:
    actors = load_actors(factory)
    for index in range(warmup):
        walk(factory, actors, -1 - index)
    result = ServiceResult(by_step={bpmn_id: [] for _, bpmn_id, _ in STEPS})

    def record(bpmn_id: str, _in_complete: float, total: float, cpu: float) -> None:
        result.completions.append(total)
        result.cpu.append(cpu)
        result.by_step[bpmn_id].append(total)

    for index in range(n):
        result.registrations.append(walk(factory, actors, index, record))
    return result


# ---------------------------------------------------------------------------
# Where the time goes: phase breakdown, statement count, cProfile
# ---------------------------------------------------------------------------

# (module, attribute, label): the calls tasks.complete makes, in order. Labels are
# exclusive of each other (a nested patched call is subtracted from its caller).
_PHASES = [
    (tasks, "get", "tasks.get (visible_tasks query)"),
    (tasks, "form_schema", "form_schema (instance+model load, schema copy)"),
    (tasks, "validate", "jsonschema validate"),
    (runtime, "load", "runtime.load (JSON state -> workflow)"),
    (runtime, "find_ready_task", "runtime.find_ready_task"),
    (runtime, "complete", "runtime.complete (run + engine steps)"),
    (runtime, "dump", "runtime.dump (workflow -> dict)"),
    (projection, "sync", "projection.sync (tasks/item rows)"),
    (audit, "record", "audit.record"),
]


@contextmanager
def _patched_phases(totals: dict[str, float]) -> Iterator[None]:
    stack: list[float] = []
    originals = []

    def wrap(original, label):
        def timed(*args, **kwargs):
            stack.append(0.0)
            t0 = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                elapsed = time.perf_counter() - t0
                children = stack.pop()
                totals[label] = totals.get(label, 0.0) + elapsed - children
                if stack:
                    stack[-1] += elapsed

        return timed

    for module, name, label in _PHASES:
        original = getattr(module, name, None)
        if original is None:
            continue
        originals.append((module, name, original))
        setattr(module, name, wrap(original, label))
    try:
        yield
    finally:
        for module, name, original in originals:
            setattr(module, name, original)


@contextmanager
def _count_statements(engine: Engine) -> Iterator[dict[str, int]]:
    counter = {"n": 0}

    def count(*_args) -> None:
        counter["n"] += 1

    event.listen(engine, "before_cursor_execute", count)
    try:
        yield counter
    finally:
        event.remove(engine, "before_cursor_execute", count)


@dataclass
class Breakdown:
    completions: int
    total: float  # seconds
    phases: dict[str, float]  # seconds, exclusive
    statements: float  # per completion

    def lines(self) -> list[str]:
        per = 1000 / self.completions
        rows = [
            f"  {label:<50} {seconds * per:6.3f} ms  {100 * seconds / self.total:5.1f} %"
            for label, seconds in self.phases.items()
        ]
        rest = self.total - sum(self.phases.values())
        rows.append(
            f"  {'other (UPDATEs/flushes, look-ups, session)':<50} {rest * per:6.3f} ms"
            f"  {100 * rest / self.total:5.1f} %"
        )
        rows.append(f"  {'= per completion':<50} {self.total * per:6.3f} ms")
        rows.append(f"  SQL statements per completion (incl. BEGIN): {self.statements:.1f}")
        return rows


def breakdown(engine: Engine, factory: Factory, suggestions: int) -> Breakdown:
    """Instrumented pass (not the timed one): exclusive time per phase of tasks.complete."""
    actors = load_actors(factory)
    phases: dict[str, float] = {label: 0.0 for _, _, label in _PHASES}
    phases["commit + close"] = 0.0
    total = 0.0
    completions = 0

    def hook(_bpmn_id: str, in_complete: float, whole: float, _cpu: float) -> None:
        nonlocal total, completions
        total += whole
        completions += 1
        phases["commit + close"] += whole - in_complete

    with _patched_phases(phases):
        for index in range(suggestions):
            walk(factory, actors, 50_000 + index, hook)
    # Statements, counted only inside the completion units of work.
    statements = 0
    item_id = _register(factory, actors["registrar"], 60_000)
    for username, _bpmn_id, data in STEPS:
        task_id = _open_task_id(factory, item_id)
        with _count_statements(engine) as counter, unit_of_work(factory) as session:
            tasks.complete(session, actors[username], task_id, data)
        statements += counter["n"]
    return Breakdown(completions, total, phases, statements / len(STEPS))


def profile(factory: Factory, suggestions: int, top: int = 25) -> str:
    """cProfile over the completions of a few suggestions; returns the printed tables."""
    actors = load_actors(factory)
    profiler = cProfile.Profile()
    for index in range(suggestions):
        item_id = _register(factory, actors["registrar"], 70_000 + index)
        for username, _bpmn_id, data in STEPS:
            task_id = _open_task_id(factory, item_id)
            profiler.enable()
            with unit_of_work(factory) as session:
                tasks.complete(session, actors[username], task_id, data)
            profiler.disable()
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out).strip_dirs()
    out.write(f"--- cProfile: {suggestions * len(STEPS)} completions, by own time ---\n")
    stats.sort_stats("tottime").print_stats(top)
    out.write("--- by cumulative time ---\n")
    stats.sort_stats("cumulative").print_stats(top + 15)
    return "\n".join(line for line in out.getvalue().splitlines() if line.strip())
