"""REST API v1 through HTTP (Flask test client), on every configured database.

Covers the contract in DESIGN.md part A: the suggestion flow, response shapes, every
error status with its JSON shape, visibility, assignment, the OpenAPI document and
browser-session use of the API (CSRF).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import pytest
from flask.testing import FlaskClient
from jsonschema import Draft202012Validator

from engine import clock
from engine.db import unit_of_work
from engine.services import accounts
from tests.conftest import PASSWORD, USERS
from tests.helpers import STEP_DATA
from web import MAX_REQUEST_BYTES

API = "/api/v1"
ITEM_FIELDS = {"id", "number", "kind", "title", "status", "due_at", "process", "open_tasks"}
ITEM_FIELDS |= {"events"}
TASK_FIELDS = {"id", "item_id", "name", "title", "role", "department", "assignee"}
TASK_FIELDS |= {"created_at", "due_at"}
EVENT_FIELDS = {"at", "actor", "action", "task", "comment"}
PAGE_FIELDS = {"items", "total", "page", "per_page"}
NEW_ITEM = {
    "kind": "suggestion",
    "title": "关于加强诉前调解的建议",
    "content": "建议在基层法庭设立调解室。",
    "deputies": ["张代表", "李代表"],
}
# Which user does each step of the suggestion workflow, and with which STEP_DATA.
STEP_USERS = {
    "register": "registrar",
    "draft": "drafter",
    "approve": "leader",
    "reject": "leader",
    "reply": "registrar",
    "file": "registrar",
}
STEP_TASKS = {"approve": "leader_approve", "reject": "leader_approve"}


# --- helpers -----------------------------------------------------------------------------


@dataclass
class Api:
    """A test client that speaks to /api/v1 as one of the test court's users."""

    client: FlaskClient
    tokens: dict[str, str]

    def call(self, method: str, user: str | None, path: str, **kwargs):
        headers = dict(kwargs.pop("headers", {}))
        if user is not None:
            headers["Authorization"] = f"Bearer {self.tokens[user]}"
        return self.client.open(API + path, method=method, headers=headers, **kwargs)

    def get(self, user: str | None, path: str, **kwargs):
        return self.call("GET", user, path, **kwargs)

    def post(self, user: str | None, path: str, body: Any = None, **kwargs):
        if body is not None:
            kwargs["json"] = body
        return self.call("POST", user, path, **kwargs)

    def ok(self, response, status: int = 200) -> dict[str, Any]:
        assert response.status_code == status, response.get_data(as_text=True)
        assert response.is_json
        return response.get_json()

    def item(self, item_id: int, user: str = "registrar") -> dict[str, Any]:
        return self.ok(self.get(user, f"/items/{item_id}"))

    def register(self, user: str = "registrar", **overrides) -> dict[str, Any]:
        return self.ok(self.post(user, "/items", {**NEW_ITEM, **overrides}), 201)

    def open_task(self, item_id: int, name: str | None = None) -> dict[str, Any]:
        """The item's single open task (checked against `name` when given)."""
        open_tasks = self.item(item_id)["open_tasks"]
        assert len(open_tasks) == 1, open_tasks
        if name is not None:
            assert open_tasks[0]["name"] == name
        return open_tasks[0]

    def step(self, item_id: int, step: str, user: str | None = None) -> dict[str, Any]:
        """Complete the item's open task with the canned data for `step`.

        A suggestion is answered only after meeting the deputy: before `reply` the
        registrar records a phone call through the API unless one is recorded.
        """
        task = self.open_task(item_id, STEP_TASKS.get(step, step))
        if step == "reply":
            self.meet(item_id)
        body = {"data": STEP_DATA[step]}
        return self.ok(self.post(user or STEP_USERS[step], f"/tasks/{task['id']}/complete", body))

    def meet(self, item_id: int, user: str = "registrar") -> None:
        """Record a meeting for the item's current round when it still needs one."""
        meetings = self.ok(self.get(user, f"/items/{item_id}/meetings"))
        if meetings["meeting_status"] == "needed":
            today = clock.local_now().date().isoformat()
            body = {"met_on": today, "method": "phone", "notes": "电话沟通办理情况"}
            self.ok(self.post(user, f"/items/{item_id}/meetings", body), 201)

    def walk(self, item_id: int, *steps: str) -> dict[str, Any]:
        result: dict[str, Any] = {}
        for step in steps:
            result = self.step(item_id, step)
        return result


@pytest.fixture
def api(app, people, factory) -> Api:
    with unit_of_work(factory) as session:
        tokens = {username: accounts.issue_token(session, username) for username in USERS}
    return Api(app.test_client(), tokens)


@pytest.fixture
def drafting(api) -> tuple[int, dict[str, Any]]:
    """A registered item at its `draft` step (民一庭): (item id, the open draft task)."""
    item_id = api.register()["id"]
    api.step(item_id, "register")
    return item_id, api.open_task(item_id, "draft")


def assert_error(response, status: int, code: str | None = None) -> dict[str, Any]:
    """The response is the contract's JSON error; returns the inner `error` object."""
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.is_json, response.get_data(as_text=True)[:200]
    body = response.get_json()
    assert set(body) == {"error"}
    error = body["error"]
    assert set(error) <= {"code", "message", "fields"}
    assert isinstance(error["code"], str) and error["code"]
    assert isinstance(error["message"], str) and error["message"]
    if code is not None:
        assert error["code"] == code
    if "fields" in error:
        assert isinstance(error["fields"], dict) and error["fields"]
        assert all(isinstance(v, str) for v in error["fields"].values())
    return error


def assert_invalid(response, *fields: str) -> dict[str, str]:
    """A 422 whose `fields` names exactly `fields`."""
    error = assert_error(response, 422, "invalid")
    assert set(error.get("fields", {})) == set(fields), error
    return error["fields"]


@contextmanager
def unchanged(api: Api, item_id: int) -> Iterator[None]:
    """The item (status, open tasks, assignees, audit trail) is the same afterwards."""
    before = api.item(item_id)
    yield
    assert api.item(item_id) == before


def csrf_token(html: str) -> str:
    match = re.search(r'<meta name="csrf-token" content="([^"]+)"', html)
    assert match, "page has no csrf-token meta tag"
    return match.group(1)


def browser_login(client: FlaskClient, username: str) -> str:
    """Sign in through the /login form; returns the session's CSRF token."""
    token = csrf_token(client.get("/login").get_data(as_text=True))
    response = client.post(
        "/login", data={"username": username, "password": PASSWORD, "csrf_token": token}
    )
    assert response.status_code == 302, response.get_data(as_text=True)
    return csrf_token(client.get("/inbox").get_data(as_text=True))


# --- the whole flow ----------------------------------------------------------------------


def test_suggestion_flow_with_rejection_through_the_api(api):
    created = api.register()
    assert set(created) >= ITEM_FIELDS
    assert created["kind"] == "suggestion" and created["status"] == "open"
    assert re.fullmatch(r"\d{4}-建-0001", created["number"])
    assert created["process"] == {"key": "suggestion", "version": 1}
    assert [d["name"] for d in created["deputies"]] == ["张代表", "李代表"]
    assert [e["action"] for e in created["events"]] == ["registered"]
    item_id = created["id"]

    register = api.open_task(item_id, "register")
    assert set(register) >= TASK_FIELDS
    assert (register["role"], register["assignee"]) == ("registrar", "registrar")
    assert register["item_id"] == item_id

    api.step(item_id, "register")
    assert api.item(item_id)["department"] == "民一庭"
    draft = api.open_task(item_id, "draft")
    assert (draft["role"], draft["department"], draft["assignee"]) == ("drafter", "民一庭", None)

    api.step(item_id, "draft")
    assert api.open_task(item_id, "leader_approve")["role"] == "leader"
    rejected = api.step(item_id, "reject")
    assert [t["name"] for t in rejected["open_tasks"]] == ["draft"]
    rejection = rejected["events"][-1]
    assert rejection["action"] == "completed" and rejection["task"] == "leader_approve"
    assert (rejection["actor"], rejection["comment"]) == ("leader", "请补充具体措施")

    api.walk(item_id, "draft", "approve")
    api.open_task(item_id, "reply")
    api.step(item_id, "reply")
    api.open_task(item_id, "file")
    filed = api.step(item_id, "file")

    assert filed["status"] == "filed"
    assert re.fullmatch(r"\d{4}-档-0001", filed["archive_number"])
    assert filed["filed_at"] is not None
    assert filed["open_tasks"] == []
    assert api.item(item_id) == filed

    events = filed["events"]
    assert all(set(e) >= EVENT_FIELDS for e in events)
    assert [e["at"] for e in events] == sorted(e["at"] for e in events)  # oldest first
    completed = [e["task"] for e in events if e["action"] == "completed"]
    assert completed == [
        "register", "draft", "leader_approve", "draft", "leader_approve", "reply", "file",
    ]  # fmt: skip
    assert events[0]["action"] == "registered" and events[0]["actor"] == "registrar"
    assert events[-1]["action"] == "filed"
    assert events[-1]["comment"] == filed["archive_number"]


def test_task_detail_carries_its_form(api):
    item_id = api.register()["id"]
    task = api.open_task(item_id, "register")
    detail = api.ok(api.get("registrar", f"/tasks/{task['id']}"))
    assert set(detail) >= TASK_FIELDS
    form = detail["form"]
    assert form["type"] == "object"
    assert {"department", "opinion"} <= set(form["required"])
    assert form["properties"]["department"]["enum"] == ["办公室", "民一庭", "刑一庭"]
    Draft202012Validator.check_schema(form)


def test_item_list_envelope_filters_and_paging(api):
    first = api.register(title="第一件建议")["id"]
    second = api.register(title="第二件建议")["id"]
    third = api.register(title="第三件建议")
    api.walk(first, "register", "draft", "approve", "reply", "file")

    listing = api.ok(api.get("registrar", "/items"))
    assert set(listing) == PAGE_FIELDS
    assert (listing["total"], listing["page"], listing["per_page"]) == (3, 1, 20)
    assert [i["id"] for i in listing["items"]] == [third["id"], second, first]  # newest first
    assert {"id", "number", "kind", "title", "status", "due_at"} <= set(listing["items"][0])

    page_two = api.ok(api.get("registrar", "/items?per_page=2&page=2"))
    assert (page_two["total"], page_two["page"], page_two["per_page"]) == (3, 2, 2)
    assert [i["id"] for i in page_two["items"]] == [first]
    assert api.ok(api.get("registrar", "/items?page=9"))["items"] == []
    assert api.ok(api.get("registrar", "/items?per_page=1000"))["per_page"] == 100

    def ids(query: str) -> list[int]:
        return [i["id"] for i in api.ok(api.get("registrar", "/items?" + query))["items"]]

    assert ids("status=filed") == [first]
    assert ids("status=open") == [third["id"], second]
    assert ids("kind=suggestion") == [third["id"], second, first]
    assert ids("kind=letter") == []
    assert ids("q=第二件") == [second]
    assert ids(f"q={third['number']}") == [third["id"]]
    assert ids("overdue=false") == [third["id"], second, first]


def test_task_list_scopes(api, drafting):
    item_id, draft = drafting

    def task_ids(user: str, scope: str) -> list[int]:
        listing = api.ok(api.get(user, f"/tasks?scope={scope}"))
        assert set(listing) == PAGE_FIELDS
        assert listing["total"] == len(listing["items"])
        assert all(set(t) >= TASK_FIELDS for t in listing["items"])
        return [t["id"] for t in listing["items"]]

    assert task_ids("drafter", "mine") == []
    assert task_ids("drafter", "candidate") == [draft["id"]]
    assert task_ids("drafter", "all") == [draft["id"]]
    assert task_ids("leader", "candidate") == []
    api.ok(api.post("drafter", f"/tasks/{draft['id']}/claim"))
    assert task_ids("drafter", "mine") == [draft["id"]]
    assert task_ids("drafter", "candidate") == []
    assert task_ids("drafter_b", "candidate") == []
    assert api.ok(api.get("drafter", "/tasks"))["items"][0]["id"] == draft["id"]  # mine


# --- claim, release, assign ----------------------------------------------------------------


def test_claim_and_release(api, drafting):
    item_id, draft = drafting
    claimed = api.ok(api.post("drafter", f"/tasks/{draft['id']}/claim"))
    assert set(claimed) >= TASK_FIELDS
    assert claimed["assignee"] == "drafter"
    again = api.ok(api.post("drafter", f"/tasks/{draft['id']}/claim"))  # idempotent
    assert again["assignee"] == "drafter"
    released = api.ok(api.post("drafter", f"/tasks/{draft['id']}/release"))
    assert released["id"] == draft["id"]
    assert api.open_task(item_id)["assignee"] is None
    assert api.ok(api.get("drafter", "/tasks?scope=candidate"))["total"] == 1
    actions = [e["action"] for e in api.item(item_id)["events"]]
    assert actions[-2:] == ["claimed", "released"]


def test_head_assigns_the_draft_to_a_colleague(api, drafting):
    item_id, draft = drafting
    assigned = api.ok(api.post("head", f"/tasks/{draft['id']}/assign", {"username": "drafter_b"}))
    assert assigned["id"] == draft["id"]
    assert api.open_task(item_id)["assignee"] == "drafter_b"
    event = api.item(item_id)["events"][-1]
    assert (event["action"], event["actor"], event["task"]) == ("assigned", "head", "draft")
    assert [t["id"] for t in api.ok(api.get("drafter_b", "/tasks?scope=mine"))["items"]] == [
        draft["id"]
    ]
    # Now it is drafter_b's: the first drafter can neither take nor complete it.
    with unchanged(api, item_id):
        assert_error(api.post("drafter", f"/tasks/{draft['id']}/claim"), 409, "conflict")
        body = {"data": STEP_DATA["draft"]}
        assert_error(api.post("drafter", f"/tasks/{draft['id']}/complete", body), 409)
    after = api.ok(api.post("drafter_b", f"/tasks/{draft['id']}/complete", body))
    assert after["open_tasks"][0]["name"] == "leader_approve"
    assert after["events"][-1]["actor"] == "drafter_b"


@pytest.mark.parametrize("action", ["release", "assign", "complete-register"])
def test_action_responses_show_the_new_state(api, action):
    item_id = api.register()["id"]
    if action == "complete-register":
        item = api.step(item_id, "register")
        assert item["department"] == api.item(item_id)["department"] == "民一庭"
        return
    api.step(item_id, "register")
    draft = api.open_task(item_id, "draft")
    if action == "release":
        api.ok(api.post("drafter", f"/tasks/{draft['id']}/claim"))
        task = api.ok(api.post("drafter", f"/tasks/{draft['id']}/release"))
        assert task["assignee"] is None
    else:
        body = {"username": "drafter_b"}
        task = api.ok(api.post("head", f"/tasks/{draft['id']}/assign", body))
        assert task["assignee"] == "drafter_b"


def test_assign_refusals(api, drafting):
    item_id, draft = drafting
    path = f"/tasks/{draft['id']}/assign"
    with unchanged(api, item_id):
        assert_invalid(api.post("head", path, {"username": "drafter_other"}), "username")
        assert_invalid(api.post("head", path, {"username": "leader"}), "username")
        assert_invalid(api.post("head", path, {"username": "nobody"}), "username")
        assert_invalid(api.post("head", path, {"username": ""}), "username")
        assert_invalid(api.post("head", path, {"username": 7}), "username")
        assert_invalid(api.post("head", path, {}), "username")
        # A drafter who does not hold the task may not hand it out.
        assert_error(api.post("drafter", path, {"username": "drafter_b"}), 403, "forbidden")
        # Releasing a task one does not hold is a conflict.
        assert_error(api.post("drafter_b", f"/tasks/{draft['id']}/release"), 409, "conflict")


# --- errors: 400, 401, 403, 404, 409, 413, 422 ---------------------------------------------


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer not-a-real-token"},
        {"Authorization": "Bearer "},
        {"Authorization": "Basic cmVnaXN0cmFyOnNlY3JldA=="},
        {"Authorization": "not-a-real-token"},
    ],
    ids=["missing", "bad", "empty", "basic", "no-scheme"],
)
def test_401_without_valid_credentials(api, headers):
    item_id = api.register()["id"]
    task_id = api.open_task(item_id)["id"]
    with unchanged(api, item_id):
        for method, path, body in [
            ("GET", "/items", None),
            ("GET", f"/items/{item_id}", None),
            ("GET", "/tasks?scope=all", None),
            ("GET", f"/tasks/{task_id}", None),
            ("POST", "/items", NEW_ITEM),
            ("POST", f"/tasks/{task_id}/claim", None),
            ("POST", f"/tasks/{task_id}/complete", {"data": STEP_DATA["register"]}),
        ]:
            response = api.client.open(API + path, method=method, json=body, headers=headers)
            assert_error(response, 401, "unauthorized")
    assert api.ok(api.get("registrar", "/items"))["total"] == 1


def test_401_for_a_disabled_users_token(api, factory):
    from engine.models import User

    with unit_of_work(factory) as session:
        session.query(User).filter_by(username="registrar").update({"active": False})
    assert_error(api.get("registrar", "/items"), 401, "unauthorized")


@pytest.mark.parametrize(
    "data",
    ["{not json", "", '{"kind": "suggestion",}', "\xff\xfe"],
    ids=["garbage", "empty", "trailing-comma", "not-utf8"],
)
def test_400_malformed_json(api, data):
    response = api.post("registrar", "/items", data=data, content_type="application/json")
    assert_error(response, 400, "bad_request")
    assert api.ok(api.get("registrar", "/items"))["total"] == 0


@pytest.mark.parametrize(
    "body",
    [[], [NEW_ITEM], "text", 42, None, True],
    ids=["list", "list-of-obj", "str", "int", "null", "bool"],
)
def test_400_body_that_is_not_an_object(api, body):
    response = api.post(
        "registrar", "/items", data=json.dumps(body), content_type="application/json"
    )
    assert_error(response, 400, "bad_request")
    assert api.ok(api.get("registrar", "/items"))["total"] == 0


def test_400_json_sent_without_json_content_type(api):
    response = api.post("registrar", "/items", data=json.dumps(NEW_ITEM), content_type="text/plain")
    assert_error(response, 400, "bad_request")


def test_400_deeply_nested_json_is_refused_not_crashed(api):
    nested = "[" * 100_000 + "]" * 100_000
    response = api.post("registrar", "/items", data=nested, content_type="application/json")
    assert_error(response, 400, "bad_request")


def test_400_on_task_endpoints(api, drafting):
    item_id, draft = drafting
    with unchanged(api, item_id):
        for action in ("complete", "assign"):
            response = api.post(
                "drafter",
                f"/tasks/{draft['id']}/{action}",
                data="{",
                content_type="application/json",
            )
            assert_error(response, 400, "bad_request")
            response = api.post("drafter", f"/tasks/{draft['id']}/{action}", ["data"])
            assert_error(response, 400, "bad_request")


def test_404_unknown_records_and_paths(api):
    item_id = api.register()["id"]
    task_id = api.open_task(item_id)["id"]
    for path in [
        f"/items/{item_id + 1000}",
        f"/tasks/{task_id + 1000}",
        "/items/99999999999999999999",  # beyond any integer column
        "/tasks/99999999999999999999",
        "/items/-1",
        "/no-such-endpoint",
    ]:
        assert_error(api.get("registrar", path), 404, "not_found")
    for path in ["/alerts/999999/read", "/alerts/99999999999999999999/read"]:
        assert_error(api.post("registrar", path), 404, "not_found")
    with unchanged(api, item_id):
        for action in ("claim", "release", "complete"):
            response = api.post("registrar", f"/tasks/{task_id + 1000}/{action}", {"data": {}})
            assert_error(response, 404, "not_found")
        response = api.post("head", f"/tasks/{task_id + 1000}/assign", {"username": "drafter"})
        assert_error(response, 404, "not_found")


def test_405_is_json_too(api):
    item_id = api.register()["id"]
    with unchanged(api, item_id):
        assert_error(api.call("DELETE", "registrar", f"/items/{item_id}"), 405)
        assert_error(api.call("PUT", "registrar", "/items"), 405)


def test_404_not_403_for_another_departments_item_and_task(api, drafting):
    item_id, draft = drafting
    with unchanged(api, item_id):
        assert_error(api.get("drafter_other", f"/items/{item_id}"), 404, "not_found")
        assert_error(api.get("drafter_other", f"/tasks/{draft['id']}"), 404, "not_found")
        for action in ("claim", "release"):
            response = api.post("drafter_other", f"/tasks/{draft['id']}/{action}")
            assert_error(response, 404, "not_found")
        body = {"data": STEP_DATA["draft"]}
        response = api.post("drafter_other", f"/tasks/{draft['id']}/complete", body)
        assert_error(response, 404, "not_found")
        # The designer sees no items at all.
        assert_error(api.get("designer", f"/items/{item_id}"), 404, "not_found")
    # The same item exists and is visible in its own department.
    assert api.ok(api.get("drafter", f"/items/{item_id}"))["id"] == item_id
    assert api.ok(api.get("head", f"/tasks/{draft['id']}"))["id"] == draft["id"]


def test_lists_hide_another_departments_items(api, drafting):
    item_id, draft = drafting
    own = api.register(title="刑事案件建议")["id"]
    data = {"department": "刑一庭", "opinion": "请刑一庭办理"}
    task_id = api.open_task(own, "register")["id"]
    api.ok(api.post("registrar", f"/tasks/{task_id}/complete", {"data": data}))
    own_draft = api.open_task(own, "draft")

    items = api.ok(api.get("drafter_other", "/items"))
    assert [i["id"] for i in items["items"]] == [own] and items["total"] == 1
    assert api.ok(api.get("drafter_other", f"/items?q={api.item(item_id)['number']}"))["total"] == 0
    for scope in ("all", "candidate", "mine"):
        listing = api.ok(api.get("drafter_other", f"/tasks?scope={scope}"))
        ids = [t["id"] for t in listing["items"]]
        assert draft["id"] not in ids
        assert all(t["item_id"] != item_id for t in listing["items"])
        assert listing["total"] == len(ids)
    assert [t["id"] for t in api.ok(api.get("drafter_other", "/tasks?scope=all"))["items"]] == [
        own_draft["id"]
    ]
    # ...and the 民一庭 drafter does not see the 刑一庭 item.
    assert [i["id"] for i in api.ok(api.get("drafter", "/items"))["items"]] == [item_id]
    assert api.ok(api.get("designer", "/items"))["total"] == 0


def test_409_completing_a_task_twice(api):
    item_id = api.register()["id"]
    task_id = api.open_task(item_id, "register")["id"]
    path = f"/tasks/{task_id}/complete"
    api.ok(api.post("registrar", path, {"data": STEP_DATA["register"]}))
    with unchanged(api, item_id):
        assert_error(api.post("registrar", path, {"data": STEP_DATA["register"]}), 409, "conflict")
        assert_error(api.post("registrar", f"/tasks/{task_id}/claim"), 409, "conflict")
        assert_error(api.post("registrar", f"/tasks/{task_id}/release"), 409, "conflict")
        response = api.post("registrar", f"/tasks/{task_id}/assign", {"username": "registrar"})
        assert_error(response, 409, "conflict")
    drafts = [t for t in api.item(item_id)["open_tasks"] if t["name"] == "draft"]
    assert len(drafts) == 1


def test_409_task_claimed_by_someone_else(api, drafting):
    item_id, draft = drafting
    api.ok(api.post("drafter", f"/tasks/{draft['id']}/claim"))
    with unchanged(api, item_id):
        assert_error(api.post("drafter_b", f"/tasks/{draft['id']}/claim"), 409, "conflict")
        body = {"data": STEP_DATA["draft"]}
        response = api.post("drafter_b", f"/tasks/{draft['id']}/complete", body)
        assert_error(response, 409, "conflict")
    task = api.open_task(item_id, "draft")
    assert (task["id"], task["assignee"]) == (draft["id"], "drafter")


def test_403_drafter_registering_and_registrar_claiming_a_drafter_task(api, drafting):
    item_id, draft = drafting
    assert_error(api.post("drafter", "/items", NEW_ITEM), 403, "forbidden")
    assert_error(api.post("leader", "/items", NEW_ITEM), 403, "forbidden")
    with unchanged(api, item_id):
        assert_error(api.post("registrar", f"/tasks/{draft['id']}/claim"), 403, "forbidden")
        body = {"data": STEP_DATA["draft"]}
        response = api.post("registrar", f"/tasks/{draft['id']}/complete", body)
        assert_error(response, 403, "forbidden")
    assert api.ok(api.get("registrar", "/items"))["total"] == 1


def test_413_body_larger_than_the_limit(api):
    item_id = api.register()["id"]
    task_id = api.open_task(item_id)["id"]
    huge = json.dumps({**NEW_ITEM, "content": "x" * MAX_REQUEST_BYTES})
    assert len(huge.encode()) > MAX_REQUEST_BYTES
    response = api.post("registrar", "/items", data=huge, content_type="application/json")
    assert_error(response, 413, "too_large")
    with unchanged(api, item_id):
        body = json.dumps({"data": {"department": "民一庭", "opinion": "x" * MAX_REQUEST_BYTES}})
        response = api.post(
            "registrar", f"/tasks/{task_id}/complete", data=body, content_type="application/json"
        )
        assert_error(response, 413, "too_large")
    assert api.ok(api.get("registrar", "/items"))["total"] == 1


def test_422_invalid_form_data_names_the_fields(api):
    item_id = api.register()["id"]
    task_id = api.open_task(item_id, "register")["id"]
    path = f"/tasks/{task_id}/complete"
    with unchanged(api, item_id):
        fields = assert_invalid(
            api.post("registrar", path, {"data": {"department": "不存在的庭"}}),
            "department",
            "opinion",
        )
        assert all(fields.values())
        assert_invalid(api.post("registrar", path, {"data": {}}), "department", "opinion")
        assert_invalid(
            api.post("registrar", path, {"data": {**STEP_DATA["register"], "extra": 1}}), "extra"
        )
        assert_invalid(
            api.post("registrar", path, {"data": {"department": 3, "opinion": "请办理"}}),
            "department",
        )
        assert_invalid(api.post("registrar", path, {"data": ["department"]}), "data")
        assert_invalid(api.post("registrar", path, {"data": None}), "data")
        assert_invalid(api.post("registrar", path, {}), "data")
        nul = {"data": {"department": "民一庭", "opinion": "请\x00办理"}}
        assert_error(api.post("registrar", path, nul), 422, "invalid")
    assert api.open_task(item_id)["id"] == task_id


def test_422_rejection_without_comment(api, drafting):
    item_id, _ = drafting
    api.step(item_id, "draft")
    task_id = api.open_task(item_id, "leader_approve")["id"]
    with unchanged(api, item_id):
        response = api.post("leader", f"/tasks/{task_id}/complete", {"data": {"approved": False}})
        assert_invalid(response, "comment")
        response = api.post("leader", f"/tasks/{task_id}/complete", {"data": {"approved": "no"}})
        assert_invalid(response, "approved")


@pytest.mark.parametrize(
    ("overrides", "fields"),
    [
        ({"title": None}, {"title"}),
        ({"title": "   "}, {"title"}),
        ({"title": 5}, {"title"}),
        ({"title": "长" * 301}, {"title"}),
        ({"content": ""}, {"content"}),
        ({"kind": "recipe"}, {"kind"}),
        ({"kind": None}, {"kind"}),
        ({"kind": ["suggestion"]}, {"kind"}),
        ({"deputies": []}, {"deputies"}),
        ({"deputies": "张代表"}, {"deputies"}),
        ({"deputies": [""]}, {"deputies"}),
        ({"deputies": [{"name": "张代表"}]}, {"deputies"}),
        ({"deputies": [99_999]}, {"deputies"}),
        ({"received_at": "2999-01-01T09:00:00+08:00"}, {"received_at"}),
        ({"received_at": "yesterday"}, {"received_at"}),
        ({"received_at": "2026/01/05"}, {"received_at"}),
        ({"received_at": 20260105}, {"received_at"}),
        ({"received_at": "0001-01-01T00:00:00"}, {"received_at"}),
        ({"received_at": "9999-12-31T23:59:59-12:00"}, {"received_at"}),
        ({"title": "a\x00b"}, {"title"}),
        ({"deputies": ["张\x00"]}, {"deputies"}),
        ({"kind": "recipe", "title": "", "deputies": []}, {"kind", "title", "deputies"}),
    ],
    ids=lambda value: json.dumps(value, ensure_ascii=True)[:40] if isinstance(value, dict) else "",
)
def test_422_invalid_registration(api, overrides, fields):
    body = {k: v for k, v in {**NEW_ITEM, **overrides}.items() if v is not None}
    assert_invalid(api.post("registrar", "/items", body), *fields)
    assert api.ok(api.get("registrar", "/items"))["total"] == 0


def test_registration_without_optional_fields_and_with_deputy_ids(api):
    first = api.register()
    deputy_id = first["deputies"][0]["id"]
    second = api.register(deputies=[deputy_id, "王代表"], received_at="2026-01-05")
    assert [d["id"] for d in second["deputies"]][0] == deputy_id
    assert second["received_at"].startswith("2026-01-04T16:00:00")  # midnight in Shanghai
    assert second["number"] != first["number"]


@pytest.mark.parametrize("deputy", [True, 10**30], ids=["bool", "huge-id"])
def test_422_deputy_ids_that_are_not_ids(api, deputy):
    api.register()  # deputy id 1 exists, so `True` would silently match it on SQLite
    assert_invalid(api.post("registrar", "/items", {**NEW_ITEM, "deputies": [deputy]}), "deputies")


@pytest.mark.parametrize(
    ("path", "field"),
    [
        ("/tasks?scope=everything", "scope"),
        ("/tasks?page=0", "page"),
        ("/tasks?per_page=-1", "per_page"),
        ("/tasks?page=abc", "page"),
        ("/items?page=1.5", "page"),
        ("/items?per_page=0", "per_page"),
        ("/items?page=%C2%B2", "page"),  # superscript two: isdigit() but not int()
        ("/items?page=99999999999999999999", "page"),
        ("/items?page=" + "9" * 5000, "page"),
        ("/items?overdue=maybe", "overdue"),
        ("/items?q=%00", "q"),
        ("/items?sort=sideways", "sort"),
        ("/tasks?sort=sideways", "sort"),
        ("/alerts?page=0", "page"),
    ],
)
def test_422_bad_query_parameters(api, path, field):
    api.register()
    assert_invalid(api.get("registrar", path), field)


# --- the OpenAPI document ------------------------------------------------------------------


def openapi_path(rule: str) -> str:
    """`/api/v1/items/<int(max=…):item_id>` → `/items/{item_id}`."""
    return re.sub(r"<(?:[^:>]+:)?([^>]+)>", r"{\1}", rule.removeprefix(API))


def test_openapi_document_needs_no_auth_and_describes_every_route(app, api):
    response = app.test_client().get(f"{API}/openapi.json")
    document = api.ok(response)
    assert document["openapi"].startswith("3.1")
    assert {"title", "version"} <= set(document["info"])
    paths = document["paths"]
    routes = [r for r in app.url_map.iter_rules() if r.rule.startswith(API + "/")]
    assert routes
    for rule in routes:
        if rule.endpoint == "api.openapi":
            continue  # the document does not describe itself
        path = openapi_path(rule.rule)
        assert path in paths, f"{rule.rule} is not in the OpenAPI document"
        methods = {m.lower() for m in rule.methods - {"HEAD", "OPTIONS"}}
        assert methods <= set(paths[path]), (rule.rule, methods)
        for parameter in re.findall(r"{(\w+)}", path):
            declared = {
                p["name"]
                for operation in paths[path].values()
                for p in operation.get("parameters", [])
                if p["in"] == "path"
            }
            assert parameter in declared, (path, parameter)

    def refs(node: Any) -> Iterator[str]:
        if isinstance(node, dict):
            for key, value in node.items():
                if key == "$ref":
                    yield value
                else:
                    yield from refs(value)
        elif isinstance(node, list):
            for value in node:
                yield from refs(value)

    for ref in set(refs(document)):
        target: Any = document
        for part in ref.removeprefix("#/").split("/"):
            assert part in target, f"dangling $ref {ref}"
            target = target[part]
    for operation in (op for item in paths.values() for op in item.values()):
        assert operation["responses"], operation


def test_openapi_schemas_describe_actual_responses(api):
    document = api.ok(api.get(None, "/openapi.json"))

    def check(name: str, instance: Any) -> None:
        # OpenAPI 3.1 schemas are JSON Schema 2020-12; unknown top-level keys are ignored.
        schema = {**document, "$ref": f"#/components/schemas/{name}"}
        errors = list(Draft202012Validator(schema).iter_errors(instance))
        assert not errors, [e.message for e in errors]

    item_id = api.register()["id"]
    api.step(item_id, "register")
    item = api.item(item_id)
    check("Item", item)
    for event in item["events"]:
        check("Event", event)
    for task in api.ok(api.get("drafter", "/tasks?scope=all"))["items"]:
        check("Task", task)
    for summary in api.ok(api.get("registrar", "/items"))["items"]:
        check("ItemSummary", summary)
    check("Error", api.get("registrar", "/items/999999").get_json())


# --- browser-session use of the API --------------------------------------------------------


def test_browser_session_api_writes_need_the_csrf_header(app, people):
    assert app.config.get("WTF_CSRF_ENABLED", True) is True
    client = app.test_client()
    token = browser_login(client, "registrar")

    listing = client.get(f"{API}/items")  # reads need no CSRF token
    assert listing.status_code == 200 and listing.get_json()["total"] == 0

    refused = client.post(f"{API}/items", json=NEW_ITEM)
    assert_error(refused, 400, "bad_request")
    wrong = client.post(f"{API}/items", json=NEW_ITEM, headers={"X-CSRFToken": "forged"})
    assert_error(wrong, 400, "bad_request")
    assert client.get(f"{API}/items").get_json()["total"] == 0

    created = client.post(f"{API}/items", json=NEW_ITEM, headers={"X-CSRFToken": token})
    assert created.status_code == 201, created.get_data(as_text=True)
    item = created.get_json()
    assert item["events"][0]["actor"] == "registrar"

    task_id = item["open_tasks"][0]["id"]
    body = {"data": STEP_DATA["register"]}
    assert_error(client.post(f"{API}/tasks/{task_id}/complete", json=body), 400, "bad_request")
    done = client.post(f"{API}/tasks/{task_id}/complete", json=body, headers={"X-CSRFToken": token})
    assert done.status_code == 200
    assert done.get_json()["open_tasks"][0]["name"] == "draft"


def test_browser_session_api_after_logout_is_401(app, people):
    client = app.test_client()
    token = browser_login(client, "registrar")
    assert client.post("/logout", data={"csrf_token": token}).status_code == 302
    assert_error(client.get(f"{API}/items"), 401, "unauthorized")


def test_a_token_sent_with_a_browser_session_must_be_valid(app, api):
    client = app.test_client()
    browser_login(client, "registrar")
    item_id = api.register()["id"]
    task_id = api.open_task(item_id, "register")["id"]
    body = {"data": STEP_DATA["register"]}
    with unchanged(api, item_id):
        for token in ("not-a-real-token", api.tokens["drafter"]):
            response = client.post(
                f"{API}/tasks/{task_id}/complete",
                json=body,
                headers={"Authorization": f"Bearer {token}"},
            )
            assert_error(response, 401, "unauthorized")
    # The session's own user's token authenticates on its own (no CSRF header needed).
    response = client.post(
        f"{API}/tasks/{task_id}/complete",
        json=body,
        headers={"Authorization": f"Bearer {api.tokens['registrar']}"},
    )
    assert response.status_code == 200, response.get_data(as_text=True)
