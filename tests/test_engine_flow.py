"""The suggestion workflow through the engine services, on every configured database."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import select

from engine.db import unit_of_work
from engine.errors import Conflict, Forbidden, InvalidData, NotFound
from engine.models import AuditEvent, Item, ProcessInstance, Task
from engine.services import items, tasks
from tests.helpers import STEP_DATA, complete, open_task, register


def test_register_numbers_item_and_offers_register_step(factory, people):
    item_id = register(factory, people["registrar"])
    with unit_of_work(factory) as session:
        item = session.get(Item, item_id)
        assert item.number.endswith("-建-0001")
        assert item.status == "open"
        assert item.current_step == "register"
    task = open_task(factory, item_id)
    assert (task.bpmn_id, task.role, task.assignee_id) == (
        "register",
        "registrar",
        people["registrar"].id,
    )


def test_full_flow_with_rejection_files_the_item(factory, people):
    item_id = register(factory, people["registrar"])
    complete(factory, people["registrar"], item_id, "register")
    draft = open_task(factory, item_id)
    assert (draft.bpmn_id, draft.role) == ("draft", "drafter")
    assert draft.department.name == "民一庭"
    complete(factory, people["drafter"], item_id, "draft")
    complete(factory, people["leader"], item_id, "reject")
    assert open_task(factory, item_id).bpmn_id == "draft"
    complete(factory, people["drafter"], item_id, "draft")
    complete(factory, people["leader"], item_id, "approve")
    assert open_task(factory, item_id).bpmn_id == "reply"
    complete(factory, people["registrar"], item_id, "reply")
    item = complete(factory, people["registrar"], item_id, "file")
    assert item.status == "filed"
    assert item.archive_number.endswith("-档-0001")
    with unit_of_work(factory) as session:
        actions = [
            e.action
            for e in session.scalars(
                select(AuditEvent).where(AuditEvent.item_id == item_id).order_by(AuditEvent.id)
            )
        ]
        assert actions.count("completed") == 7
        assert actions[0] == "registered" and actions[-1] == "filed"
        rejection = session.scalar(
            select(AuditEvent).where(
                AuditEvent.item_id == item_id, AuditEvent.task_bpmn_id == "leader_approve"
            )
        )
        assert rejection.comment == "请补充具体措施"
        assert session.scalar(
            select(ProcessInstance).where(ProcessInstance.item_id == item_id)
        ).completed
    assert open_task(factory, item_id) is None


def test_filed_item_is_read_only(factory, people):
    item_id = register(factory, people["registrar"])
    for user, step in [
        ("registrar", "register"),
        ("drafter", "draft"),
        ("leader", "approve"),
        ("registrar", "reply"),
    ]:
        complete(factory, people[user], item_id, step)
    last = open_task(factory, item_id)
    complete(factory, people["registrar"], item_id, "file")
    with unit_of_work(factory) as session, pytest.raises(Conflict):
        tasks.complete(session, people["registrar"], last.id, STEP_DATA["file"])


def test_other_department_cannot_see_or_complete(factory, people):
    item_id = register(factory, people["registrar"])
    complete(factory, people["registrar"], item_id, "register")
    draft = open_task(factory, item_id)
    with unit_of_work(factory) as session:
        with pytest.raises(NotFound):
            items.get(session, people["drafter_other"], item_id)
        with pytest.raises(NotFound):
            tasks.complete(session, people["drafter_other"], draft.id, STEP_DATA["draft"])
        rows, total = tasks.inbox(session, people["drafter_other"], tasks.TaskQuery("candidate"))
        assert total == 0 and rows == []
        rows, total = tasks.inbox(session, people["drafter"], tasks.TaskQuery("candidate"))
        assert [r.id for r in rows] == [draft.id]
        with pytest.raises(NotFound):
            items.get(session, people["designer"], item_id)


def test_claim_conflicts_and_completion_by_non_holder(factory, people):
    item_id = register(factory, people["registrar"])
    complete(factory, people["registrar"], item_id, "register")
    draft = open_task(factory, item_id)
    with unit_of_work(factory) as session:
        tasks.claim(session, people["drafter"], draft.id)
    with unit_of_work(factory) as session, pytest.raises(Conflict, match="claimed"):
        tasks.claim(session, people["drafter_b"], draft.id)
    with unit_of_work(factory) as session, pytest.raises(Conflict, match="claimed"):
        tasks.complete(session, people["drafter_b"], draft.id, STEP_DATA["draft"])
    with unit_of_work(factory) as session, pytest.raises(Forbidden):
        tasks.claim(session, people["registrar"], draft.id)
    with unit_of_work(factory) as session:
        tasks.release(session, people["drafter"], draft.id)
        tasks.assign(session, people["head"], draft.id, "drafter_b")
    with unit_of_work(factory) as session:
        assert session.get(Task, draft.id).assignee_id == people["drafter_b"].id


def test_invalid_form_data_names_fields_and_changes_nothing(factory, people):
    item_id = register(factory, people["registrar"])
    task = open_task(factory, item_id)
    with unit_of_work(factory) as session:
        before = session.scalar(
            select(ProcessInstance.version).where(ProcessInstance.item_id == item_id)
        )
    with unit_of_work(factory) as session, pytest.raises(InvalidData) as error:
        tasks.complete(session, people["registrar"], task.id, {"department": "不存在的庭"})
    assert set(error.value.fields) == {"department", "opinion"}
    with unit_of_work(factory) as session:
        assert session.get(Task, task.id).status == "open"
        assert (
            session.scalar(
                select(ProcessInstance.version).where(ProcessInstance.item_id == item_id)
            )
            == before
        )


def test_rejection_requires_comment(factory, people):
    item_id = register(factory, people["registrar"])
    complete(factory, people["registrar"], item_id, "register")
    complete(factory, people["drafter"], item_id, "draft")
    task = open_task(factory, item_id)
    with unit_of_work(factory) as session, pytest.raises(InvalidData) as error:
        tasks.complete(session, people["leader"], task.id, {"approved": False})
    assert "comment" in error.value.fields


def test_concurrent_completion_one_wins(factory, people):
    item_id = register(factory, people["registrar"])
    task = open_task(factory, item_id)
    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def attempt() -> None:
        barrier.wait()
        try:
            with unit_of_work(factory) as session:
                tasks.complete(session, people["registrar"], task.id, STEP_DATA["register"])
            outcomes.append("ok")
        except Conflict:
            outcomes.append("conflict")

    threads = [threading.Thread(target=attempt) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["conflict", "ok"]
    with unit_of_work(factory) as session:
        drafts = session.scalars(
            select(Task).where(Task.item_id == item_id, Task.bpmn_id == "draft")
        )
        assert len(list(drafts)) == 1


def test_concurrent_registration_never_duplicates_numbers(factory, people):
    numbers: list[str] = []
    errors: list[Exception] = []

    def register_one(n: int) -> None:
        try:
            with unit_of_work(factory) as session:
                item = items.register(
                    session,
                    people["registrar"],
                    items.NewItem(
                        kind="suggestion", title=f"建议 {n}", content="内容", deputies=["甲"]
                    ),
                )
                numbers.append(item.number)
        except Exception as exc:  # noqa: BLE001 - collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=register_one, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len(set(numbers)) == 8
    assert sorted(int(n.rsplit("-", 1)[1]) for n in numbers) == list(range(1, 9))


def test_register_validates_fields(factory, people):
    with unit_of_work(factory) as session, pytest.raises(InvalidData) as error:
        items.register(
            session,
            people["registrar"],
            items.NewItem(kind="recipe", title="", content="x", deputies=[]),
        )
    assert set(error.value.fields) == {"kind", "title", "deputies"}
    with unit_of_work(factory) as session, pytest.raises(Forbidden):
        items.register(
            session,
            people["drafter"],
            items.NewItem(kind="suggestion", title="t", content="c", deputies=["甲"]),
        )
