"""Meeting the deputy before the reply (见面) and deadline extensions (延期), on every database.

Through the engine services, the REST API and the server-rendered item page. The clock
stands on Monday 2026-03-02 in Beijing: a suggestion assigned that day is due three
Civil-Code months later and may be extended to six months after assignment at most.
"""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from engine import clock
from engine.db import unit_of_work
from engine.errors import Conflict, Forbidden, InvalidData, NotFound
from engine.models import AuditEvent, Deputy, Extension, Item, OutboxMail, Task
from engine.services import accounts, extensions, items, meetings, rehandling, tasks
from engine.services.scheduling import calendar
from tests.conftest import USERS
from tests.helpers import STEP_DATA, complete
from tests.test_api import Api, assert_error
from tests.web_client import text

BEIJING = ZoneInfo("Asia/Shanghai")
START = datetime(2026, 3, 2, 10, 0, tzinfo=BEIJING)  # a Monday
TODAY = START.date().isoformat()
REPLY = STEP_DATA["reply"]


@pytest.fixture(autouse=True)
def _monday(factory):
    clock.travel_to(START)


@pytest.fixture
def api(app, people, factory) -> Api:
    with unit_of_work(factory) as session:
        tokens = {username: accounts.issue_token(session, username) for username in USERS}
    return Api(app.test_client(), tokens)


def new_item(factory, people, kind: str = "suggestion", deputies=("张代表", "李代表")) -> int:
    with unit_of_work(factory) as session:
        item = items.register(
            session,
            people["registrar"],
            items.NewItem(
                kind=kind, title="关于加强诉前调解的建议", content="内容", deputies=list(deputies)
            ),
        )
        return item.id


def assigned(factory, people, **kwargs) -> int:
    """A suggestion assigned to 民一庭 today (at its draft step, with a deadline)."""
    item_id = new_item(factory, people, **kwargs)
    complete(factory, people["registrar"], item_id, "register")
    return item_id


def at_reply(factory, people, kind: str = "suggestion") -> int:
    item_id = new_item(factory, people, kind)
    for user, name in [("registrar", "register"), ("drafter", "draft"), ("leader", "approve")]:
        complete(factory, people[user], item_id, name)
    return item_id


def reply_task(factory, item_id: int) -> Task:
    with unit_of_work(factory) as session:
        task = session.scalar(select(Task).where(Task.item_id == item_id, Task.status == "open"))
    assert task is not None and task.bpmn_id == "reply"
    return task


def reply(factory, user, item_id: int) -> Item:
    with unit_of_work(factory) as session:
        return tasks.complete(session, user, reply_task(factory, item_id).id, REPLY)


def item_row(factory, item_id: int) -> Item:
    with unit_of_work(factory) as session:
        return session.get(Item, item_id)


def due_on(factory, item_id: int) -> date:
    return item_row(factory, item_id).due_at.astimezone(BEIJING).date()


def events(factory, item_id: int) -> list[AuditEvent]:
    with unit_of_work(factory) as session:
        return list(
            session.scalars(
                select(AuditEvent).where(AuditEvent.item_id == item_id).order_by(AuditEvent.id)
            )
        )


def cap_of(factory, item_id: int) -> date:
    """Six Civil-Code months after the assignment day (rolled forward off a rest day)."""
    with unit_of_work(factory) as session:
        assigned_on = session.get(Item, item_id).assigned_at.astimezone(BEIJING).date()
        return calendar(session).add_months(assigned_on, 6).day


# --- meetings: the engine ---------------------------------------------------------------------


def test_a_suggestion_is_answered_only_after_a_recorded_meeting(factory, people):
    item_id = at_reply(factory, people)
    with pytest.raises(InvalidData) as refused:
        reply(factory, people["registrar"], item_id)
    assert "meeting" in refused.value.fields and "见面" in refused.value.message
    assert reply_task(factory, item_id).status == "open"  # nothing changed

    with unit_of_work(factory) as session:
        deputy_id = session.get(Item, item_id).deputies[0].id
        assert meetings.status(session, session.get(Item, item_id)) == "needed"
        meetings.record(
            session, people["drafter"], item_id, TODAY, "in_person", "当面沟通", deputy_id
        )
    item = reply(factory, people["registrar"], item_id)
    assert item.replied_at is not None
    with unit_of_work(factory) as session:
        item = session.get(Item, item_id)
        (meeting,) = meetings.for_item(session, item)
        assert (meeting.method, meeting.round, meeting.deputy_id) == ("in_person", 1, deputy_id)
        assert meetings.status(session, item) == "met"
    assert "meeting_recorded" in [e.action for e in events(factory, item_id)]


def test_a_leaders_waiver_lets_the_reply_through_and_others_cannot_waive(factory, people):
    item_id = at_reply(factory, people)
    for username in ("registrar", "drafter", "head", "admin"):
        with unit_of_work(factory) as session, pytest.raises(Forbidden):
            meetings.waive(session, people[username], item_id, "代表在外地学习")
    with unit_of_work(factory) as session, pytest.raises(InvalidData) as short:
        meetings.waive(session, people["leader"], item_id, " ")
    assert "reason" in short.value.fields
    with unit_of_work(factory) as session:
        meetings.waive(session, people["leader"], item_id, "代表在外地学习，已书面征求意见")
    assert item_row(factory, item_id).meeting_waived
    reply(factory, people["registrar"], item_id)
    waived = [e for e in events(factory, item_id) if e.action == "meeting_waived"]
    assert [e.comment for e in waived] == ["代表在外地学习，已书面征求意见"]


def test_letters_need_no_meeting(factory, people):
    item_id = at_reply(factory, people, kind="letter")
    with unit_of_work(factory) as session:
        assert meetings.status(session, session.get(Item, item_id)) == "not_required"
    assert reply(factory, people["registrar"], item_id).replied_at is not None


def test_meeting_input_is_checked_and_scoped(factory, people):
    item_id = at_reply(factory, people)
    tomorrow = (START + timedelta(days=1)).date().isoformat()
    with unit_of_work(factory) as session, pytest.raises(InvalidData) as bad:
        meetings.record(session, people["registrar"], item_id, tomorrow, "fax", "x", 999_999)
    assert set(bad.value.fields) == {"met_on", "method", "notes", "deputy_id"}
    with unit_of_work(factory) as session, pytest.raises(InvalidData) as bad:
        meetings.record(session, people["registrar"], item_id, "2026/03/01", ["phone"], None)
    assert set(bad.value.fields) == {"met_on", "method", "notes"}
    for username in ("drafter_other", "designer"):  # cannot see the 民一庭 item
        with unit_of_work(factory) as session, pytest.raises(NotFound):
            meetings.record(session, people[username], item_id, TODAY, "phone", "电话沟通")


# --- meetings: the API ------------------------------------------------------------------------


def test_meetings_over_the_api(api, factory, people):
    item_id = at_reply(factory, people)
    task = api.open_task(item_id, "reply")
    refused = assert_error(
        api.post("registrar", f"/tasks/{task['id']}/complete", {"data": REPLY}), 422, "invalid"
    )
    assert "meeting" in refused["fields"]
    listing = api.ok(api.get("registrar", f"/items/{item_id}/meetings"))
    assert listing == {"items": [], "round": 1, "meeting_status": "needed", "meeting_waived": False}

    bad = assert_error(
        api.post("registrar", f"/items/{item_id}/meetings", {"met_on": "soon", "method": "x"}),
        422,
    )
    assert set(bad["fields"]) == {"met_on", "method", "notes"}
    assert_error(api.post("registrar", f"/items/{item_id}/meetings", ["not", "an", "object"]), 400)
    body = {"met_on": TODAY, "method": "video", "notes": "视频连线沟通"}
    assert_error(api.post("drafter_other", f"/items/{item_id}/meetings", body), 404)
    assert_error(api.post("designer", f"/items/{item_id}/meetings", body), 404)
    meeting = api.ok(api.post("drafter", f"/items/{item_id}/meetings", body), 201)
    assert meeting["method"] == "video" and meeting["met_on"] == TODAY
    assert meeting["deputy_id"] is None and meeting["recorded_by"] == "drafter"
    listing = api.ok(api.get("leader", f"/items/{item_id}/meetings"))
    assert listing["meeting_status"] == "met" and [m["id"] for m in listing["items"]] == [
        meeting["id"]
    ]
    done = api.ok(api.post("registrar", f"/tasks/{task['id']}/complete", {"data": REPLY}))
    assert done["open_tasks"][0]["name"] == "file"
    assert (done["round"], done["meeting_waived"]) == (1, False)
    assert_error(api.get("drafter_other", f"/items/{item_id}/meetings"), 404)


def test_meeting_waiver_over_the_api(api, factory, people):
    item_id = at_reply(factory, people)
    for username in ("registrar", "drafter", "head"):
        assert_error(
            api.post(username, f"/items/{item_id}/meeting-waiver", {"reason": "代表出差"}), 403
        )
    assert_error(
        api.post("drafter_other", f"/items/{item_id}/meeting-waiver", {"reason": "x"}), 404
    )
    invalid = assert_error(api.post("leader", f"/items/{item_id}/meeting-waiver", {}), 422)
    assert "reason" in invalid["fields"]
    waived = api.ok(api.post("leader", f"/items/{item_id}/meeting-waiver", {"reason": "代表出差"}))
    assert waived["meeting_status"] == "waived" and waived["meeting_waived"] is True
    api.step(item_id, "reply")  # no meeting recorded: the waiver is enough
    assert api.item(item_id)["meeting_waived"] is True


def test_a_filed_item_takes_no_meeting(api, factory, people):
    item_id = at_reply(factory, people, kind="letter")
    api.walk(item_id, "reply", "file")
    body = {"met_on": TODAY, "method": "phone", "notes": "电话沟通"}
    assert_error(api.post("registrar", f"/items/{item_id}/meetings", body), 409, "conflict")
    assert_error(api.post("leader", f"/items/{item_id}/meeting-waiver", {"reason": "理由"}), 409)


# --- extensions: the engine -------------------------------------------------------------------


def test_an_approved_extension_moves_the_deadline_and_restarts_escalation(factory, people):
    item_id = assigned(factory, people)
    before = item_row(factory, item_id)
    old_due_on = before.due_at.astimezone(BEIJING).date()
    wanted = old_due_on + timedelta(days=30)
    with unit_of_work(factory) as session:
        session.get(Item, item_id).escalation_level = 2  # as if it had been chased already
    with unit_of_work(factory) as session:
        extension = extensions.request(
            session, people["drafter"], item_id, "需调取外地卷宗", wanted.isoformat()
        )
        extension_id = extension.id
    assert due_on(factory, item_id) == old_due_on  # nothing moves before the decision
    with unit_of_work(factory) as session:
        decided = extensions.decide(session, people["leader"], extension_id, True, "同意")
        assert decided.status == "approved" and decided.previous_due_at == before.due_at
    item = item_row(factory, item_id)
    assert item.due_at.astimezone(BEIJING).date() == wanted
    assert item.due_at.astimezone(BEIJING).time().hour == 23  # the end of the new last day
    assert item.escalation_level == 0 and item.remind_at < item.due_at < item.supervise_at
    actions = [e.action for e in events(factory, item_id)]
    assert actions[-3:] == [
        "extension_requested",
        "extension_approved",
        "deputies_notified_of_extension",
    ]
    with unit_of_work(factory) as session, pytest.raises(Conflict):
        extensions.decide(session, people["leader"], extension_id, False, "再议")


def test_a_refused_extension_keeps_the_deadline(factory, people):
    item_id = assigned(factory, people)
    old = item_row(factory, item_id).due_at
    with unit_of_work(factory) as session:
        extension_id = extensions.request(
            session, people["registrar"], item_id, "部门申请", (old + timedelta(days=10)).date()
        ).id
    with unit_of_work(factory) as session, pytest.raises(InvalidData) as silent:
        extensions.decide(session, people["president"], extension_id, False, "")
    assert "comment" in silent.value.fields
    with unit_of_work(factory) as session:
        refused = extensions.decide(session, people["president"], extension_id, False, "理由不足")
        assert (refused.status, refused.decision_comment) == ("refused", "理由不足")
        assert refused.previous_due_at is None
    assert item_row(factory, item_id).due_at == old
    with unit_of_work(factory) as session:
        assert session.scalar(select(OutboxMail.id)) is None  # nothing to tell the deputies
    assert events(factory, item_id)[-1].action == "extension_refused"


def test_a_suggestion_is_extended_to_six_months_after_assignment_at_most(factory, people):
    item_id = assigned(factory, people)
    cap = cap_of(factory, item_id)
    assert cap == date(2026, 9, 2)
    with unit_of_work(factory) as session, pytest.raises(InvalidData) as late:
        extensions.request(
            session, people["drafter"], item_id, "案情复杂", (cap + timedelta(days=1)).isoformat()
        )
    assert cap.isoformat() in late.value.fields["requested_due_on"]
    with unit_of_work(factory) as session:
        extensions.request(session, people["drafter"], item_id, "案情复杂", cap.isoformat())
    assert extensions.MAX_MONTHS_AFTER_ASSIGNMENT == {"suggestion": 6}


def test_a_re_handled_round_counts_its_cap_from_the_day_it_started(factory, people):
    item_id = assigned(factory, people)
    clock.travel_to(datetime(2026, 10, 12, 10, 0, tzinfo=BEIJING))  # past the first cap
    with unit_of_work(factory) as session:
        rehandling.rehandle(session, session.get(Item, item_id), None, "代表不满意")
    with unit_of_work(factory) as session:
        cap = calendar(session).add_months(date(2026, 10, 12), 6).day
        assert extensions.latest_due_on(session, session.get(Item, item_id)) == cap
        extensions.request(session, people["drafter"], item_id, "重新办理需时", cap.isoformat())


def test_extension_requests_are_checked(factory, people):
    item_id = assigned(factory, people)
    current = due_on(factory, item_id)
    cases = [
        ("原因", current.isoformat(), "requested_due_on"),  # not after the current deadline
        ("原因", "2026-13-01", "requested_due_on"),
        ("原因", None, "requested_due_on"),
        ("x", (current + timedelta(days=5)).isoformat(), "reason"),
    ]
    for reason, day, field in cases:
        with unit_of_work(factory) as session, pytest.raises(InvalidData) as bad:
            extensions.request(session, people["drafter"], item_id, reason, day)
        assert set(bad.value.fields) == {field}, (reason, day)
    # Only the lead department's drafters and head, and registrars, may ask.
    for username in ("leader", "president", "admin"):
        with unit_of_work(factory) as session, pytest.raises(Forbidden):
            extensions.request(session, people[username], item_id, "原因", "2026-07-01")
    for username in ("drafter_other", "designer"):
        with unit_of_work(factory) as session, pytest.raises(NotFound):
            extensions.request(session, people[username], item_id, "原因", "2026-07-01")


def test_only_one_request_waits_per_item(factory, people):
    item_id = assigned(factory, people)
    with unit_of_work(factory) as session:
        first = extensions.request(session, people["head"], item_id, "原因一", "2026-07-01").id
    with unit_of_work(factory) as session, pytest.raises(Conflict):
        extensions.request(session, people["drafter"], item_id, "原因二", "2026-07-10")
    with unit_of_work(factory) as session:
        extensions.decide(session, people["leader"], first, False, "不同意")
    with unit_of_work(factory) as session:  # decided: a new request may be made
        extensions.request(session, people["drafter"], item_id, "原因二", "2026-07-10")
    with unit_of_work(factory) as session:
        assert [e.status for e in extensions.pending(session, people["leader"])] == ["pending"]
        assert extensions.pending(session, people["registrar"]) == []


def test_approval_tells_the_deputies_by_mail_or_lists_them_for_a_call(factory, people, monkeypatch):
    monkeypatch.setenv("LIAISON_SMTP_URL", "smtp://mail.example.org:25")
    item_id = assigned(factory, people, deputies=("张代表", "李代表"))
    with unit_of_work(factory) as session:
        zhang = session.scalar(select(Deputy).where(Deputy.name == "张代表"))
        zhang.email = "zhang@example.org"
    with unit_of_work(factory) as session:
        extension_id = extensions.request(
            session, people["drafter"], item_id, "需实地调研", "2026-07-15"
        ).id
        extensions.decide(session, people["leader"], extension_id, True, None)
    with unit_of_work(factory) as session:
        (mail,) = session.scalars(select(OutboxMail)).all()
        number = session.get(Item, item_id).number
    assert mail.to_address == "zhang@example.org"
    assert number in mail.subject and "延期" in mail.subject
    assert "关于加强诉前调解的建议" in mail.body and "2026-07-15" in mail.body
    assert mail.body.startswith("尊敬的张代表代表") and mail.sent_at is None
    told = events(factory, item_id)[-1]
    assert told.action == "deputies_notified_of_extension"
    assert "zhang@example.org" in told.comment
    assert "无邮箱" in told.comment and "李代表" in told.comment.split("无邮箱")[1]


def test_without_mail_every_deputy_is_listed_for_a_call_or_letter(factory, people, monkeypatch):
    monkeypatch.delenv("LIAISON_SMTP_URL", raising=False)
    item_id = assigned(factory, people, deputies=("张代表",))
    with unit_of_work(factory) as session:
        session.scalar(select(Deputy).where(Deputy.name == "张代表")).email = "zhang@example.org"
        extension_id = extensions.request(
            session, people["drafter"], item_id, "原因", "2026-07-15"
        ).id
    with unit_of_work(factory) as session:
        extensions.decide(session, people["leader"], extension_id, True, None)
        assert session.scalar(select(OutboxMail.id)) is None
    told = events(factory, item_id)[-1]
    assert told.comment == "邮件未开启，请电话或书面告知：张代表"


def test_extensions_cannot_be_asked_for_answered_or_filed_items(factory, people):
    item_id = at_reply(factory, people, kind="letter")
    complete(factory, people["registrar"], item_id, "reply")
    with unit_of_work(factory) as session, pytest.raises(Conflict):
        extensions.request(session, people["registrar"], item_id, "原因", "2026-12-01")
    complete(factory, people["registrar"], item_id, "file")
    with unit_of_work(factory) as session, pytest.raises(Conflict, match="归档"):
        extensions.request(session, people["registrar"], item_id, "原因", "2026-12-01")


# --- extensions: the API ----------------------------------------------------------------------


def test_extensions_over_the_api(api, factory, people):
    item_id = assigned(factory, people)
    old = api.item(item_id)["due_at"]
    path = f"/items/{item_id}/extensions"
    body = {"reason": "需调取外地卷宗", "requested_due_on": "2026-07-20"}
    assert_error(api.post("drafter_other", path, body), 404, "not_found")
    assert_error(api.get("drafter_other", path), 404)
    assert_error(api.post("leader", path, body), 403, "forbidden")
    late = assert_error(api.post("drafter", path, {**body, "requested_due_on": "2026-09-03"}), 422)
    assert "2026-09-02" in late["fields"]["requested_due_on"]
    created = api.ok(api.post("drafter", path, body), 201)
    assert created["status"] == "pending" and created["requested_due_on"] == "2026-07-20"
    assert created["requested_by"] == "drafter" and created["item_id"] == item_id
    assert_error(api.post("head", path, {**body, "requested_due_on": "2026-07-25"}), 409)

    queue = api.ok(api.get("leader", "/extensions?status=pending"))
    assert set(queue) == {"items", "total", "page", "per_page"}
    assert queue["total"] == 1 and queue["items"][0]["id"] == created["id"]
    assert api.ok(api.get("drafter_other", "/extensions"))["total"] == 0
    assert api.ok(api.get("drafter", "/extensions?status=approved"))["total"] == 0
    assert_error(api.get("leader", "/extensions?status=bogus"), 422)

    decide = f"/extensions/{created['id']}/decide"
    assert_error(api.post("registrar", decide, {"approve": True}), 403)
    assert_error(api.post("drafter_other", decide, {"approve": True}), 404)
    assert_error(api.post("leader", "/extensions/999999/decide", {"approve": True}), 404)
    assert "approve" in assert_error(api.post("leader", decide, {"approve": "yes"}), 422)["fields"]
    assert "comment" in assert_error(api.post("leader", decide, {"approve": False}), 422)["fields"]
    approved = api.ok(api.post("leader", decide, {"approve": True, "comment": "同意延期"}))
    assert approved["status"] == "approved" and approved["previous_due_at"] == old
    assert approved["decided_by"] == "leader" and approved["decision_comment"] == "同意延期"
    item = api.item(item_id)
    assert datetime.fromisoformat(item["due_at"]).astimezone(BEIJING).date() == date(2026, 7, 20)
    assert [e["action"] for e in item["events"]][-2:] == [
        "extension_approved",
        "deputies_notified_of_extension",
    ]
    assert_error(api.post("leader", decide, {"approve": True}), 409, "conflict")
    listing = api.ok(api.get("drafter", path))["items"]
    assert [e["status"] for e in listing] == ["approved"]
    assert api.ok(api.get("leader", "/extensions?status=pending"))["total"] == 0


def test_openapi_schemas_describe_meeting_and_extension_responses(api, factory, people):
    from jsonschema import Draft202012Validator

    document = api.ok(api.get(None, "/openapi.json"))

    def check(name: str, instance) -> None:
        schema = {**document, "$ref": f"#/components/schemas/{name}"}
        errors = list(Draft202012Validator(schema).iter_errors(instance))
        assert not errors, [e.message for e in errors]

    item_id = assigned(factory, people)
    meeting = {"met_on": TODAY, "method": "forum", "notes": "座谈会上沟通"}
    check("Meeting", api.ok(api.post("registrar", f"/items/{item_id}/meetings", meeting), 201))
    check("Meetings", api.ok(api.get("registrar", f"/items/{item_id}/meetings")))
    body = {"reason": "原因", "requested_due_on": "2026-07-01"}
    created = api.ok(api.post("registrar", f"/items/{item_id}/extensions", body), 201)
    check("Extension", created)
    decide = f"/extensions/{created['id']}/decide"
    check("Extension", api.ok(api.post("leader", decide, {"approve": True})))
    check("Item", api.item(item_id))


# --- the item page ----------------------------------------------------------------------------


def field_errors(page: str) -> dict[str, str]:
    return dict(re.findall(r'data-field-error="([^"]+)"[^>]*>([^<]*)<', page))


def test_item_page_meeting_forms(browser, factory, people):
    item_id = at_reply(factory, people)
    registrar, leader = browser("registrar"), browser("leader")
    page = registrar.get(f"/items/{item_id}")
    assert 'data-testid="meeting-needed"' in page and 'data-testid="meeting-form"' in page
    assert 'data-testid="waiver-form"' not in page  # registrars do not waive
    assert 'data-testid="waiver-form"' in leader.get(f"/items/{item_id}")

    url = f"/items/{item_id}/meetings"
    form = {"met_on": TODAY, "method": "phone", "notes": "电话沟通办理情况"}
    assert registrar.submit(url, form, csrf=False).status_code == 400
    refused = registrar.submit(url, {**form, "notes": "", "method": "telegram"})
    assert refused.status_code == 422
    assert set(field_errors(text(refused))) >= {"notes", "method"}
    assert (
        "telegram" not in text(refused).split('data-testid="meeting-form"')[1].split("</form>")[0]
    )
    done = registrar.submit(url, form)
    assert done.status_code == 303 and done.headers["Location"].startswith(f"/items/{item_id}")
    page = registrar.get(f"/items/{item_id}")
    assert "已登记见面情况" in page and 'data-testid="meeting-met"' in page
    assert "电话沟通办理情况" in page
    with unit_of_work(factory) as session:
        assert meetings.has_met(session, session.get(Item, item_id))
    # Another department's drafter neither sees the item nor records on it.
    assert browser("drafter_other").submit(url, form).status_code == 404


def test_item_page_waiver_form(browser, factory, people):
    item_id = at_reply(factory, people)
    leader = browser("leader")
    url = f"/items/{item_id}/meeting-waiver"
    assert leader.submit(url, {"reason": "代表出国"}, csrf=False).status_code == 400
    assert browser("registrar").submit(url, {"reason": "代表出国"}).status_code == 403
    refused = leader.submit(url, {"reason": ""})
    assert refused.status_code == 422 and "reason" in field_errors(text(refused))
    assert leader.submit(url, {"reason": "代表出国"}).status_code == 303
    page = leader.get(f"/items/{item_id}")
    assert 'data-testid="meeting-waived"' in page and "已批准免于见面" in page


def test_item_page_extension_forms_and_the_leaders_inbox(browser, factory, people):
    item_id = assigned(factory, people)
    drafter, leader = browser("drafter"), browser("leader")
    page = drafter.get(f"/items/{item_id}")
    assert 'data-testid="extension-form"' in page and "2026-09-02" in page  # the latest day
    browser("drafter_other").get(f"/items/{item_id}", 404)
    assert 'data-testid="extension-form"' not in browser("leader").get(f"/items/{item_id}")

    url = f"/items/{item_id}/extensions"
    form = {"reason": "需调取外地卷宗", "requested_due_on": "2026-07-20"}
    assert drafter.submit(url, form, csrf=False).status_code == 400
    refused = drafter.submit(url, {**form, "requested_due_on": "2026-10-01"})
    assert refused.status_code == 422
    assert "2026-09-02" in field_errors(text(refused))["requested_due_on"]
    assert drafter.submit(url, form).status_code == 303
    page = drafter.get(f"/items/{item_id}")
    assert 'data-status="pending"' in page and 'data-testid="extension-form"' not in page
    assert 'data-testid="decide-form"' not in page  # drafters do not decide
    assert browser("drafter_other").submit(url, form).status_code == 404

    inbox = leader.get("/inbox")
    assert 'data-testid="pending-extensions"' in inbox and f"/items/{item_id}#extensions" in inbox
    assert 'data-testid="pending-extensions"' not in drafter.get("/inbox")
    with unit_of_work(factory) as session:
        extension_id = session.scalar(select(Extension.id))
    decide = f"/extensions/{extension_id}/decide"
    assert leader.submit(decide, {"decision": "approve"}, csrf=False).status_code == 400
    assert drafter.submit(decide, {"decision": "approve"}).status_code == 403
    silent = leader.submit(decide, {"decision": "refuse", "comment": ""})
    assert silent.status_code == 422 and "comment" in field_errors(text(silent))
    assert leader.submit(decide, {"decision": "maybe"}).status_code == 422
    approved = leader.submit(decide, {"decision": "approve", "comment": "同意"})
    assert approved.status_code == 303
    page = leader.get(f"/items/{item_id}")
    assert "办理期限延至 2026-07-20" in page and 'data-status="approved"' in page
    assert due_on(factory, item_id) == date(2026, 7, 20)
    assert 'data-testid="pending-extensions"' not in leader.get("/inbox")
    # Deciding again is explained, not an error page.
    again = leader.submit(decide, {"decision": "approve"})
    assert again.status_code == 303
    assert "已审批" in leader.get(f"/items/{item_id}")
