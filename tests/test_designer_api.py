"""The designer API (/api/v1/designer) through HTTP, on every configured database.

Response shapes, the error contract (403 for other roles, 404 for another court, 413 and
422 for unusable uploads with a clear message), and the whole story: save a changed
version, validate, deploy, dry-run, register a new item that follows the new version
while an old one finishes on the old, a refused and a successful migration.

The shipped suggestion (v1) calls the shared subprocesses; the designer first deploys the
self-contained suggestion diagram (v2, tests/fixtures/suggestion_standalone.bpmn) where a
test needs running items on a diagram whose steps it then edits.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from engine.bpmn_xml import MAX_BPMN_BYTES
from engine.db import unit_of_work
from engine.models import Court
from engine.services import accounts
from tests.conftest import USERS
from tests.helpers import STEP_DATA
from tests.test_api import Api
from tests.test_designer import (
    FORMS,
    KINDS,
    LAUGHS,
    MALFORMED,
    NOT_BPMN,
    SHARED,
    SHELL_ESCAPE,
    SHIPPED,
    STANDALONE,
    XXE,
    replaced,
    retitled_draft,
    with_condition,
    without_draft,
)

CANARY = Path("/tmp/pwned_designer")
D = "/designer"
VERSION_FIELDS = {"id", "key", "version", "status", "note", "author", "created_at", "deployed_at"}
PAGE_FIELDS = {"items", "total", "page", "per_page"}


@pytest.fixture(autouse=True)
def _no_canary():
    CANARY.unlink(missing_ok=True)
    yield
    assert not CANARY.exists(), "designer code ran outside the sandbox"


@pytest.fixture
def api(app, people, factory) -> Api:
    with unit_of_work(factory) as session:
        tokens = {username: accounts.issue_token(session, username) for username in USERS}
        other = Court(name="另一法院")
        session.add(other)
        session.flush()
        accounts.create_user(session, other, "outsider", "designer", password="x" * 12)
        tokens["outsider"] = accounts.issue_token(session, "outsider")
    return Api(app.test_client(), tokens)


def v1_id(api: Api) -> int:
    page = api.ok(api.get("designer", f"{D}/processes/suggestion/versions"))
    return next(v["id"] for v in page["items"] if v["version"] == 1)


def save(api: Api, xml: str, user: str = "designer", **body) -> dict[str, Any]:
    return api.ok(
        api.post(user, f"{D}/processes/suggestion/versions", {"bpmn_xml": xml, **body}), 201
    )


def deploy_standalone(api: Api) -> dict[str, Any]:
    """The designer saves and deploys the self-contained suggestion as v2."""
    created = save(api, STANDALONE, note="自成一体的建议流程")
    assert (created["version"], created["deployable"]) == (2, True)
    api.ok(api.post("designer", f"{D}/versions/{created['id']}/deploy"))
    return created


def error(response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.get_data(as_text=True)
    body = response.get_json()
    assert set(body) == {"error"} and body["error"]["message"]
    return body["error"]


def walk(api: Api, item_id: int, *steps: str, users: dict[str, str] | None = None) -> None:
    users = {"draft": "drafter", **(users or {})}
    for step in steps:
        user = users.get(step) or {"approve": "leader", "reject": "leader"}.get(step, "registrar")
        name = {"approve": "leader_approve", "reject": "leader_approve"}.get(step, step)
        task = api.open_task(item_id, name)
        api.ok(api.post(user, f"/tasks/{task['id']}/complete", {"data": STEP_DATA[step]}))


# --- versions ------------------------------------------------------------------------------


def test_save_validate_deploy_and_new_items_follow_while_old_ones_finish(api):
    processes = api.ok(api.get("designer", f"{D}/processes"))
    assert set(processes) == PAGE_FIELDS
    assert processes["items"] == [
        {"key": key, "deployed_version": 1, "latest_version": 1} for key in sorted(SHARED + KINDS)
    ]
    deploy_standalone(api)
    old_item = api.register()["id"]
    assert api.item(old_item)["process"] == {"key": "suggestion", "version": 2}
    walk(api, old_item, "register")

    checked = api.ok(api.post("designer", f"{D}/validate", {"bpmn_xml": retitled_draft()}))
    assert checked == {"problems": [], "deployable": True, "key": "suggestion"}
    created = save(api, retitled_draft(), note="拟稿改由部门负责人办理，期限 5 个工作日")
    assert VERSION_FIELDS | {"problems", "deployable"} <= set(created)
    assert (created["version"], created["status"], created["deployed_at"]) == (3, "draft", None)
    assert created["author"] == "designer" and created["problems"] == [] and created["deployable"]

    detail = api.ok(api.get("designer", f"{D}/versions/{created['id']}"))
    assert detail["bpmn_xml"] == retitled_draft() and "draft.schema.json" in detail["forms"]
    assert detail["problems"] == [] and detail["deployable"] is True

    download = api.get("designer", f"{D}/versions/{created['id']}/bpmn")
    assert download.status_code == 200 and download.mimetype == "application/xml"
    assert download.headers["Content-Disposition"] == "attachment; filename=suggestion-v3.bpmn"
    assert download.get_data(as_text=True) == retitled_draft()

    deployed = api.ok(api.post("admin", f"{D}/versions/{created['id']}/deploy"))
    assert set(deployed) == VERSION_FIELDS
    assert deployed["status"] == "deployed" and deployed["deployed_at"]
    listing = api.ok(api.get("designer", f"{D}/processes/suggestion/versions"))
    assert [(v["version"], v["status"]) for v in listing["items"]] == [
        (3, "deployed"),
        (2, "retired"),
        (1, "retired"),
    ]

    new_item = api.register(title="新版本事项")["id"]
    walk(api, new_item, "register")
    task = api.open_task(new_item, "draft")
    assert (task["role"], task["title"]) == ("dept_head", "承办起草")
    assert api.item(new_item)["process"] == {"key": "suggestion", "version": 3}
    walk(api, new_item, "draft", users={"draft": "head"})

    assert api.open_task(old_item, "draft")["role"] == "drafter"
    walk(api, old_item, "draft", "approve", "reply", "file")
    finished = api.item(old_item)
    assert finished["status"] == "filed" and finished["process"]["version"] == 2


def test_saving_with_problems_returns_them_and_deploy_refuses_naming_elements(api):
    xml = replaced(
        STANDALONE, ('<bpmn:lane id="Lane_leader" name="leader">', '<bpmn:lane id="L" name="x">')
    )
    created = save(api, xml)
    assert not created["deployable"] and created["status"] == "draft"
    assert {"element_id": "leader_approve"}.items() <= created["problems"][0].items()
    for problem in created["problems"]:
        assert {"element_id", "message"} <= set(problem) and problem["message"]
    refused = error(api.post("designer", f"{D}/versions/{created['id']}/deploy"), 422)
    assert refused["code"] == "invalid" and "leader_approve" in refused["fields"]
    assert "lane" in refused["fields"]["leader_approve"]


def test_forms_are_saved_with_the_version_and_checked(api):
    forms = {"register.schema.json": {"type": "object", "properties": {"x": {"type": "nope"}}}}
    created = save(api, SHIPPED, forms=forms)
    problems = {(p["element_id"], p["code"]) for p in created["problems"]}
    assert ("register", "form_schema_used") in problems and ("draft", "form") in problems
    detail = api.ok(api.get("designer", f"{D}/versions/{created['id']}"))
    assert detail["forms"] == forms
    bad = error(
        api.post(
            "designer",
            f"{D}/processes/suggestion/versions",
            {"bpmn_xml": SHIPPED, "forms": {"a/b": {}}},
        ),
        422,
    )
    assert "forms.a/b" in bad["fields"]


@pytest.mark.parametrize(
    ("xml", "words"),
    [
        (XXE, "DTD"),
        (LAUGHS, "entity"),
        (NOT_BPMN, "not a BPMN 2.0 document"),
        (MALFORMED, "malformed XML"),
        (12, "bpmn_xml is required"),
    ],
    ids=["xxe", "billion-laughs", "not-bpmn", "malformed", "not-text"],
)
def test_unusable_uploads_are_422_with_a_clear_message(api, xml, words):
    for path in (f"{D}/processes/suggestion/versions", f"{D}/validate"):
        refused = error(api.post("designer", path, {"bpmn_xml": xml}), 422)
        assert words in refused["message"] and "bpmn_xml" in refused["fields"]
    listing = api.ok(api.get("designer", f"{D}/processes/suggestion/versions"))
    assert listing["total"] == 1


def test_bpmn_over_two_mebibytes_is_413_and_bodies_over_the_request_limit_too(api):
    big = SHIPPED.replace("<bpmn:process ", "<!--" + "x" * MAX_BPMN_BYTES + "--><bpmn:process ", 1)
    for path in (f"{D}/processes/suggestion/versions", f"{D}/validate"):
        refused = error(api.post("designer", path, {"bpmn_xml": big}), 413)
        assert "2 MiB" in refused["message"]
    huge = "x" * (5 * 1024 * 1024)
    error(api.post("designer", f"{D}/validate", {"bpmn_xml": huge}), 413)


def test_the_process_id_must_equal_the_key(api):
    other = STANDALONE.replace('<bpmn:process id="suggestion"', '<bpmn:process id="letter"')
    other = other.replace('processRef="suggestion"', 'processRef="letter"')
    refused = error(
        api.post("designer", f"{D}/processes/suggestion/versions", {"bpmn_xml": other}), 422
    )
    assert "`letter`" in refused["message"] and "`suggestion`" in refused["message"]
    created = api.ok(
        api.post("designer", f"{D}/processes/letter/versions", {"bpmn_xml": other}), 201
    )
    # the shipped letter is v1; a self-contained letter may be its next version
    assert (created["key"], created["version"], created["deployable"]) == ("letter", 2, True)
    error(api.get("designer", f"{D}/processes/nothing-here/versions"), 404)


# --- access --------------------------------------------------------------------------------


def designer_calls(version_id: int) -> list[tuple[str, str, Any]]:
    return [
        ("GET", f"{D}/processes", None),
        ("GET", f"{D}/processes/suggestion/versions", None),
        ("POST", f"{D}/processes/suggestion/versions", {"bpmn_xml": SHIPPED}),
        ("GET", f"{D}/versions/{version_id}", None),
        ("GET", f"{D}/versions/{version_id}/bpmn", None),
        ("POST", f"{D}/validate", {"bpmn_xml": SHIPPED}),
        ("POST", f"{D}/versions/{version_id}/deploy", None),
        ("GET", f"{D}/versions/{version_id}/diff?against={version_id}", None),
        ("POST", f"{D}/versions/{version_id}/dry-run", {"steps": []}),
        ("GET", f"{D}/migrations?to={version_id}", None),
        ("POST", f"{D}/migrations", {"to": version_id, "item_ids": [1]}),
    ]


@pytest.mark.parametrize("user", ["registrar", "drafter", "head", "leader", "president"])
def test_other_roles_are_forbidden(api, user):
    for method, path, body in designer_calls(v1_id(api)):
        response = api.call(method, user, path, json=body) if body else api.call(method, user, path)
        assert error(response, 403)["code"] == "forbidden", (method, path)


def test_without_credentials_401_and_another_courts_versions_404(api):
    version_id = v1_id(api)
    for method, path, body in designer_calls(version_id):
        response = api.call(method, None, path, json=body) if body else api.call(method, None, path)
        assert response.status_code == 401, (method, path)
    assert api.ok(api.get("outsider", f"{D}/processes"))["items"] == []
    for method, path, body in designer_calls(version_id):
        if "/versions/" in path or "migrations?" in path:
            response = (
                api.call(method, "outsider", path, json=body)
                if body
                else api.call(method, "outsider", path)
            )
            assert response.status_code == 404, (method, path)
    results = api.ok(
        api.post("outsider", f"{D}/migrations", {"to": version_id, "item_ids": [1]}), 404
    )
    assert results["error"]["code"] == "not_found"
    error(api.get("designer", f"{D}/versions/2147483648"), 404)


# --- diff ----------------------------------------------------------------------------------


def test_diff_between_two_versions(api):
    base = deploy_standalone(api)["id"]
    v3 = save(api, retitled_draft())["id"]
    v4 = save(
        api, without_draft(), forms={"draft.schema.json": {"type": "object", "properties": {}}}
    )["id"]
    diff = api.ok(api.get("designer", f"{D}/versions/{v3}/diff?against={base}"))
    assert (diff["version"]["id"], diff["against"]["id"]) == (v3, base)
    assert diff["added"] == [] and diff["removed"] == []
    changed = {c["id"]: c for c in diff["changed"]}
    assert changed["draft"]["type"] == "bpmn:UserTask" and changed["draft"]["name"] == "承办起草"
    assert "lane: drafter → dept_head" in changed["draft"]["changes"]
    assert {d["field"] for d in changed["draft"]["details"]} == {"name", "lane", "properties"}
    diff = api.ok(api.get("designer", f"{D}/versions/{v4}/diff?against={base}"))
    assert {"id": "draft", "name": "承办拟稿", "type": "bpmn:UserTask"} in diff["removed"]
    # v4 keeps only the draft form: every other shipped form is removed
    assert diff["forms"]["removed"] == sorted(set(FORMS) - {"draft.schema.json"})
    assert {
        "file.schema.json",
        "leader_approve.schema.json",
        "register.schema.json",
        "reply.schema.json",
    } <= set(diff["forms"]["removed"])
    assert diff["forms"]["changed"] == ["draft.schema.json"]
    assert error(api.get("designer", f"{D}/versions/{v4}/diff"), 422)["fields"] == {
        "against": "required: a version id"
    }
    error(api.get("designer", f"{D}/versions/{v4}/diff?against=abc"), 422)
    error(api.get("designer", f"{D}/versions/{v4}/diff?against=999999"), 404)


# --- dry run -------------------------------------------------------------------------------


def test_dry_run_of_a_draft_shows_the_path_and_where_it_stops(api):
    draft = save(api, retitled_draft())["id"]
    steps = [
        {"task": "register", "data": STEP_DATA["register"]},
        {"task": "draft", "data": STEP_DATA["draft"]},
        {"task": "leader_approve", "data": {"approved": "yes"}},
    ]
    result = api.ok(api.post("designer", f"{D}/versions/{draft}/dry-run", {"steps": steps}))
    assert [(p["task"], p["role"], p["ok"]) for p in result["path"]] == [
        ("register", "registrar", True),
        ("draft", "dept_head", True),
        ("leader_approve", "leader", False),
    ]
    assert (
        "approved" in result["path"][-1]["fields"] and result["error"]["task"] == "leader_approve"
    )
    assert [w["task"] for w in result["waiting"]] == ["leader_approve"] and result["ended"] is False
    assert api.ok(api.get("registrar", "/items"))["total"] == 0  # nothing real was touched
    for bad in (
        {"steps": "register"},
        {"steps": [{"task": 3}]},
        {"steps": [{"task": "x", "data": []}]},
    ):
        error(api.post("designer", f"{D}/versions/{draft}/dry-run", bad), 422)


def test_code_in_conditions_never_runs_in_a_dry_run_or_a_deploy(api):
    draft = save(api, with_condition(SHELL_ESCAPE))
    assert not draft["deployable"]
    assert any(p["element_id"] == "approved_gateway" for p in draft["problems"])
    steps = [
        {"task": "register", "data": STEP_DATA["register"]},
        {"task": "draft", "data": STEP_DATA["draft"]},
        {"task": "leader_approve", "data": STEP_DATA["approve"]},
    ]
    result = api.ok(api.post("designer", f"{D}/versions/{draft['id']}/dry-run", {"steps": steps}))
    assert result["path"][-1]["ok"] is False and result["ended"] is False
    error(api.post("designer", f"{D}/versions/{draft['id']}/deploy"), 422)
    assert not CANARY.exists()


# --- migration -----------------------------------------------------------------------------


def test_a_refused_and_a_successful_migration(api):
    deploy_standalone(api)
    at_draft = api.register(title="等待拟稿")["id"]
    walk(api, at_draft, "register")
    at_register = api.register(title="等待登记")["id"]
    removed = save(api, without_draft())
    api.ok(api.post("designer", f"{D}/versions/{removed['id']}/deploy"))

    preview = api.ok(api.get("designer", f"{D}/migrations?to={removed['id']}"))
    assert set(preview) == PAGE_FIELDS and preview["total"] == 2
    rows = {r["item_id"]: r for r in preview["items"]}
    assert set(rows[at_draft]) == {
        "item_id",
        "number",
        "title",
        "from_version",
        "current_steps",
        "can_migrate",
        "reason",
    }
    assert rows[at_draft]["current_steps"] == ["draft"] and rows[at_draft]["can_migrate"] is False
    assert "`draft`" in rows[at_draft]["reason"] and "v3" in rows[at_draft]["reason"]
    assert rows[at_register]["can_migrate"] is True and rows[at_register]["from_version"] == 2

    result = api.ok(
        api.post(
            "designer",
            f"{D}/migrations",
            {"to": removed["id"], "item_ids": [at_draft, at_register, 999999]},
        )
    )
    outcome = {r["item_id"]: r for r in result["results"]}
    assert outcome[at_draft]["migrated"] is False and "draft" in outcome[at_draft]["reason"]
    assert outcome[at_register] == {"item_id": at_register, "migrated": True, "reason": None}
    assert outcome[999999]["migrated"] is False
    assert api.item(at_draft)["process"]["version"] == 2  # untouched
    migrated = api.item(at_register)
    assert migrated["process"]["version"] == 3
    event = migrated["events"][-1]
    assert (event["action"], event["actor"], event["comment"]) == (
        "migrated",
        "designer",
        "v2 → v3",
    )
    walk(api, at_register, "register")
    assert api.open_task(at_register)["name"] == "leader_approve"

    # a version that only renames the step and changes its role and time limit: it moves
    renamed = save(api, retitled_draft())
    api.ok(api.post("designer", f"{D}/versions/{renamed['id']}/deploy"))
    preview = api.ok(api.get("designer", f"{D}/migrations?to={renamed['id']}"))
    rows = {r["item_id"]: r for r in preview["items"]}
    assert rows[at_draft]["can_migrate"] is True and rows[at_draft]["from_version"] == 2
    result = api.ok(
        api.post("designer", f"{D}/migrations", {"to": renamed["id"], "item_ids": [at_draft]})
    )
    assert result["results"] == [{"item_id": at_draft, "migrated": True, "reason": None}]
    task = api.open_task(at_draft, "draft")
    assert (task["role"], task["title"]) == ("dept_head", "承办起草")
    error(api.post("drafter", f"/tasks/{task['id']}/complete", {"data": STEP_DATA["draft"]}), 403)
    walk(api, at_draft, "draft", "approve", "reply", "file", users={"draft": "head"})
    assert api.item(at_draft)["status"] == "filed"


def test_migration_requests_are_checked(api):
    v1 = v1_id(api)
    for body in (
        {"to": "1", "item_ids": [1]},
        {"to": True, "item_ids": [1]},
        {"to": v1, "item_ids": []},
        {"to": v1, "item_ids": [True]},
        {"to": v1, "item_ids": list(range(1, 502))},
    ):
        error(api.post("designer", f"{D}/migrations", body), 422)
    error(api.get("designer", f"{D}/migrations"), 422)
    broken = save(api, with_condition(SHELL_ESCAPE))["id"]
    error(api.get("designer", f"{D}/migrations?to={broken}"), 422)
    error(api.post("designer", f"{D}/migrations", {"to": broken, "item_ids": [1]}), 422)
    error(api.get("designer", f"{D}/migrations?to=999999"), 404)


def test_openapi_schemas_describe_designer_responses(api):
    document = api.ok(api.get(None, "/openapi.json"))

    def check(name: str, instance: Any) -> None:
        schema = {**document, "$ref": f"#/components/schemas/{name}"}
        errors = list(Draft202012Validator(schema).iter_errors(instance))
        assert not errors, [e.message for e in errors]

    created = save(api, retitled_draft())
    check("DesignerCheckedVersion", created)
    check("DesignerVersionDetail", api.ok(api.get("designer", f"{D}/versions/{created['id']}")))
    check(
        "DesignerDiff",
        api.ok(api.get("designer", f"{D}/versions/{created['id']}/diff?against={v1_id(api)}")),
    )
    dry = api.ok(
        api.post(
            "designer",
            f"{D}/versions/{created['id']}/dry-run",
            {"steps": [{"task": "register", "data": STEP_DATA["register"]}]},
        )
    )
    check("DesignerDryRun", dry)
    for process in api.ok(api.get("designer", f"{D}/processes"))["items"]:
        check("DesignerProcess", process)
    item_id = api.register()["id"]
    for row in api.ok(api.get("designer", f"{D}/migrations?to={created['id']}"))["items"]:
        check("DesignerMigrationCheck", row)
        assert row["item_id"] == item_id
