"""Small helpers shared by tests: walk a suggestion through its steps via the services."""

from __future__ import annotations

from sqlalchemy import select

from engine.db import unit_of_work
from engine.models import Item, Task
from engine.services import items, meetings, tasks

STEP_DATA = {
    "register": {"department": "民一庭", "opinion": "请民一庭办理"},
    "draft": {"draft": "经研究，答复如下：已采取措施改进。"},
    "approve": {"approved": True, "comment": "同意"},
    "reject": {"approved": False, "comment": "请补充具体措施"},
    "reply": {"reply_class": "A", "reply": "代表您好，您的建议已办理完毕。"},
    "file": {"comment": "归档"},
}


def register(factory, registrar, title: str = "关于加强诉前调解的建议") -> int:
    with unit_of_work(factory) as session:
        item = items.register(
            session,
            registrar,
            items.NewItem(kind="suggestion", title=title, content="建议内容", deputies=["张代表"]),
        )
        return item.id


def open_task(factory, item_id: int) -> Task:
    with unit_of_work(factory) as session:
        return session.scalar(select(Task).where(Task.item_id == item_id, Task.status == "open"))


def complete(factory, user, item_id: int, step: str) -> Item:
    """Complete the item's open step; a suggestion's reply first records the required meeting."""
    task = open_task(factory, item_id)
    with unit_of_work(factory) as session:
        if step == "reply" and not meetings.has_met(session, session.get(Item, item_id)):
            meetings.record(session, user, item_id, MET_ON, "phone", "电话沟通办理情况")
        return tasks.complete(session, user, task.id, STEP_DATA[step])


MET_ON = "2026-01-05"
