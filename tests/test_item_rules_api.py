"""Item kinds and the rules around the spine through the REST API (HTTP, test client)."""

from __future__ import annotations

from typing import Any

import pytest

from engine.db import unit_of_work
from engine.services import accounts
from tests.conftest import USERS
from tests.helpers import STEP_DATA
from tests.test_api import Api, assert_error
from tests.web_client import text

CASE = {
    "case_number": "（2026）京0105民初1234号",
    "case_stage": "trial",
    "department": "民一庭",
    "opinion": "请民一庭关注审理进展",
}


@pytest.fixture
def rest(app, people, factory) -> Api:
    with unit_of_work(factory) as session:
        tokens = {username: accounts.issue_token(session, username) for username in USERS}
    return Api(app.test_client(), tokens)


def tasks_named(rest: Api, item_id: int, name: str) -> list[dict[str, Any]]:
    return [t for t in rest.item(item_id)["open_tasks"] if t["name"] == name]


def complete(rest: Api, user: str, task: dict[str, Any], data: dict[str, Any]):
    return rest.post(user, f"/tasks/{task['id']}/complete", {"data": data})


def test_each_kind_gets_its_own_number_series_and_register_form(rest):
    numbers = {}
    for kind, deputies in [
        ("suggestion", ["张代表"]),
        ("letter", ["张代表"]),
        ("concern_case", ["张代表"]),
        ("petition", []),
        ("supervision", []),
    ]:
        item = rest.register(kind=kind, deputies=deputies)
        numbers[kind] = item["number"].split("-")[1]
        (register,) = item["open_tasks"]
        form = rest.ok(rest.get("registrar", f"/tasks/{register['id']}"))["form"]
        if kind == "concern_case":
            assert {"case_number", "case_stage"} <= set(form["properties"])
        if kind in ("petition", "supervision"):
            assert {"source_org", "source_reference"} <= set(form["properties"])
        assert form["properties"]["co_departments"]["items"]["enum"]  # the court's departments
    assert numbers == {
        "suggestion": "建",
        "letter": "信",
        "concern_case": "案",
        "petition": "访",
        "supervision": "督",
    }
    error = assert_error(rest.post("registrar", "/items", {**_letter(), "deputies": []}), 422)
    assert "deputies" in error["fields"]


def _letter() -> dict[str, Any]:
    return {"kind": "letter", "title": "来信", "content": "内容", "deputies": ["张代表"]}


def test_concern_case_records_its_case_number_and_is_found_by_it(rest):
    item = rest.register(kind="concern_case")
    (register,) = item["open_tasks"]
    bad = assert_error(complete(rest, "registrar", register, {**CASE, "case_number": "12"}), 422)
    assert "case_number" in bad["fields"]
    item = rest.ok(complete(rest, "registrar", register, CASE))
    assert (item["case_number"], item["case_stage"]) == (CASE["case_number"], "trial")
    found = rest.ok(rest.get("registrar", "/items", query_string={"q": "民初1234"}))
    assert [i["id"] for i in found["items"]] == [item["id"]]


def test_co_handling_through_the_api(rest):
    item = rest.register()
    (register,) = item["open_tasks"]
    data = {**STEP_DATA["register"], "co_departments": ["刑一庭"]}
    item = rest.ok(complete(rest, "registrar", register, data))
    assert item["co_departments"] == ["刑一庭"]
    assert sorted(t["name"] for t in item["open_tasks"]) == ["co_opinion", "draft"]
    (draft,) = tasks_named(rest, item["id"], "draft")
    (co,) = tasks_named(rest, item["id"], "co_opinion")
    assert co["department"] == "刑一庭"
    waiting = assert_error(complete(rest, "drafter", draft, STEP_DATA["draft"]), 409)
    assert "刑一庭" in waiting["message"]
    rest.ok(complete(rest, "drafter_other", co, {"opinion": "刑一庭同意主办意见"}))
    item = rest.item(item["id"])
    assert [(c["department"], c["status"], c["opinion"]) for c in item["co_opinions"]] == [
        ("刑一庭", "completed", "刑一庭同意主办意见")
    ]
    item = rest.ok(complete(rest, "drafter", draft, STEP_DATA["draft"]))
    assert [t["name"] for t in item["open_tasks"]] == ["leader_approve"]


def test_send_back_and_reroute_through_the_api(rest):
    item = rest.register()
    rest.step(item["id"], "register")
    (draft,) = tasks_named(rest, item["id"], "draft")
    missing = assert_error(complete(rest, "drafter", draft, {"action": "send_back"}), 422)
    assert {"send_back_reason", "suggested_department"} <= set(missing["fields"])
    sent = {
        "action": "send_back",
        "send_back_reason": "涉及刑事部分，非本庭职责",
        "suggested_department": "刑一庭",
    }
    item = rest.ok(complete(rest, "drafter", draft, sent))
    (reroute,) = item["open_tasks"]
    assert (reroute["name"], reroute["role"]) == ("reroute", "registrar")
    assert any(
        e["action"] == "sent_back" and e["comment"] == sent["send_back_reason"]
        for e in item["events"]
    )
    item = rest.ok(
        complete(rest, "registrar", reroute, {"department": "刑一庭", "opinion": "改交刑一庭"})
    )
    (draft,) = item["open_tasks"]
    assert (draft["name"], draft["department"], item["department"]) == ("draft", "刑一庭", "刑一庭")
    assert rest.get("drafter", f"/items/{item['id']}").status_code == 404
    assert rest.get("drafter_other", f"/items/{item['id']}").status_code == 200


def test_b_reply_needs_a_follow_up_date(rest):
    item = rest.register(kind="letter")
    rest.walk(item["id"], "register", "draft", "approve")
    (reply,) = tasks_named(rest, item["id"], "reply")
    body = {"reply_class": "C", "reply": "因条件限制，将在明年统筹解决。"}
    error = assert_error(complete(rest, "registrar", reply, body), 422)
    assert "follow_up_on" in error["fields"]
    item = rest.ok(complete(rest, "registrar", reply, {**body, "follow_up_on": "2099-01-04"}))
    assert item["reply_class"] == "C" and [t["name"] for t in item["open_tasks"]] == ["file"]


def test_filed_item_takes_correction_notes_not_edits(rest, browser):
    item = rest.register(kind="petition", deputies=[])
    (register,) = item["open_tasks"]
    petition = {
        "source_org": "市人大常委会信访室",
        "source_reference": "转〔2026〕1号",
        "department": "民一庭",
        "opinion": "请核查",
    }
    rest.ok(complete(rest, "registrar", register, petition))
    rest.walk(item["id"], "draft", "approve")
    (report,) = tasks_named(rest, item["id"], "report_back")
    rest.ok(complete(rest, "registrar", report, {"report": "经核查，已依法处理并报告常委会。"}))
    (file,) = tasks_named(rest, item["id"], "file")
    filed = rest.ok(complete(rest, "registrar", file, {"comment": "归档"}))
    assert filed["status"] == "filed"
    path = f"/items/{item['id']}/corrections"
    assert_error(rest.post("registrar", path, {"comment": ""}), 422)
    assert_error(rest.post("drafter", path, {"comment": "更正"}), 403)
    assert_error(rest.post("drafter_other", path, {"comment": "更正"}), 404)
    noted = rest.ok(rest.post("registrar", path, {"comment": "报告日期应为 11 月 3 日"}), 201)
    assert noted["events"][-1]["action"] == "corrected"
    assert noted["events"][-1]["comment"] == "报告日期应为 11 月 3 日"
    assert noted["status"] == "filed" and noted["source_reference"] == "转〔2026〕1号"
    leader = browser("leader")
    page = leader.get(f"/items/{item['id']}")
    assert 'data-testid="correction-form"' in page
    response = leader.submit(f"/items/{item['id']}/corrections", {"comment": "补充：已电话告知"})
    assert response.status_code == 303
    refused = leader.submit(f"/items/{item['id']}/corrections", {"comment": "x"})
    assert refused.status_code == 422 and 'data-field-error="comment"' in text(refused)
    assert "补充：已电话告知" in leader.get(f"/items/{item['id']}")
    assert leader.client.post(
        f"/items/{item['id']}/corrections", data={"comment": "无 CSRF"}
    ).status_code in (400, 403)


def test_a_petition_may_leave_out_deputies_altogether(rest):
    body = {"kind": "petition", "title": "转办件", "content": "内容"}
    assert rest.ok(rest.post("registrar", "/items", body), 201)["deputies"] == []
    error = assert_error(rest.post("registrar", "/items", {**body, "kind": "letter"}), 422)
    assert "deputies" in error["fields"]


def test_item_list_filters_by_kind(rest, browser):
    rest.register(kind="petition", deputies=[], title="转办的信访件")
    rest.register(kind="letter", title="代表的来信")
    page = browser("registrar").get("/items?kind=petition")
    assert "转办的信访件" in page and "代表的来信" not in page
    assert 'data-testid="kind-filter"' in page and "转办信访件" in page


def test_deputy_page_lists_meetings_and_ratings_as_the_liaison_ledger(rest, browser, factory):
    item = rest.register(kind="letter", deputies=["王代表"])
    rest.ok(
        rest.post(
            "registrar",
            f"/items/{item['id']}/meetings",
            {"met_on": "2026-11-02", "method": "in_person", "notes": "当面听取意见"},
        ),
        201,
    )
    deputy_id = item["deputies"][0]["id"]
    page = browser("registrar").get(f"/deputies/{deputy_id}")
    assert 'data-testid="deputy-contacts"' in page
    assert "2026-11-02" in page and "当面听取意见" in page and item["number"] in page
    assert "当面听取意见" not in browser("drafter_other").client.get(
        f"/deputies/{deputy_id}"
    ).get_data(as_text=True)
