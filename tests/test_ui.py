"""Server-rendered pages through the Flask test client (no browser), on every database.

Login, CSRF, the inbox tabs, registering, task forms with field errors, the item page
with its timeline and diagram, visibility (404) and the language switch.
"""

from __future__ import annotations

import html
import re

import pytest
from sqlalchemy import func, select

from engine import clock
from engine.db import unit_of_work
from engine.models import Item, Task
from tests.conftest import PASSWORD
from tests.helpers import STEP_DATA
from tests.web_client import Browser, text

FORM_STEPS = {  # the HTML form values for each step (booleans as the radio values)
    "register": STEP_DATA["register"],
    "draft": STEP_DATA["draft"],
    "approve": {"approved": "true", "comment": "同意"},
    "reject": {"approved": "false", "comment": "请补充具体措施"},
    "reply": STEP_DATA["reply"],
    "file": STEP_DATA["file"],
}
NEW_ITEM_FORM = {
    "kind": "suggestion",
    "title": "关于加强诉前调解的建议",
    "content": "建议在基层法庭设立调解室。",
    "deputies": "张代表，李代表",
    "received_at": "2026-01-05",
}


# --- helpers -----------------------------------------------------------------------------


def field_errors(page: str) -> dict[str, str]:
    """`data-field-error` elements of a page: field name → message."""
    found = re.findall(r'data-field-error="([^"]+)"[^>]*>([^<]*)<', page)
    return {name: html.unescape(message).strip() for name, message in found}


def task_rows(page: str) -> list[int]:
    return [int(n) for n in re.findall(r'<tr data-task-id="(\d+)"', page)]


def html_lang(page: str) -> str:
    match = re.search(r'<html lang="([^"]+)"', page)
    assert match
    return match.group(1)


def register_via_form(browser: Browser, factory, **overrides: str) -> tuple[int, int]:
    """Register through /items/new; returns (item id, id of the register task it opens)."""
    response = browser.submit("/items/new", {**NEW_ITEM_FORM, **overrides})
    assert response.status_code == 302, text(response)[:500]
    task_id = int(re.fullmatch(r"/tasks/(\d+)", response.headers["Location"]).group(1))
    with unit_of_work(factory) as session:
        return session.get(Task, task_id).item_id, task_id


def open_task(factory, item_id: int) -> Task | None:
    with unit_of_work(factory) as session:
        return session.scalar(select(Task).where(Task.item_id == item_id, Task.status == "open"))


def record_meeting_via_form(browser: Browser, item_id: int) -> None:
    """The item page's 见面 form: a phone call with all the item's deputies today."""
    form = {"met_on": clock.local_now().date().isoformat(), "method": "phone", "notes": "电话沟通"}
    response = browser.submit(f"/items/{item_id}/meetings", form)
    assert response.status_code == 303, text(response)[:800]


def complete_via_form(browser: Browser, factory, item_id: int, step: str):
    """Submit the item's open step; a suggestion's reply first records the meeting it needs."""
    task = open_task(factory, item_id)
    assert task is not None
    if step == "reply":
        record_meeting_via_form(browser, item_id)
    response = browser.submit(f"/tasks/{task.id}", FORM_STEPS[step])
    assert response.status_code == 302, (step, text(response)[:800])
    return response


def item_count(factory) -> int:
    with unit_of_work(factory) as session:
        return session.scalar(select(func.count()).select_from(Item))


# --- login and sessions --------------------------------------------------------------------


def test_login_page_renders(browser):
    page = browser().get("/login")
    assert 'name="username"' in page and 'name="password"' in page
    assert 'name="csrf_token"' in page
    assert html_lang(page) == "zh-CN"


def test_login_with_good_credentials_lands_in_the_inbox(browser):
    anonymous = browser()
    response = anonymous.login("registrar")
    assert response.status_code == 302
    assert response.headers["Location"] == "/inbox"
    page = anonymous.get("/inbox")
    assert 'data-testid="whoami"' in page and "registrar" in page
    assert 'data-testid="nav-register"' in page


@pytest.mark.parametrize(
    ("username", "password"),
    [("registrar", "wrong-password"), ("nobody", PASSWORD), ("registrar", "")],
    ids=["wrong-password", "unknown-user", "empty-password"],
)
def test_login_with_bad_credentials_is_401(browser, username, password):
    anonymous = browser()
    response = anonymous.login(username, password)
    assert response.status_code == 401
    page = text(response)
    if password:
        assert "用户名或密码错误" in page
    assert 'name="username"' in page  # the form again
    assert anonymous.client.get("/inbox").status_code == 302  # still signed out


@pytest.mark.parametrize(
    "path", ["/", "/inbox", "/inbox?tab=all", "/items", "/items/new", "/items/1", "/tasks/1",
             "/items/1/diagram.bpmn"],
)  # fmt: skip
def test_pages_need_login(browser, path):
    response = browser().client.get(path)
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login")


def test_logout_ends_the_session(browser):
    registrar = browser("registrar")
    response = registrar.submit("/logout", {})
    assert response.status_code == 302 and response.headers["Location"] == "/login"
    assert registrar.client.get("/inbox").status_code == 302


# --- CSRF ----------------------------------------------------------------------------------


def test_login_form_without_csrf_token_is_400(browser):
    anonymous = browser()
    anonymous.get("/login")
    response = anonymous.submit(
        "/login", {"username": "registrar", "password": PASSWORD}, csrf=False
    )
    assert response.status_code == 400
    assert anonymous.client.get("/inbox").status_code == 302
    forged = anonymous.client.post(
        "/login", data={"username": "registrar", "password": PASSWORD, "csrf_token": "forged"}
    )
    assert forged.status_code == 400


def test_task_form_and_actions_without_csrf_token_are_400(browser, factory):
    registrar = browser("registrar")
    item_id, task_id = register_via_form(registrar, factory)
    response = registrar.submit(f"/tasks/{task_id}", FORM_STEPS["register"], csrf=False)
    assert response.status_code == 400
    assert open_task(factory, item_id).id == task_id  # still open
    complete_via_form(registrar, factory, item_id, "register")

    drafter = browser("drafter")
    draft = open_task(factory, item_id)
    assert drafter.submit(f"/tasks/{draft.id}/claim", {}, csrf=False).status_code == 400
    assert open_task(factory, item_id).assignee_id is None
    assert drafter.submit("/logout", {}, csrf=False).status_code == 400
    assert drafter.client.get("/inbox").status_code == 200  # still signed in
    registered = item_count(factory)
    assert registrar.submit("/items/new", NEW_ITEM_FORM, csrf=False).status_code == 400
    assert item_count(factory) == registered


# --- inbox ---------------------------------------------------------------------------------


def test_inbox_tabs_show_the_right_tasks(browser, factory):
    registrar = browser("registrar")
    item_id, register_task = register_via_form(registrar, factory)
    assert task_rows(registrar.get("/inbox")) == [register_task]  # 我的待办 by default
    assert task_rows(registrar.get("/inbox?tab=mine")) == [register_task]
    assert task_rows(registrar.get("/inbox?tab=candidate")) == []
    assert task_rows(registrar.get("/inbox?tab=all")) == [register_task]
    assert task_rows(registrar.get("/inbox?tab=done")) == []
    complete_via_form(registrar, factory, item_id, "register")
    draft = open_task(factory, item_id).id
    assert task_rows(registrar.get("/inbox?tab=mine")) == []
    assert task_rows(registrar.get("/inbox?tab=done")) == [register_task]
    assert draft in task_rows(registrar.get("/inbox?tab=all"))

    drafter, other = browser("drafter"), browser("drafter_other")
    assert task_rows(drafter.get("/inbox")) == []
    page = drafter.get("/inbox?tab=candidate")
    assert task_rows(page) == [draft]
    assert 'data-testid="claim"' in page
    assert re.search(r'data-testid="tab-candidate">\s*\S+ <span class="badge[^"]*">1<', page)
    for tab in ("mine", "candidate", "all", "done"):
        assert task_rows(other.get(f"/inbox?tab={tab}")) == [], tab
    assert 'data-testid="inbox-empty"' in other.last

    response = drafter.submit(f"/tasks/{draft}/claim", {})
    assert response.status_code == 302 and response.headers["Location"] == f"/tasks/{draft}"
    assert task_rows(drafter.get("/inbox?tab=mine")) == [draft]
    assert task_rows(drafter.get("/inbox?tab=candidate")) == []
    assert task_rows(browser("drafter_b").get("/inbox?tab=candidate")) == []
    assert task_rows(drafter.get("/inbox?tab=nonsense")) == [draft]  # falls back to mine

    response = drafter.submit(f"/tasks/{draft}/release", {})
    assert response.status_code == 302
    assert task_rows(drafter.get("/inbox?tab=candidate")) == [draft]


def test_claiming_a_task_someone_else_holds_is_explained(browser, factory):
    registrar = browser("registrar")
    item_id, _ = register_via_form(registrar, factory)
    complete_via_form(registrar, factory, item_id, "register")
    draft = open_task(factory, item_id).id
    browser("drafter").submit(f"/tasks/{draft}/claim", {})
    other = browser("drafter_b")
    response = other.submit(f"/tasks/{draft}/claim", {})
    assert response.status_code == 302
    page = other.get(response.headers["Location"])
    assert "alert-danger" in page  # the conflict is flashed
    assert "此任务已由" in page
    with unit_of_work(factory) as session:
        assert session.get(Task, draft).assignee.username == "drafter"


# --- registering ---------------------------------------------------------------------------


def test_register_form_redirects_to_the_register_task(browser, factory):
    registrar = browser("registrar")
    form = registrar.get("/items/new")
    assert 'name="title"' in form and 'name="deputies"' in form
    response = registrar.submit("/items/new", NEW_ITEM_FORM)
    assert response.status_code == 302
    task_id = int(re.fullmatch(r"/tasks/(\d+)", response.headers["Location"]).group(1))
    page = registrar.get(f"/tasks/{task_id}")
    assert 'data-testid="task-title"' in page and "登记交办" in page
    assert re.search(r"已登记 \d{4}-建-0001", page)  # the flash message
    assert 'name="department"' in page and 'name="opinion"' in page
    with unit_of_work(factory) as session:
        task = session.get(Task, task_id)
        assert (task.bpmn_id, task.status, task.assignee.username) == (
            "register", "open", "registrar",
        )  # fmt: skip
        assert task.item.title == NEW_ITEM_FORM["title"]
        assert [d.name for d in task.item.deputies] == ["张代表", "李代表"]


@pytest.mark.parametrize(
    ("overrides", "fields"),
    [
        ({"title": ""}, {"title"}),
        ({"title": "", "deputies": ""}, {"title", "deputies"}),
        ({"content": "   "}, {"content"}),
        ({"received_at": "not-a-date"}, {"received_at"}),
        ({"received_at": "2026-13-45"}, {"received_at"}),
        ({"title": "长" * 301}, {"title"}),
    ],
    ids=["title", "title-deputies", "content", "date", "impossible-date", "long-title"],
)
def test_register_form_validation(browser, factory, overrides, fields):
    registrar = browser("registrar")
    response = registrar.submit("/items/new", {**NEW_ITEM_FORM, **overrides})
    assert response.status_code == 422
    assert set(field_errors(text(response))) == fields
    assert item_count(factory) == 0


def test_only_registrars_register(browser, factory):
    drafter = browser("drafter")
    assert 'data-testid="nav-register"' not in drafter.get("/inbox")
    response = drafter.submit("/items/new", NEW_ITEM_FORM)
    assert response.status_code in (200, 403)
    if response.status_code == 200:
        assert "alert-danger" in text(response)  # the refusal is explained
    assert item_count(factory) == 0


# --- task forms ----------------------------------------------------------------------------


def test_task_form_shows_field_errors_and_keeps_the_task_open(browser, factory):
    registrar = browser("registrar")
    item_id, task_id = register_via_form(registrar, factory)
    response = registrar.submit(f"/tasks/{task_id}", {"department": "", "opinion": "x"})
    assert response.status_code == 422
    page = text(response)
    errors = field_errors(page)
    assert set(errors) == {"department", "opinion"}
    assert all(errors.values())
    assert re.search(r'<textarea[^>]*name="opinion"[^>]*>x</textarea>', page)  # input kept
    assert "is-invalid" in page
    assert open_task(factory, item_id).id == task_id

    response = registrar.submit(
        f"/tasks/{task_id}", {"department": "不存在的庭", "opinion": "请办"}
    )
    assert response.status_code == 422
    assert set(field_errors(text(response))) == {"department"}
    assert open_task(factory, item_id).id == task_id


def test_rejection_needs_a_comment_and_is_shown_to_the_drafter(browser, factory):
    registrar, drafter, leader = browser("registrar"), browser("drafter"), browser("leader")
    item_id, _ = register_via_form(registrar, factory)
    complete_via_form(registrar, factory, item_id, "register")
    complete_via_form(drafter, factory, item_id, "draft")
    approve = open_task(factory, item_id)
    response = leader.submit(f"/tasks/{approve.id}", {"approved": "false"})
    assert response.status_code == 422
    assert set(field_errors(text(response))) == {"comment"}
    assert open_task(factory, item_id).id == approve.id

    complete_via_form(leader, factory, item_id, "reject")
    draft = open_task(factory, item_id)
    assert draft.bpmn_id == "draft"
    page = drafter.get(f"/tasks/{draft.id}")
    assert 'data-testid="rejection"' in page and "请补充具体措施" in page


def test_completed_flow_shows_timeline_and_archive_number(browser, factory):
    registrar, drafter, leader = browser("registrar"), browser("drafter"), browser("leader")
    item_id, _ = register_via_form(registrar, factory)
    for user, step in [
        (registrar, "register"),
        (drafter, "draft"),
        (leader, "reject"),
        (drafter, "draft"),
        (leader, "approve"),
        (registrar, "reply"),
    ]:
        response = complete_via_form(user, factory, item_id, step)
        assert response.headers["Location"] == "/inbox"
    last = open_task(factory, item_id)
    response = complete_via_form(registrar, factory, item_id, "file")
    assert response.headers["Location"] == f"/items/{item_id}"
    assert open_task(factory, item_id) is None

    page = registrar.get(f"/items/{item_id}")
    archive = re.search(r'data-testid="archive-number">([^<]+)<', page)
    assert archive and re.fullmatch(r"\d{4}-档-0001", archive.group(1))
    assert 'data-status="filed"' in page
    assert 'data-testid="open-tasks"' not in page
    timeline = page.split('data-testid="timeline"', 1)[1].split("</ol>", 1)[0]
    # registered + 7 completions + the meeting + the feedback request + a reply letter for
    # each of the two deputies + filed
    assert timeline.count('<li class="list-group-item">') == 13
    assert timeline.index("登记见面") < timeline.index("电话沟通") < timeline.index("答复")
    assert "请补充具体措施" in timeline and archive.group(1) in timeline
    assert timeline.index("登记") < timeline.index("请补充具体措施") < timeline.index("归档")
    assert 'data-done="' in page and "leader_approve" in page

    # The filed item's last task page now leads to the item (nothing left to do).
    response = registrar.client.get(f"/tasks/{last.id}")
    assert response.status_code == 302 and response.headers["Location"] == f"/items/{item_id}"
    # Visible to the handling department too, with the same archive number.
    assert archive.group(1) in drafter.get(f"/items/{item_id}")


# --- visibility and the diagram ------------------------------------------------------------


def test_another_departments_item_is_404(browser, factory):
    registrar = browser("registrar")
    item_id, _ = register_via_form(registrar, factory)
    complete_via_form(registrar, factory, item_id, "register")
    draft = open_task(factory, item_id).id

    other = browser("drafter_other")
    page = other.get(f"/items/{item_id}", status=404)
    assert NEW_ITEM_FORM["title"] not in page
    assert NEW_ITEM_FORM["title"] not in other.get(f"/tasks/{draft}", status=404)
    assert other.submit(f"/tasks/{draft}", FORM_STEPS["draft"]).status_code == 404
    assert other.submit(f"/tasks/{draft}/claim", {}).status_code == 404
    assert open_task(factory, item_id).assignee_id is None
    assert NEW_ITEM_FORM["title"] not in other.get("/items")
    other.get("/items/99999", status=404)

    assert NEW_ITEM_FORM["title"] in browser("drafter").get(f"/items/{item_id}")
    browser("designer").get(f"/items/{item_id}", status=404)


def test_item_diagram_is_the_bpmn_xml_for_visible_users_only(browser, factory):
    registrar = browser("registrar")
    item_id, _ = register_via_form(registrar, factory)
    response = registrar.client.get(f"/items/{item_id}/diagram.bpmn")
    assert response.status_code == 200
    assert response.mimetype == "application/xml"
    xml = text(response)
    assert "bpmn:definitions" in xml and 'id="suggestion"' in xml and 'id="register"' in xml
    page = registrar.get(f"/items/{item_id}")
    assert f'data-src="/items/{item_id}/diagram.bpmn"' in page
    # The shared subprocess the suggestion calls is shown too, in the version it runs on.
    assert f'data-src="/items/{item_id}/diagram.bpmn?process=common_handling"' in page
    shared = text(registrar.client.get(f"/items/{item_id}/diagram.bpmn?process=common_handling"))
    assert 'id="common_handling"' in shared and 'id="leader_approve"' in shared
    assert registrar.client.get(f"/items/{item_id}/diagram.bpmn?process=nope").status_code == 404

    for username in ("drafter_other", "designer", "drafter"):  # not yet assigned to 民一庭
        assert browser(username).client.get(f"/items/{item_id}/diagram.bpmn").status_code == 404
    complete_via_form(registrar, factory, item_id, "register")
    assert browser("drafter").client.get(f"/items/{item_id}/diagram.bpmn").status_code == 200
    assert browser("drafter_other").client.get(f"/items/{item_id}/diagram.bpmn").status_code == 404
    assert registrar.client.get(f"/items/{item_id + 1}/diagram.bpmn").status_code == 404


# --- language ------------------------------------------------------------------------------


def test_lang_parameter_switches_the_session_language(browser):
    registrar = browser("registrar")
    assert html_lang(registrar.get("/inbox")) == "zh-CN"
    assert html_lang(registrar.get("/inbox?lang=en")) == "en"
    assert html_lang(registrar.get("/items")) == "en"  # remembered in the session
    assert html_lang(registrar.get("/inbox?lang=klingon")) == "en"  # unknown: unchanged
    assert html_lang(registrar.get("/inbox?lang=zh_CN")) == "zh-CN"
    assert html_lang(registrar.get("/items")) == "zh-CN"
    response = registrar.client.get("/lang/en")
    assert response.status_code == 302
    assert html_lang(registrar.get(response.headers["Location"])) == "en"


def test_language_choice_works_before_login(browser):
    anonymous = browser()
    assert html_lang(anonymous.get("/login?lang=en")) == "en"
    assert html_lang(anonymous.get("/login")) == "en"


# --- robustness ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path", ["/inbox?page=99999999999999999999", "/items?page=99999999999999999999"]
)
def test_huge_page_numbers_do_not_crash(browser, path):
    response = browser("registrar").client.get(path)
    assert response.status_code in (200, 404, 422)


def test_nul_characters_in_forms_are_refused_cleanly(browser, factory):
    """PostgreSQL text cannot hold U+0000; forms carrying it get 400, never a 500."""
    anonymous = browser()
    assert anonymous.login("regis\x00trar").status_code == 400
    registrar = browser("registrar")
    response = registrar.submit("/items/new", {**NEW_ITEM_FORM, "title": "标\x00题"})
    assert response.status_code == 400
    with unit_of_work(factory) as session:
        assert session.scalar(select(func.count()).select_from(Item)) == 0
