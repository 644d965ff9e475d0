"""The workflow designer end to end in a real browser (Debian's Chromium via Playwright).

The shipped suggestion (v1) calls the shared subprocess `common_handling` for its draft and
approval; here the designer has deployed a self-contained suggestion diagram
(tests/fixtures/suggestion_standalone.bpmn) as v2 through the API. A registrar registers
two items on it. The designer then opens the modeler, is refused an XXE upload with the
server's reason, breaks and mends a step (clicking the problem selects the element),
gives 承办拟稿 a 7-working-day limit, renames 领导审批, hands the leader's lane to the
president, edits a form with its live preview, validates, saves a draft (v3), compares it
with the deployed version, dry-runs it, deploys it and migrates the second running item.
A new item then follows v3 (the drafter sees the edited form, the president gets the
approval), while the item registered before the deploy stays on v2 and is filed there by
the leader.

A drafter gets 403 on the designer pages and API. With LIAISON_SCREENSHOTS=1 the test
also writes docs/screenshot-designer.png for the README.
"""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest

from tests.browser_support import (
    DEMO_PASSWORD,
    DOCS,
    SCREENSHOTS,
    WatchedTab,
    chromium_page,
    needs_chromium,
)

pytestmark = needs_chromium

sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
expect = sync_api.expect

BPMN = "{http://www.omg.org/spec/BPMN/20100524/MODEL}"
SPIFF = "{http://spiffworkflow.org/bpmn/schema/1.0/core}"
NEW_COMMENT_TITLE = "补充说明 / Note for the president"
STANDALONE = (Path(__file__).parent / "fixtures" / "suggestion_standalone.bpmn").read_text(
    encoding="utf-8"
)
XXE = """<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE bpmn:definitions [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
    id="Definitions_xxe" targetNamespace="http://example.com/xxe">
  <bpmn:process id="suggestion" name="&xxe;" isExecutable="true">
    <bpmn:startEvent id="start" />
  </bpmn:process>
</bpmn:definitions>
"""


@pytest.fixture
def desk(server) -> Iterator[Desk]:
    with chromium_page(sync_api) as page:
        yield Desk(page, server.url)


class Desk(WatchedTab):
    """One browser tab on the live server; `api` calls the REST API with its session."""

    def __init__(self, page, base_url: str) -> None:
        super().__init__(page, base_url)
        page.on("dialog", lambda dialog: dialog.accept())  # the deploy confirmation

    def login(self, username: str) -> None:
        page = self.page
        page.goto(f"{self.url}/login")
        page.locator("#username").fill(username)
        page.locator("#password").fill(DEMO_PASSWORD)
        page.get_by_role("button", name="登录").click()
        expect(page).to_have_url(re.compile(r"/inbox"))

    def logout(self) -> None:
        self.page.get_by_test_id("logout").click()
        expect(self.page).to_have_url(re.compile(r"/login"))

    def api(self, method: str, path: str, body: dict | None = None, status: int = 200):
        token = self.page.locator('meta[name="csrf-token"]').get_attribute("content")
        response = self.page.request.fetch(
            f"{self.url}/api/v1{path}",
            method=method,
            headers={"X-CSRFToken": token, "Content-Type": "application/json"},
            data=None if body is None else json.dumps(body),
        )
        assert response.status == status, f"{method} {path}: {response.status} {response.text()}"
        return response.json() if "json" in response.headers.get("content-type", "") else None

    def complete(self, item_id: int, step: str, data: dict) -> dict:
        """Complete the item's open `step` through the API as the signed-in user."""
        item = self.api("GET", f"/items/{item_id}")
        (task,) = [t for t in item["open_tasks"] if t["name"] == step]
        return self.api("POST", f"/tasks/{task['id']}/complete", {"data": data})

    def open_item(self, item_id: int) -> None:
        self.page.goto(f"{self.url}/items/{item_id}")
        expect(self.page.get_by_test_id("item-summary")).to_be_visible()

    def element(self, element_id: str):
        return self.page.locator(f'#canvas .djs-element[data-element-id="{element_id}"]').first

    def select(self, element_id: str, position: dict | None = None) -> None:
        self.element(element_id).click(position=position)
        expect(self.page.get_by_test_id("properties")).to_have_attribute("data-element", element_id)

    def set_field(self, testid: str, value: str) -> None:
        field = self.page.get_by_test_id(testid)
        field.fill(value)
        field.press("Enter")  # the panel writes on change, not on every key


def test_designer_changes_how_new_items_move(server, desk, tmp_path):
    with desk.reporting_failures(server, tmp_path):
        _design_and_deploy(desk)


def _design_and_deploy(desk: Desk) -> None:
    page = desk.page

    # 1. The designer deploys the self-contained suggestion as v2 (through the API).
    desk.login("designer")
    base = desk.api(
        "POST",
        "/designer/processes/suggestion/versions",
        {"bpmn_xml": STANDALONE, "note": "自成一体的建议流程"},
        status=201,
    )
    assert (base["version"], base["deployable"]) == (2, True)
    desk.api("POST", f"/designer/versions/{base['id']}/deploy")
    desk.logout()

    # Before any change: the registrar registers two items, which run on v2.
    desk.login("registrar")
    old, waiting = (
        desk.api(
            "POST",
            "/items",
            {
                "kind": "suggestion",
                "title": title,
                "content": "建议周六上午开放诉讼服务中心。",
                "deputies": ["张建国"],
            },
            status=201,
        )
        for title in ("关于延长诉讼服务中心周末开放时间的建议", "关于诉讼服务中心延时服务的建议")
    )
    assert old["process"] == waiting["process"] == {"key": "suggestion", "version": 2}
    desk.complete(old["id"], "register", {"department": "民一庭", "opinion": "请民一庭办理。"})
    desk.logout()

    # 2. A drafter has no designer link and is refused the pages and the API.
    desk.login("drafter")
    expect(page.get_by_test_id("nav-designer")).to_have_count(0)
    for path in ("/designer", "/designer/suggestion"):
        response = page.goto(f"{desk.url}{path}")
        assert response is not None and response.status == 403, f"{path}: {response.status}"
    page.goto(f"{desk.url}/inbox")
    desk.api("GET", "/designer/processes", status=403)
    desk.logout()

    # 3. The designer opens the deployed suggestion workflow in the modeler.
    desk.login("designer")
    page.get_by_test_id("nav-designer").click()
    expect(page.locator('tr[data-process="suggestion"]')).to_contain_text("v2")
    page.get_by_test_id("edit-suggestion").click()
    designer = page.locator('#designer[data-ready="true"]')
    expect(designer).to_have_attribute("data-version-status", "deployed")
    expect(page.get_by_test_id("version-label")).to_have_text("v2")
    expect(desk.element("draft")).to_be_visible()
    expect(desk.element("leader_approve")).to_contain_text("领导审批")

    # 4. An XXE upload is refused with the server's reason; the diagram is untouched.
    page.get_by_test_id("upload-file").set_input_files(
        files=[{"name": "xxe.bpmn", "mimeType": "application/xml", "buffer": XXE.encode()}]
    )
    message = page.get_by_test_id("designer-message")
    expect(message).to_have_attribute("data-kind", "danger")
    expect(message).to_contain_text("文件被拒绝")
    expect(message).to_contain_text("DTD")
    expect(page.get_by_test_id("dirty")).to_be_hidden()
    expect(desk.element("draft")).to_be_visible()

    # 5. A step without a form is a problem; clicking it selects the step.
    desk.select("file")
    page.get_by_test_id("prop-form").select_option("")
    page.get_by_test_id("validate").click()
    problem = page.locator('#problem-list [data-element-id="file"]')
    expect(problem).to_contain_text("表单")
    desk.select("draft")
    problem.click()
    expect(page.get_by_test_id("properties")).to_have_attribute("data-element", "file")
    expect(page.locator('#canvas .djs-element.selected[data-element-id="file"]')).to_have_count(1)
    page.get_by_test_id("prop-form").select_option("file.schema.json")

    # 6. The real change: a 7-day drafting limit, a renamed approval step, and the
    #    leader's lane handed to the president.
    desk.select("draft")
    expect(page.get_by_test_id("prop-due_working_days")).to_have_value("10")
    desk.set_field("prop-due_working_days", "7")
    expect(page.get_by_test_id("dirty")).to_be_visible()
    desk.select("leader_approve")
    expect(page.get_by_test_id("prop-task-role")).to_contain_text("leader")
    desk.set_field("prop-name", "院长审批")
    expect(desk.element("leader_approve")).to_contain_text("院长审批")
    desk.select("Lane_leader", position={"x": 120, "y": 12})
    page.get_by_test_id("prop-role").select_option("president")
    desk.select("leader_approve")
    expect(page.get_by_test_id("prop-task-role")).to_contain_text("president")

    # 7. The form editor: a JSON error shows inline, a valid edit shows in the preview.
    desk.select("draft")
    page.get_by_role("button", name="编辑此表单").click()
    expect(page.get_by_test_id("form-select")).to_have_value("draft.schema.json")
    preview = page.get_by_test_id("form-preview")
    expect(preview.locator('[data-preview-field="draft"] textarea')).to_have_count(1)
    editor = page.get_by_test_id("form-json")
    schema = json.loads(editor.input_value())
    editor.fill(editor.input_value().rstrip().rstrip("}"))
    expect(page.get_by_test_id("form-error")).to_contain_text("JSON")
    schema["properties"]["comment"]["title"] = NEW_COMMENT_TITLE
    editor.fill(json.dumps(schema, ensure_ascii=False, indent=2))
    expect(page.get_by_test_id("form-error")).to_have_text("")
    expect(preview).to_contain_text(NEW_COMMENT_TITLE)

    # 8. Validate, then save the draft with a note.
    page.get_by_test_id("validate").click()
    expect(page.get_by_test_id("problem-summary")).to_have_attribute("data-deployable", "true")
    expect(page.get_by_test_id("problems").locator("button")).to_have_count(0)
    page.get_by_test_id("save-note").fill("承办期限改为7个工作日，审批改由院长")
    page.get_by_test_id("save").click()
    expect(message).to_contain_text("已保存草稿 v3")
    expect(page.get_by_test_id("version-label")).to_have_text("v3")
    expect(designer).to_have_attribute("data-version-status", "draft")
    expect(page.get_by_test_id("dirty")).to_be_hidden()
    expect(page).to_have_url(re.compile(r"/designer/suggestion\?version=\d+"))
    v3_id = int(designer.get_attribute("data-version-id"))
    _check_saved(desk, v3_id)

    # 9. History: compare the draft with the deployed version, on the lists and canvases.
    page.locator("#tab-history").click()
    row = page.locator('#history-rows tr[data-version="3"]')
    expect(row).to_contain_text("承办期限改为7个工作日")
    expect(row).to_contain_text("designer")
    row.get_by_test_id("compare").click()
    changed = page.locator('[data-diff="changed"]')
    for element_id in ("draft", "leader_approve", "Lane_leader"):
        expect(changed.locator(f'[data-element-id="{element_id}"]')).to_have_count(1)
    expect(changed).to_contain_text("due_working_days=7")
    expect(page.locator("#diff-forms")).to_contain_text("draft.schema.json")
    expect(page.locator('#diff-new[data-rendered="true"] .diff-changed')).not_to_have_count(0)
    expect(
        page.locator('#canvas .djs-element.diff-changed[data-element-id="draft"]')
    ).to_have_count(1)
    if SCREENSHOTS:
        desk.select("draft")
        page.get_by_role("button", name="编辑此表单").click()
        page.locator("#tab-diff").click()
        DOCS.mkdir(exist_ok=True)
        page.screenshot(path=str(DOCS / "screenshot-designer.png"), full_page=True)

    # 10. Dry run the draft: the sample walks to the end, the approval is the president's.
    page.locator("#tab-dry").click()
    page.get_by_test_id("dry-sample").click()
    expect(page.get_by_test_id("dry-steps")).to_have_value(re.compile("leader_approve"))
    page.get_by_test_id("dry-run").click()
    expect(page.get_by_test_id("dry-ended")).to_have_attribute("data-ended", "true")
    dry_path = page.get_by_test_id("dry-path")
    expect(dry_path.locator("li")).to_have_count(5)
    expect(dry_path.locator('li[data-element-id="leader_approve"]')).to_contain_text("· 院长")
    expect(dry_path.locator('li[data-ok="false"]')).to_have_count(0)

    # 11. Deploy: v3 is current for new items.
    page.get_by_test_id("deploy").click()
    expect(message).to_contain_text("v3 已部署")
    expect(designer).to_have_attribute("data-version-status", "deployed")
    page.goto(f"{desk.url}/designer")
    expect(page.locator('tr[data-process="suggestion"]')).to_contain_text("v3")

    # 12. Migration: running items on earlier versions (the demo's on the shipped v1 too)
    #     are listed with can_migrate; move the second item registered on v2.
    page.goto(f"{desk.url}/designer/suggestion")
    expect(designer).to_have_attribute("data-version-id", str(v3_id))
    page.locator("#tab-migrate").click()
    expect(page.get_by_test_id("migrate-to")).to_have_value(str(v3_id))
    page.get_by_test_id("migrate-find").click()
    rows = page.locator("#migration-rows tr")
    expect(rows.first).to_be_visible()
    ours = page.locator(f'#migration-rows tr[data-item-id="{old["id"]}"]')
    expect(ours).to_contain_text("v2")
    expect(ours).to_contain_text("draft")
    movable = page.locator(f'#migration-rows tr[data-item-id="{waiting["id"]}"]')
    expect(movable).to_contain_text("v2")
    expect(movable.locator("input")).to_be_enabled()
    moved_id = waiting["id"]
    movable.locator("input").check()
    page.get_by_test_id("migrate").click()
    result = page.locator(f'[data-testid="migration-results"] li[data-item-id="{moved_id}"]')
    expect(result).to_have_attribute("data-migrated", "true")
    desk.logout()

    # 13. A new item follows v3: registered in the UI, drafted on the edited form,
    #     approved by the president (no longer the leader).
    desk.login("registrar")
    page.get_by_test_id("nav-register").click()
    title = "关于增设诉讼服务中心自助立案设备的建议"
    page.locator("#title").fill(title)
    page.locator("#content").fill("建议在诉讼服务中心增设两台自助立案设备。")
    page.locator("#deputies").fill("李秀英")
    page.get_by_test_id("register-submit").click()
    expect(page.get_by_test_id("task-title")).to_contain_text("登记交办")
    page.locator("#f-department").select_option("民一庭")
    page.locator("#f-opinion").fill("请民一庭研究办理。")
    page.get_by_test_id("complete").click()
    expect(page).to_have_url(re.compile(r"/inbox"))
    (new,) = desk.api("GET", f"/items?q={quote(title)}")["items"]
    for item_id, version in ((new["id"], "v3"), (moved_id, "v3"), (old["id"], "v2")):
        desk.open_item(item_id)
        expect(page.locator("h3", has_text="流程图")).to_contain_text(f"suggestion {version}")
    desk.logout()

    desk.login("drafter")
    (draft_task,) = desk.api("GET", f"/items/{new['id']}")["open_tasks"]
    page.goto(f"{desk.url}/tasks/{draft_task['id']}")
    expect(page.get_by_test_id("task-form")).to_contain_text(NEW_COMMENT_TITLE)
    page.locator("#f-draft").fill("经研究，我院将于下季度增设两台自助立案设备。")
    page.get_by_test_id("complete").click()
    expect(page).to_have_url(re.compile(r"/inbox"))
    # The old item's draft still uses the v2 form.
    (old_draft,) = desk.api("GET", f"/items/{old['id']}")["open_tasks"]
    page.goto(f"{desk.url}/tasks/{old_draft['id']}")
    expect(page.get_by_test_id("task-form")).to_contain_text("说明 / Note to the leader")
    expect(page.get_by_test_id("task-form")).not_to_contain_text(NEW_COMMENT_TITLE)
    desk.complete(old["id"], "draft", {"draft": "经研究，我院将试行周六上午开放诉讼服务中心。"})
    desk.logout()

    desk.login("leader")  # on v2 the approval is still the leader's; on v3 it is not
    (old_approval,) = desk.api("GET", f"/items/{old['id']}")["open_tasks"]
    assert (old_approval["name"], old_approval["role"]) == ("leader_approve", "leader")
    candidates = desk.api("GET", "/tasks?scope=candidate&per_page=100")["items"]
    assert new["id"] not in {t["item_id"] for t in candidates}
    desk.complete(old["id"], "leader_approve", {"approved": True, "comment": "同意。"})
    desk.logout()

    desk.login("president")
    (new_approval,) = desk.api("GET", f"/items/{new['id']}")["open_tasks"]
    assert (new_approval["title"], new_approval["role"]) == ("院长审批", "president")
    page.goto(f"{desk.url}/tasks/{new_approval['id']}")
    expect(page.get_by_test_id("task-title")).to_contain_text("院长审批")
    page.locator("#f-approved-true").check()
    page.get_by_test_id("complete").click()
    expect(page).to_have_url(re.compile(r"/inbox"))
    desk.logout()

    # 14. The old item finishes on v2.
    desk.login("registrar")
    desk.complete(
        old["id"], "reply", {"reply_class": "A", "reply": "代表您好：我院已试行周六上午开放。"}
    )
    filed = desk.complete(old["id"], "file", {"comment": "归档。"})
    assert filed["status"] == "filed" and filed["process"]["version"] == 2
    desk.open_item(old["id"])
    expect(page.get_by_test_id("item-status")).to_have_attribute("data-status", "filed")
    expect(page.locator("h3", has_text="流程图")).to_contain_text("suggestion v2")
    expect(page.locator('#diagram[data-rendered="true"]')).to_contain_text("领导审批")
    new_now = desk.api("GET", f"/items/{new['id']}")
    assert new_now["process"]["version"] == 3
    assert [t["name"] for t in new_now["open_tasks"]] == ["reply"]


def _check_saved(desk: Desk, version_id: int) -> None:
    """The saved XML carries the panel's edits as SpiffWorkflow reads them."""
    response = desk.page.request.get(f"{desk.url}/api/v1/designer/versions/{version_id}/bpmn")
    assert response.ok, response.status
    root = ET.fromstring(response.body())
    nodes = {node.get("id"): node for node in root.iter() if node.get("id")}
    properties = {p.get("name"): p.get("value") for p in nodes["draft"].iter(f"{SPIFF}property")}
    assert properties == {"due_working_days": "7", "remind_working_days": "2"}
    assert nodes["leader_approve"].get("name") == "院长审批"
    assert nodes["Lane_leader"].get("name") == "president"
    assert nodes["file"].findtext(f".//{SPIFF}formJsonSchemaFilename") == "file.schema.json"
    assert nodes["flow_approved"].findtext(f"{BPMN}conditionExpression") == "approved == True"
    version = desk.api("GET", f"/designer/versions/{version_id}")
    assert (
        version["deployable"] is True and version["note"] == "承办期限改为7个工作日，审批改由院长"
    )
    assert version["forms"]["draft.schema.json"]["properties"]["comment"]["title"] == (
        NEW_COMMENT_TITLE
    )
