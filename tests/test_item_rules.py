"""Every item kind and the office's rules around the spine, through the engine services."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from sqlalchemy import select

from engine import clock
from engine.db import unit_of_work
from engine.errors import Conflict, Forbidden, InvalidData, NotFound
from engine.models import AuditEvent, Item, ProcessInstance, Task
from engine.services import items, meetings, rehandling, tasks
from engine.services.scheduling import calendar
from engine.timers import fire_due_timers
from tests.helpers import STEP_DATA, complete, register

DRAFT = STEP_DATA["draft"]
APPROVE = STEP_DATA["approve"]


def new_item(factory, registrar, kind: str, deputies: list | None = None) -> int:
    with unit_of_work(factory) as session:
        item = items.register(
            session,
            registrar,
            items.NewItem(
                kind=kind,
                title=f"{kind} 测试事项",
                content="内容",
                deputies=["张代表"] if deputies is None else deputies,
            ),
        )
        return item.id


def open_tasks(factory, item_id: int) -> list[Task]:
    with unit_of_work(factory) as session:
        return list(
            session.scalars(
                select(Task).where(Task.item_id == item_id, Task.status == "open").order_by(Task.id)
            )
        )


def step(factory, user, item_id: int, bpmn_id: str, data: dict) -> Item:
    """Complete the item's open task `bpmn_id` (the first, if several) as `user`."""
    (task, *_) = [t for t in open_tasks(factory, item_id) if t.bpmn_id == bpmn_id]
    with unit_of_work(factory) as session:
        return tasks.complete(session, user, task.id, data)


def open_steps(factory, item_id: int) -> list[str]:
    return sorted(t.bpmn_id for t in open_tasks(factory, item_id))


def item_row(factory, item_id: int) -> Item:
    with unit_of_work(factory) as session:
        return session.get(Item, item_id)


def actions(factory, item_id: int) -> list[str]:
    with unit_of_work(factory) as session:
        return list(
            session.scalars(
                select(AuditEvent.action)
                .where(AuditEvent.item_id == item_id)
                .order_by(AuditEvent.id)
            )
        )


REPLY = {"reply_class": "A", "reply": "代表您好，您反映的问题已处理完毕。"}
REPORT = {"report": "经办理，现将有关情况报告如下：已依法处理。"}
FILE = {"comment": "归档"}


@pytest.mark.parametrize(
    ("kind", "code", "register_data", "answer", "answer_data", "deputies"),
    [
        ("letter", "信", STEP_DATA["register"], "reply", REPLY, ["张代表"]),
        (
            "concern_case",
            "案",
            {
                "case_number": "（2026）京0105民初1234号",
                "case_stage": "trial",
                "department": "民一庭",
                "opinion": "请民一庭关注审理进展",
            },
            "reply",
            REPLY,
            ["张代表"],
        ),
        (
            "petition",
            "访",
            {
                "source_org": "市人大常委会信访室",
                "source_reference": "京人访转〔2026〕12号",
                "department": "民一庭",
                "opinion": "请民一庭核查",
            },
            "report_back",
            REPORT,
            [],
        ),
        (
            "supervision",
            "督",
            {
                "source_org": "北京市高级人民法院",
                "source_reference": "京高法督〔2026〕3号",
                "department": "民一庭",
                "opinion": "请民一庭办理并报告",
            },
            "report_back",
            REPORT,
            [],
        ),
    ],
)
def test_every_kind_runs_from_arrival_to_filing(
    factory, people, kind, code, register_data, answer, answer_data, deputies
):
    item_id = new_item(factory, people["registrar"], kind, deputies)
    item = item_row(factory, item_id)
    assert f"-{code}-0001" in item.number
    step(factory, people["registrar"], item_id, "register", register_data)
    item = item_row(factory, item_id)
    assert item.department.name == "民一庭" and item.due_at is not None
    for fact in ("case_number", "source_org", "source_reference"):
        if fact in register_data:
            assert getattr(item, fact) == register_data[fact]
    step(factory, people["drafter"], item_id, "draft", DRAFT)
    if kind == "concern_case":  # three levels: 合议庭 → 庭长 → 分管院长
        assert open_steps(factory, item_id) == ["dept_check"]
        step(factory, people["head"], item_id, "dept_check", {"approved": False, "comment": "补充"})
        step(factory, people["drafter"], item_id, "draft", DRAFT)
        step(factory, people["head"], item_id, "dept_check", {"approved": True})
    step(factory, people["leader"], item_id, "leader_approve", APPROVE)
    assert open_steps(factory, item_id) == [answer]
    step(factory, people["registrar"], item_id, answer, answer_data)
    item = step(factory, people["registrar"], item_id, "file", FILE)
    assert item.status == "filed" and item.archive_number
    assert open_steps(factory, item_id) == []


def test_suggestion_and_letter_need_deputies_but_petitions_do_not(factory, people):
    with unit_of_work(factory) as session, pytest.raises(InvalidData) as refused:
        items.register(
            session,
            people["registrar"],
            items.NewItem(kind="letter", title="来信", content="内容", deputies=[]),
        )
    assert "deputies" in refused.value.fields
    assert new_item(factory, people["registrar"], "petition", [])


def test_concern_case_number_must_look_like_a_case_number(factory, people):
    item_id = new_item(factory, people["registrar"], "concern_case")
    with pytest.raises(InvalidData) as refused:
        step(
            factory,
            people["registrar"],
            item_id,
            "register",
            {
                "case_number": "1234",
                "case_stage": "trial",
                "department": "民一庭",
                "opinion": "请办",
            },
        )
    assert "case_number" in refused.value.fields


def register_with_co(factory, people, co: list[str]) -> int:
    item_id = register(factory, people["registrar"])
    step(
        factory,
        people["registrar"],
        item_id,
        "register",
        {**STEP_DATA["register"], "co_departments": co},
    )
    return item_id


def test_co_handling_units_give_opinions_before_the_lead_draft_goes_on(factory, people):
    item_id = register_with_co(factory, people, ["刑一庭"])
    assert open_steps(factory, item_id) == ["co_opinion", "draft"]
    co = next(t for t in open_tasks(factory, item_id) if t.bpmn_id == "co_opinion")
    assert co.department.name == "刑一庭" and co.due_at is not None
    # The co-unit's drafter sees the item.
    with unit_of_work(factory) as session:
        item = items.get(session, people["drafter_other"], item_id)
        assert [d.name for d in item.co_departments] == ["刑一庭"]
    with pytest.raises(Conflict, match="刑一庭"):
        step(factory, people["drafter"], item_id, "draft", DRAFT)
    with pytest.raises(Forbidden), unit_of_work(factory) as session:  # not the lead's task
        tasks.complete(session, people["drafter"], co.id, {"opinion": "意见"})
    step(factory, people["drafter_other"], item_id, "co_opinion", {"opinion": "刑一庭无异议"})
    assert open_steps(factory, item_id) == ["draft"]
    step(factory, people["drafter"], item_id, "draft", DRAFT)
    assert open_steps(factory, item_id) == ["leader_approve"]
    with unit_of_work(factory) as session:
        opinion = session.scalar(
            select(AuditEvent).where(
                AuditEvent.item_id == item_id, AuditEvent.task_bpmn_id == "co_opinion"
            )
        )
        assert opinion.task_id == co.id and opinion.comment == "刑一庭无异议"


def test_lead_draft_stops_waiting_when_the_co_unit_limit_passes(factory, people):
    item_id = register_with_co(factory, people, ["刑一庭", "办公室"])
    assert open_steps(factory, item_id) == ["co_opinion", "co_opinion", "draft"]
    step(factory, people["drafter_other"], item_id, "co_opinion", {"opinion": "刑一庭意见"})
    with pytest.raises(Conflict, match="办公室"):
        step(factory, people["drafter"], item_id, "draft", DRAFT)
    with unit_of_work(factory) as session:
        today = clock.local_now().date()
        limit = calendar(session).add_working_days(today, 15)
    clock.travel_to(
        datetime.combine(limit + timedelta(days=1), datetime.min.time(), clock.business_timezone())
    )
    assert fire_due_timers(factory) == 1
    assert open_steps(factory, item_id) == ["draft"]
    step(factory, people["drafter"], item_id, "draft", DRAFT)
    assert open_steps(factory, item_id) == ["leader_approve"]


SEND_BACK = {
    "action": "send_back",
    "send_back_reason": "本件涉及刑事案件，不属民一庭职责",
    "suggested_department": "刑一庭",
}


def test_send_back_goes_to_the_registrar_who_reroutes(factory, people):
    item_id = register(factory, people["registrar"])
    complete(factory, people["registrar"], item_id, "register")
    step(factory, people["drafter"], item_id, "draft", SEND_BACK)
    assert open_steps(factory, item_id) == ["reroute"]
    step(
        factory,
        people["registrar"],
        item_id,
        "reroute",
        {"department": "刑一庭", "opinion": "改交刑一庭"},
    )
    (draft,) = open_tasks(factory, item_id)
    assert (draft.bpmn_id, draft.department.name) == ("draft", "刑一庭")
    assert item_row(factory, item_id).department.name == "刑一庭"
    with unit_of_work(factory) as session, pytest.raises(NotFound):
        items.get(session, people["drafter"], item_id)  # 民一庭 no longer sees it
    with unit_of_work(factory) as session:
        sent_back = session.scalar(
            select(AuditEvent).where(
                AuditEvent.item_id == item_id, AuditEvent.action == "sent_back"
            )
        )
        assert sent_back.comment == SEND_BACK["send_back_reason"]
        assert sent_back.data == {"suggested_department": "刑一庭"}
    assert actions(factory, item_id).count("completed") == 3  # register, draft, reroute


def test_send_back_needs_a_reason_and_is_refused_after_the_limit(factory, people):
    item_id = register(factory, people["registrar"])
    complete(factory, people["registrar"], item_id, "register")
    with pytest.raises(InvalidData) as refused:
        step(factory, people["drafter"], item_id, "draft", {"action": "send_back"})
    assert set(refused.value.fields) >= {"send_back_reason", "suggested_department"}
    with unit_of_work(factory) as session:
        last_day = calendar(session).add_working_days(clock.local_now().date(), 3)
    clock.travel_to(
        datetime.combine(
            last_day + timedelta(days=1), datetime.min.time(), clock.business_timezone()
        )
        + timedelta(hours=10)
    )
    with pytest.raises(InvalidData, match="退回期限已过") as late:
        step(factory, people["drafter"], item_id, "draft", SEND_BACK)
    assert "action" in late.value.fields
    assert open_steps(factory, item_id) == ["draft"]


def walk_to_reply(factory, people, item_id: int) -> None:
    for user, name in [("registrar", "register"), ("drafter", "draft"), ("leader", "approve")]:
        complete(factory, people[user], item_id, name)


def test_b_reply_files_the_item_and_follows_up_on_the_date_given(factory, people):
    item_id = register(factory, people["registrar"])
    walk_to_reply(factory, people, item_id)
    with unit_of_work(factory) as session:
        meetings.record(
            session,
            people["registrar"],
            item_id,
            clock.local_now().date().isoformat(),
            "in_person",
            "当面沟通",
        )
    with pytest.raises(InvalidData) as refused:
        step(
            factory,
            people["registrar"],
            item_id,
            "reply",
            {"reply_class": "B", "reply": "正在解决，列入明年计划。"},
        )
    assert "follow_up_on" in refused.value.fields
    follow_up_on = (clock.local_now() + timedelta(days=40)).date()
    step(
        factory,
        people["registrar"],
        item_id,
        "reply",
        {
            "reply_class": "B",
            "reply": "正在解决，列入明年计划。",
            "follow_up_on": follow_up_on.isoformat(),
        },
    )
    item = item_row(factory, item_id)
    assert item.reply_class == "B" and item.replied_at is not None
    assert item.next_escalation_at is None  # answered: the item clock stops
    item = step(factory, people["registrar"], item_id, "file", FILE)
    assert item.status == "filed"
    assert open_steps(factory, item_id) == []
    assert fire_due_timers(factory) == 0
    clock.travel_to(
        datetime.combine(follow_up_on, datetime.min.time(), clock.business_timezone())
        + timedelta(hours=9)
    )
    assert fire_due_timers(factory) == 1
    assert open_steps(factory, item_id) == ["follow_up"]
    step(factory, people["registrar"], item_id, "follow_up", {"progress": "已列入计划并开始实施"})
    with unit_of_work(factory) as session:
        instance = session.scalar(select(ProcessInstance).where(ProcessInstance.item_id == item_id))
        assert instance.completed
        assert session.get(Item, item_id).status == "filed"


def test_rehandle_restarts_at_draft_and_reopens_filed_item(factory, people):
    item_id = register(factory, people["registrar"])
    walk_to_reply(factory, people, item_id)
    complete(factory, people["registrar"], item_id, "reply")
    complete(factory, people["registrar"], item_id, "file")
    with unit_of_work(factory) as session:
        item = session.get(Item, item_id)
        archive = item.archive_number
        rehandling.rehandle(session, item, None, "不满意")
        expected_due = calendar(session).add_months(clock.local_now().date(), 1).day
    item = item_row(factory, item_id)
    assert (item.status, item.round, item.archive_number) == ("open", 2, archive)
    assert item.due_at.astimezone(clock.business_timezone()).date() == expected_due
    assert open_steps(factory, item_id) == ["draft"]
    # The new answer needs a meeting of its own round.
    complete(factory, people["drafter"], item_id, "draft")
    complete(factory, people["leader"], item_id, "approve")
    with pytest.raises(InvalidData, match="见面"):
        step(factory, people["registrar"], item_id, "reply", REPLY)
    complete(factory, people["registrar"], item_id, "reply")
    item = complete(factory, people["registrar"], item_id, "file")
    assert (item.status, item.archive_number) == ("filed", archive)
