"""End to end in a real browser: a new suggestion from registration to filing.

Starts `liaison demo` + `liaison serve` in a temporary instance folder and drives Debian's
Chromium (/usr/bin/chromium) through Playwright as the demo users, one after another:

registrar registers and assigns to 民一庭 → drafter2 (刑一庭) cannot see it → drafter
claims and drafts (an empty draft is refused first) → leader sends it back → drafter sees
the comment and redrafts → leader approves → registrar records a phone call with the
deputies on the item page, replies and files → the item page shows the filed status,
archive number, timeline and the rendered BPMN diagram.

With LIAISON_SCREENSHOTS=1 it also writes docs/screenshot-item.png and
docs/screenshot-inbox.png for the README.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from tests.browser_desk import Desk
from tests.browser_support import DOCS, SCREENSHOTS, needs_chromium

pytestmark = needs_chromium

sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
expect = sync_api.expect


def test_suggestion_from_registration_to_filing(server, desk, tmp_path):
    with desk.reporting_failures(server, tmp_path):
        _walk_suggestion(desk)


def _walk_suggestion(desk: Desk) -> None:
    page = desk.page
    title = "关于优化诉讼服务中心窗口设置的建议"  # the instance is fresh: the title is unique
    received = (datetime.now(ZoneInfo("Asia/Shanghai")) - timedelta(days=3)).date()
    opinion = "请民一庭研究办理，十个工作日内拟稿。"
    rejection = "请补充具体整改措施和完成时限。"
    first_draft = "经研究，我院将优化诉讼服务中心窗口设置，增设导诉岗位。"
    second_draft = "经研究，我院将于三个月内增设两个综合窗口，并安排专人导诉，逐月通报进展。"
    reply = "代表您好：您提出的建议已办理完毕，我院已增设综合窗口并安排专人导诉。"

    # 1. The registrar registers the suggestion and assigns it to 民一庭.
    desk.login("registrar", "王联络")
    page.get_by_test_id("nav-register").click()
    page.locator("#title").fill(title)
    page.locator("#content").fill(
        "代表反映诉讼服务中心窗口排队时间长，建议优化窗口设置，增设导诉人员。"
    )
    page.locator("#deputies").fill("张建国，李秀英")
    page.locator("#received_at").fill(received.isoformat())
    page.get_by_test_id("register-submit").click()
    expect(page.get_by_test_id("task-title")).to_contain_text("登记交办")
    expect(page.locator(".alert-success")).to_contain_text("已登记")
    number = page.get_by_test_id("item-number").inner_text().strip()
    assert number, "the new item has no number"
    summary = page.get_by_test_id("item-summary")
    expect(summary).to_contain_text(title)
    expect(summary).to_contain_text("张建国、李秀英")
    expect(summary).to_contain_text(f"{received.isoformat()} 09:00")
    page.locator("#f-department").select_option("民一庭")
    page.locator("#f-opinion").fill(opinion)
    desk.complete()
    if SCREENSHOTS:  # the court-wide inbox: demo items at every step, plus ours
        expect(desk.inbox_row("all", number)).to_contain_text("承办拟稿")
        _screenshot(page, "screenshot-inbox.png")

    # Find the item through the item list; remember its page and its open draft task.
    page.get_by_role("link", name="事项", exact=True).click()
    page.locator("input[name=q]").fill(title)
    page.get_by_role("button", name="查询").click()
    page.get_by_role("link", name=title).click()
    expect(page.get_by_test_id("item-number")).to_have_text(number)
    item_url = page.url
    open_tasks = page.get_by_test_id("open-tasks")
    expect(open_tasks).to_contain_text("承办拟稿")
    expect(open_tasks).to_contain_text("民一庭")
    draft_url = open_tasks.get_by_role("link", name="办理").get_attribute("href")
    desk.logout()

    # 2. A drafter of another department neither sees it nor can open it.
    desk.login("drafter2", "赵承办")
    for tab in ("mine", "candidate", "all"):
        expect(desk.inbox_row(tab, number)).to_have_count(0)
    for url in (item_url, f"{desk.url}{draft_url}"):
        response = page.goto(url)
        assert response is not None and response.status == 404, f"{url}: {response.status}"
        expect(page.locator(".alert-warning")).to_contain_text("404")
    desk.logout()

    # 3. The 民一庭 drafter claims it from 待签收; an empty draft is refused, then drafts.
    desk.login("drafter", "李承办")
    row = desk.inbox_row("candidate", number)
    expect(row).to_have_count(1)
    expect(row).to_contain_text("承办拟稿")
    row.get_by_test_id("claim").click()
    expect(page.get_by_test_id("task-title")).to_contain_text("承办拟稿")
    expect(page.get_by_test_id("release")).to_be_visible()  # claimed by me
    page.get_by_test_id("complete").click()
    expect(page.locator("[data-field-error=draft]")).to_be_visible()
    expect(page.locator("[data-field-error=draft]")).to_contain_text("必填")
    expect(page.locator("#f-draft")).to_have_class(re.compile(r"\bis-invalid\b"))
    page.locator("#f-draft").fill(first_draft)
    desk.complete()
    expect(desk.inbox_row("mine", number)).to_have_count(0)
    desk.logout()

    # 4. The leader sends it back with a comment.
    desk.login("leader", "陈院长")
    desk.open_candidate_task(number, "领导审批")
    expect(page.get_by_test_id("timeline")).to_contain_text(opinion)
    page.locator("#f-approved-false").check()
    page.locator("#f-comment").fill(rejection)
    desk.complete()
    desk.logout()

    # 5. The drafter sees why and redrafts.
    desk.login("drafter", "李承办")
    desk.open_candidate_task(number, "承办拟稿")
    expect(page.get_by_test_id("rejection")).to_contain_text(rejection)
    page.locator("#f-draft").fill(second_draft)
    desk.complete()
    desk.logout()

    # 6. The leader approves.
    desk.login("leader", "陈院长")
    desk.open_candidate_task(number, "领导审批")
    page.locator("#f-approved-true").check()
    page.locator("#f-comment").fill("同意。")
    desk.complete()
    desk.logout()

    # 7. The registrar records the phone call with the deputies (a suggestion is answered
    #    only after meeting them), then replies (class A) and files.
    desk.login("registrar", "王联络")
    page.goto(item_url)
    meetings = page.get_by_test_id("meetings")
    expect(meetings.get_by_test_id("meeting-needed")).to_be_visible()
    meetings.locator("#meeting-method").select_option("phone")
    meetings.locator("#meeting-notes").fill("电话告知代表办理情况，代表表示认可。")
    meetings.get_by_test_id("meeting-submit").click()
    expect(page.locator(".alert-success")).to_contain_text("已登记见面情况")
    expect(page.get_by_test_id("meetings").get_by_test_id("meeting-met")).to_be_visible()
    expect(page.get_by_test_id("meeting-list")).to_contain_text("电话")
    desk.open_candidate_task(number, "答复代表")
    page.locator("#f-reply_class").select_option("A")
    page.locator("#f-reply").fill(reply)
    desk.complete()
    desk.open_candidate_task(number, "归档")
    page.locator("#f-comment").fill("材料齐全，归档。")
    page.get_by_test_id("complete").click()

    # 8. Filing lands on the item page: filed, archived, full timeline, diagram drawn.
    expect(page).to_have_url(item_url)
    expect(page.get_by_test_id("item-status")).to_have_attribute("data-status", "filed")
    expect(page.get_by_test_id("archive-number")).to_have_text(re.compile(r"\S"))
    expect(page.get_by_test_id("open-tasks")).to_have_count(0)
    timeline = page.get_by_test_id("timeline")
    for text in (opinion, rejection, "同意。", "材料齐全，归档。"):
        expect(timeline).to_contain_text(text)
    # registered, 7 completions, the meeting, the feedback request, a reply letter for each
    # of the two deputies, filed
    expect(timeline.locator("li")).to_have_count(14)
    expect(timeline).to_contain_text("电话告知代表办理情况")
    letters = page.locator('[data-testid="attachments"] tr[data-kind="reply_letter"]')
    expect(letters).to_have_count(2)
    diagram = page.locator('#diagram[data-rendered="true"]')
    expect(diagram).to_be_visible()
    expect(diagram.locator("svg").first).to_be_visible()
    expect(diagram.locator('[data-element-id="register"]').first).to_be_visible()
    shared = page.locator('[data-testid="diagram-common_handling"][data-rendered="true"]')
    expect(shared.locator('[data-element-id="leader_approve"]').first).to_be_visible()
    if SCREENSHOTS:  # without the flash message, diagram drawn again
        page.reload()
        expect(page.locator('#diagram[data-rendered="true"] svg').first).to_be_visible()
        _screenshot(page, "screenshot-item.png")
    desk.logout()


def _screenshot(page, name: str) -> None:
    DOCS.mkdir(exist_ok=True)
    page.screenshot(path=str(DOCS / name))
