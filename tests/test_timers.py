"""BPMN timer events driven by the application clock and the working-day calendar.

tests/fixtures/timer_supervision.bpmn is deployed as the `letter` workflow: a
non-interrupting timer on the draft step opens a supervision task for the leader.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from engine import clock
from engine.db import unit_of_work
from engine.models import AuditEvent, Item, ProcessInstance, Task, Timer
from engine.scheduler import run_sweep
from engine.services import accounts, items, process_models, tasks
from engine.workcalendar import WorkCalendar
from tests.conftest import COURT

BEIJING = ZoneInfo("Asia/Shanghai")
FIXTURE = Path(__file__).parent / "fixtures" / "timer_supervision.bpmn"
# Wednesday 2026-09-30, the last working day before the National Day holidays.
ASSIGNED = datetime(2026, 9, 30, 10, 0, tzinfo=BEIJING)
JUST = timedelta(seconds=30)
WORKING_DAY_TIMER = "working_days(1)"
HOUR_TIMER = '<bpmn:timeDuration xsi:type="bpmn:tFormalExpression">"PT1H"</bpmn:timeDuration>'


def deploy_letter(factory, timer: str = WORKING_DAY_TIMER) -> None:
    xml = FIXTURE.read_text(encoding="utf-8")
    if timer != WORKING_DAY_TIMER:
        xml = xml.replace(
            '<bpmn:timeDate xsi:type="bpmn:tFormalExpression">working_days(1)</bpmn:timeDate>',
            timer,
        )
        assert timer in xml
    with unit_of_work(factory) as session:
        court = accounts.get_or_create_court(session, COURT)
        model = process_models.deploy(session, court, xml, process_models.shipped_forms())
        assert model.key == "letter" and model.deployed  # the next version after the shipped one


def open_tasks(factory, item_id: int) -> dict[str, int]:
    with unit_of_work(factory) as session:
        rows = session.execute(
            select(Task.bpmn_id, Task.id).where(Task.item_id == item_id, Task.status == "open")
        )
        return dict(rows.all())


def assigned_letter(factory, people, when: datetime = ASSIGNED) -> int:
    """Register a letter and complete its register step at `when`; the draft is open."""
    clock.travel_to(when)
    with unit_of_work(factory) as session:
        item = items.register(
            session,
            people["registrar"],
            items.NewItem(
                kind="letter", title="关于执行案件的来信", content="来信内容", deputies=["李代表"]
            ),
        )
        item_id = item.id
    (register_id,) = open_tasks(factory, item_id).values()
    with unit_of_work(factory) as session:
        tasks.complete(
            session, people["registrar"], register_id, {"department": "民一庭", "opinion": "请办理"}
        )
    assert set(open_tasks(factory, item_id)) == {"draft"}
    return item_id


def timer_rows(factory, item_id: int) -> list[Timer]:
    with unit_of_work(factory) as session:
        return list(
            session.scalars(
                select(Timer)
                .join(ProcessInstance, ProcessInstance.id == Timer.instance_id)
                .where(ProcessInstance.item_id == item_id)
                .order_by(Timer.id)
            )
        )


def audit_count(factory, item_id: int, action: str) -> int:
    with unit_of_work(factory) as session:
        return session.scalar(
            select(func.count())
            .select_from(AuditEvent)
            .where(AuditEvent.item_id == item_id, AuditEvent.action == action)
        )


def test_working_day_timer_fires_once_after_due_and_keeps_the_draft_open(factory, people):
    deploy_letter(factory)
    item_id = assigned_letter(factory, people)

    # working_days(1) on Wednesday 09-30 is the end of Thursday 10-08, after the holidays.
    with unit_of_work(factory) as session:
        cal = WorkCalendar.load(session)
    assert cal.add_working_days(date(2026, 9, 30), 1) == date(2026, 10, 8)
    due_at = datetime.combine(date(2026, 10, 8), time(23, 59, 59), BEIJING)
    (timer,) = timer_rows(factory, item_id)
    assert timer.due_at == due_at and timer.fired_at is None

    for moment in (datetime(2026, 10, 1, 23, 59, 59, tzinfo=BEIJING), due_at - JUST):
        clock.travel_to(moment)
        assert run_sweep(factory, None).timers_fired == 0
    assert set(open_tasks(factory, item_id)) == {"draft"}

    clock.travel_to(due_at + timedelta(seconds=1))
    assert run_sweep(factory, None).timers_fired == 1
    assert run_sweep(factory, None).timers_fired == 0
    clock.advance(timedelta(days=3))
    assert run_sweep(factory, None).timers_fired == 0

    opened = open_tasks(factory, item_id)
    assert set(opened) == {"draft", "supervise"}  # non-interrupting: the draft stays open
    with unit_of_work(factory) as session:
        supervise = session.get(Task, opened["supervise"])
        assert (supervise.role, supervise.title) == ("leader", "领导督办")
        assert session.get(Item, item_id).current_step in ("draft,supervise", "supervise,draft")
    (timer,) = timer_rows(factory, item_id)
    assert timer.fired_at is not None and timer.fired_at > due_at
    assert audit_count(factory, item_id, "timer_fired") == 1

    # The leader's task and the draft both complete normally afterwards.
    with unit_of_work(factory) as session:
        tasks.complete(session, people["leader"], opened["supervise"], {"approved": True})
    assert set(open_tasks(factory, item_id)) == {"draft"}
    with unit_of_work(factory) as session:
        item = tasks.complete(
            session, people["drafter"], opened["draft"], {"draft": "经研究，答复意见如下。"}
        )
        assert item.status == "filed"
    assert run_sweep(factory, None).timers_fired == 0


def test_timer_of_a_finished_draft_never_fires(factory, people):
    deploy_letter(factory)
    item_id = assigned_letter(factory, people)
    assert len(timer_rows(factory, item_id)) == 1
    with unit_of_work(factory) as session:
        tasks.complete(
            session,
            people["drafter"],
            open_tasks(factory, item_id)["draft"],
            {
                "draft": "经研究，按时答复如下。",
            },
        )
    assert timer_rows(factory, item_id) == []
    clock.travel_to(datetime(2026, 10, 20, 10, tzinfo=BEIJING))
    assert run_sweep(factory, None).timers_fired == 0
    assert open_tasks(factory, item_id) == {}
    assert audit_count(factory, item_id, "timer_fired") == 0


@pytest.mark.parametrize("hour", [10, 23], ids=["morning", "late-evening"])
def test_duration_timer_counts_from_the_application_clock(factory, people, hour):
    """PT1H from the moment the draft opens, on the travelled clock, not the wall clock."""
    deploy_letter(factory, HOUR_TIMER)
    opened_at = ASSIGNED.replace(hour=hour)
    item_id = assigned_letter(factory, people, opened_at)
    (timer,) = timer_rows(factory, item_id)
    one_hour = opened_at + timedelta(hours=1)
    assert one_hour <= timer.due_at < one_hour + timedelta(minutes=1)
    clock.travel_to(timer.due_at - JUST)
    assert run_sweep(factory, None).timers_fired == 0
    clock.travel_to(timer.due_at + timedelta(seconds=1))
    assert run_sweep(factory, None).timers_fired == 1
    assert run_sweep(factory, None).timers_fired == 0
    assert set(open_tasks(factory, item_id)) == {"draft", "supervise"}


def test_a_timer_date_without_a_zone_is_business_time(factory, people):
    """`2026-10-09T09:00:00` in a diagram means 09:00 in Beijing, whatever the server's zone."""
    literal = '"2026-10-09T09:00:00"'
    deploy_letter(
        factory,
        f'<bpmn:timeDate xsi:type="bpmn:tFormalExpression">{literal}</bpmn:timeDate>',
    )
    item_id = assigned_letter(factory, people)
    (row,) = timer_rows(factory, item_id)
    assert row.due_at == datetime(2026, 10, 9, 9, 0, tzinfo=BEIJING)
