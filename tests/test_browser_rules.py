"""End to end in a real browser: a co-handled suggestion grows every rule around the spine.

Against `liaison demo` + `liaison serve` in Debian's Chromium, as the demo users in turn:

registrar registers a joint suggestion, lead 刑一庭 with 执行局 co-handling → 执行局
gives its opinion → 刑一庭 sees it and sends the item back (退回) to 民一庭 → the
registrar sees why and re-routes → 民一庭 asks for an extension (延期) and drafts → the
leader approves the extension (the deadline moves) and the draft → the registrar records
a phone meeting (见面), replies and files → a deputy opens their signed link without
logging in and rates 不满意 → the item is open again, round 2, back at 民一庭's draft.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from tests.browser_desk import Desk
from tests.browser_support import needs_chromium

pytestmark = needs_chromium

sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
expect = sync_api.expect


def test_co_handled_suggestion_with_send_back_extension_and_rehandling(server, desk, tmp_path):
    with desk.reporting_failures(server, tmp_path):
        _grow_suggestion(desk)


def _grow_suggestion(desk: Desk) -> None:
    page = desk.page
    title = "关于完善执行款发放通知机制的建议"
    today = datetime.now(ZoneInfo("Asia/Shanghai")).date()
    extended_to = (today + timedelta(days=120)).isoformat()  # past 3 months, within 6
    co_opinion = "执行局意见：建议在执行款到账后三日内短信通知申请人。"
    send_back = "本件涉及执行款发放通知，不属刑事审判职责。"
    complaint = "答复未说明具体时间表，不满意。"

    # 1. The registrar registers a joint suggestion: lead 刑一庭, co-handling 执行局.
    desk.login("registrar", "王联络")
    page.get_by_test_id("nav-register").click()
    page.locator("#kind").select_option("suggestion")
    page.locator("#title").fill(title)
    page.locator("#content").fill("代表反映执行款到账后申请人不知情，建议建立主动通知机制。")
    page.locator("#deputies").fill("张建国，李秀英")
    page.get_by_test_id("register-submit").click()
    expect(page.get_by_test_id("task-title")).to_contain_text("登记交办")
    number = page.get_by_test_id("item-number").inner_text().strip()
    page.locator("#f-department").select_option("刑一庭")
    page.get_by_test_id("choices-co_departments").get_by_label("执行局").check()
    page.locator("#f-opinion").fill("请刑一庭主办，执行局协办。")
    desk.complete()
    page.get_by_role("link", name="事项", exact=True).click()
    page.locator("input[name=q]").fill(title)
    page.get_by_role("button", name="查询").click()
    page.get_by_role("link", name=title).click()
    item_url = page.url
    expect(page.get_by_test_id("item-department")).to_contain_text("协办：执行局")
    desk.logout()

    # 2. 执行局 gives its co-handling opinion from its own inbox.
    desk.login("drafter3", "钱承办")
    desk.open_candidate_task(number, "协办意见")
    page.locator("#f-opinion").fill(co_opinion)
    desk.complete()
    desk.logout()

    # 3. 刑一庭 sees the opinion beside its draft, and sends the item back to the registrar.
    desk.login("drafter2", "赵承办")
    desk.open_candidate_task(number, "承办拟稿")
    expect(page.get_by_test_id("co-opinions")).to_contain_text(co_opinion)
    page.locator("#f-action").select_option("send_back")
    page.get_by_test_id("complete").click()  # no reason given: refused, naming the fields
    expect(page.locator("[data-field-error=send_back_reason]")).to_be_visible()
    page.locator("#f-send_back_reason").fill(send_back)
    page.locator("#f-suggested_department").select_option("民一庭")
    desk.complete()
    desk.logout()

    # 4. The registrar reads why and re-routes to 民一庭.
    desk.login("registrar", "王联络")
    desk.open_candidate_task(number, "重新交办")
    expect(page.get_by_test_id("send-back-reason")).to_contain_text(send_back)
    expect(page.get_by_test_id("send-back-reason")).to_contain_text("民一庭")
    page.locator("#f-department").select_option("民一庭")
    page.locator("#f-opinion").fill("改交民一庭主办。")
    desk.complete()
    desk.logout()

    # 5. 民一庭 asks for an extension, then drafts.
    desk.login("drafter", "李承办")
    page.goto(item_url)
    page.get_by_test_id("extensions").locator("summary").click()
    page.locator("#extension-due").fill(extended_to)
    page.locator("#extension-reason").fill("需协调银行系统对接，三个月内难以完成。")
    page.get_by_test_id("extension-submit").click()
    expect(page.locator('[data-testid="extension-list"] [data-status="pending"]')).to_have_count(1)
    desk.open_candidate_task(number, "承办拟稿")
    page.locator("#f-draft").fill("经研究，我院将与银行建立执行款到账短信通知机制，年内上线。")
    desk.complete()
    desk.logout()

    # 6. The leader approves the extension (the deadline moves) and the draft.
    desk.login("leader", "陈院长")
    page.goto(item_url)
    page.get_by_test_id("decide-form").locator("input[name=comment]").fill("同意延期。")
    page.get_by_test_id("approve-extension").click()
    expect(page.locator('[data-testid="extension-list"] [data-status="approved"]')).to_have_count(1)
    expect(page.get_by_test_id("item-due")).to_contain_text(extended_to)
    desk.open_candidate_task(number, "领导审批")
    page.locator("#f-approved-true").check()
    desk.complete()
    desk.logout()

    # 7. The registrar cannot reply before meeting the deputies; records a call, replies, files.
    desk.login("registrar", "王联络")
    desk.open_candidate_task(number, "答复代表")
    page.locator("#f-reply_class").select_option("A")
    page.locator("#f-reply").fill("代表您好：我院已与银行建立执行款到账短信通知机制。")
    page.get_by_test_id("complete").click()
    expect(page.locator('[data-testid="rule-error"][data-field-error="meeting"]')).to_be_visible()
    page.goto(item_url)
    expect(page.get_by_test_id("meeting-needed")).to_be_visible()
    page.locator("#meeting-met-on").fill(today.isoformat())
    page.locator("#meeting-method").select_option("phone")
    page.locator("#meeting-notes").fill("电话沟通办理进展，代表希望明确时间表。")
    page.get_by_test_id("meeting-submit").click()
    expect(page.get_by_test_id("meeting-met")).to_be_visible()
    desk.open_candidate_task(number, "答复代表")
    page.locator("#f-reply_class").select_option("A")
    page.locator("#f-reply").fill("代表您好：我院已与银行建立执行款到账短信通知机制。")
    desk.complete()
    desk.open_candidate_task(number, "归档")
    page.get_by_test_id("complete").click()
    expect(page).to_have_url(item_url)
    expect(page.get_by_test_id("item-status")).to_have_attribute("data-status", "filed")
    links = page.get_by_test_id("feedback-link")
    expect(links).to_have_count(2)  # one per deputy of the joint suggestion
    link = links.first.input_value()
    desk.logout()

    # 8. A deputy opens the signed link without logging in and rates 不满意.
    page.goto(link)
    expect(page.get_by_test_id("feedback-title")).to_contain_text(title)
    expect(page.get_by_test_id("feedback-reply")).to_contain_text("短信通知机制")
    page.locator("label[for=rating-unsatisfied]").click()
    page.locator("#comment").fill(complaint)
    page.get_by_test_id("feedback-submit").click()
    expect(page.get_by_test_id("feedback-rehandling")).to_be_visible()

    # 9. The item is open again for a second round, back at 民一庭's draft.
    desk.login("registrar", "王联络")
    page.goto(item_url)
    expect(page.get_by_test_id("item-status")).to_have_attribute("data-status", "open")
    expect(page.get_by_test_id("item-round")).to_contain_text("2")
    expect(page.get_by_test_id("open-tasks")).to_contain_text("承办拟稿")
    expect(page.get_by_test_id("open-tasks")).to_contain_text("民一庭")
    expect(page.get_by_test_id("feedback")).to_contain_text(complaint)
    timeline = page.get_by_test_id("timeline")
    for text in (co_opinion, send_back, "同意延期。", complaint):
        expect(timeline).to_contain_text(text)
    expect(timeline).to_contain_text(re.compile("重新办理"))
    desk.logout()
