"""Every kind and the office's rules around the spine, through the engine services."""

from __future__ import annotations

from sqlalchemy import select

from engine.db import unit_of_work
from engine.models import Item, Task
from engine.services import rehandling, tasks
from tests.helpers import complete, register


def open_tasks(factory, item_id: int) -> list[Task]:
    with unit_of_work(factory) as session:
        return list(
            session.scalars(
                select(Task).where(Task.item_id == item_id, Task.status == "open").order_by(Task.id)
            )
        )


def do(factory, user, task: Task, data: dict) -> Item:
    with unit_of_work(factory) as session:
        return tasks.complete(session, user, task.id, data)


def by_step(factory, item_id: int, bpmn_id: str) -> list[Task]:
    return [t for t in open_tasks(factory, item_id) if t.bpmn_id == bpmn_id]


def test_rehandle_restarts_at_draft_and_reopens_filed_item(factory, people):
    item_id = register(factory, people["registrar"])
    for user, step in [
        ("registrar", "register"),
        ("drafter", "draft"),
        ("leader", "approve"),
        ("registrar", "reply"),
        ("registrar", "file"),
    ]:
        complete(factory, people[user], item_id, step)
    with unit_of_work(factory) as session:
        item = session.get(Item, item_id)
        archive = item.archive_number
        rehandling.rehandle(session, item, None, "不满意")
    with unit_of_work(factory) as session:
        item = session.get(Item, item_id)
        assert (item.status, item.round, item.archive_number) == ("open", 2, archive)
        assert item.department.name == "民一庭"
    assert [t.bpmn_id for t in open_tasks(factory, item_id)] == ["draft"]
