"""The steps a clerk takes in the UI, shared by the browser tests (`desk` fixture)."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from playwright import sync_api
from playwright.sync_api import expect

from tests.browser_support import DEMO_PASSWORD, WatchedTab, chromium_page


@pytest.fixture
def desk(server) -> Iterator[Desk]:
    """A Chromium tab on the live demo server."""
    with chromium_page(sync_api) as page:
        yield Desk(page, server.url)


class Desk(WatchedTab):
    """The steps a clerk takes in the UI, as one browser tab on the live server."""

    def login(self, username: str, display_name: str) -> None:
        page = self.page
        page.goto(f"{self.url}/login")
        page.locator("#username").fill(username)
        page.locator("#password").fill(DEMO_PASSWORD)
        page.get_by_role("button", name="登录").click()
        expect(page).to_have_url(re.compile(r"/inbox"))
        expect(page.get_by_test_id("whoami")).to_contain_text(display_name)

    def logout(self) -> None:
        self.page.get_by_test_id("logout").click()
        expect(self.page).to_have_url(re.compile(r"/login"))
        expect(self.page.get_by_test_id("whoami")).to_have_count(0)

    def inbox_row(self, tab: str, number: str):
        self.page.get_by_test_id("nav-inbox").click()
        self.page.get_by_test_id(f"tab-{tab}").click()
        expect(self.page.get_by_test_id(f"tab-{tab}")).to_have_class(re.compile(r"\bactive\b"))
        return self.page.locator(f'tr[data-item-number="{number}"]')

    def open_candidate_task(self, number: str, task_title: str) -> None:
        """Open the item's task from the 待签收 tab with 办理 (no claim needed)."""
        row = self.inbox_row("candidate", number)
        expect(row).to_have_count(1)
        expect(row).to_contain_text(task_title)
        row.get_by_test_id("open-task").click()
        expect(self.page.get_by_test_id("task-title")).to_contain_text(task_title)

    def complete(self) -> None:
        """Submit the task form and expect to be back in the inbox with a success note."""
        self.page.get_by_test_id("complete").click()
        expect(self.page).to_have_url(re.compile(r"/inbox"))
        expect(self.page.locator(".alert-success")).to_contain_text("已完成")
