"""Every corpus diagram opens in the designer's bpmn-js modeler (Debian's Chromium).

`tests/test_corpus.py` checks the server's validation report for the same 200 files;
this test checks the other half of the promise: a designer can open each of them in the
browser to look at it and fix it.
"""

from __future__ import annotations

import re

import pytest

from tests.browser_support import (
    DEMO_PASSWORD,
    WatchedTab,
    chromium_page,
    needs_chromium,
)
from tests.test_corpus import CORPUS, FILES

pytestmark = [pytest.mark.skipif(not FILES, reason=f"no BPMN corpus at {CORPUS}"), needs_chromium]
sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")

# Runs in the designer page, whose window.BpmnJS is the modeler bundle: import each file
# into a fresh off-screen modeler and report how it went.
IMPORT_ALL = """
async (files) => {
  const results = [];
  for (const [name, xml] of files) {
    const container = document.createElement("div");
    container.style.cssText = "position:absolute;left:-5000px;width:800px;height:600px";
    document.body.appendChild(container);
    const modeler = new window.BpmnJS({ container });
    try {
      const { warnings } = await modeler.importXML(xml);
      const shapes = modeler.get("elementRegistry").getAll().length;
      results.push({ name, ok: true, warnings: warnings.length, shapes });
    } catch (error) {
      results.push({ name, ok: false, error: String(error.message || error) });
    } finally {
      modeler.destroy();
      container.remove();
    }
  }
  return results;
}
"""


def test_every_corpus_file_opens_in_the_modeler(server, capsys):
    with chromium_page(sync_api) as page:
        tab = WatchedTab(page, server.url)
        page.goto(f"{server.url}/login")
        page.locator("#username").fill("designer")
        page.locator("#password").fill(DEMO_PASSWORD)
        page.get_by_role("button", name="登录").click()
        sync_api.expect(page).to_have_url(re.compile(r"/inbox"))
        page.goto(f"{server.url}/designer/suggestion")
        page.wait_for_function("() => typeof window.BpmnJS === 'function'")
        results = []
        files = [(str(path.relative_to(CORPUS)), path.read_text("utf-8")) for path in FILES]
        for start in range(0, len(files), 20):
            results += page.evaluate(IMPORT_ALL, files[start : start + 20])
        assert tab.problems == []
    failed = {r["name"]: r["error"] for r in results if not r["ok"]}
    empty = [r["name"] for r in results if r["ok"] and r["shapes"] == 0]
    with capsys.disabled():
        warned = sum(1 for r in results if r["ok"] and r["warnings"])
        print(
            f"\ncorpus in the modeler: {len(results)} files, {len(failed)} failed, "
            f"{warned} opened with import warnings"
        )
    assert len(results) == len(FILES)
    assert failed == {}
    assert empty == []
