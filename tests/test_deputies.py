"""The deputy registry: import (.xlsx/.csv, all or nothing), re-import, the CLI, the pages
with visibility and pairing, permissions and CSRF, and the API — on every database."""

from __future__ import annotations

import io
import os
import re
import subprocess
import sys
from typing import Any

import pytest
from jsonschema import Draft202012Validator
from openpyxl import Workbook
from sqlalchemy import func, select

from engine.db import unit_of_work
from engine.errors import Forbidden, InvalidData, TooLarge
from engine.models import Deputy, Pairing
from engine.services import accounts, deputies, items
from tests.conftest import USERS
from tests.helpers import complete
from tests.web_client import text

API = "/api/v1"
HEADER_ZH = ["序号", "姓名", "层级", "代表团", "工作单位", "电话", "地址", "邮箱", "届次"]
HEADER_EN = ["name", "level", "delegation", "work_unit", "phone", "address", "email", "term"]
GOOD_ROWS = [
    [
        1,
        "张建国",
        "市",
        "城关区代表团",
        "建国社区居委会",
        13907310001,
        "建国路18号",
        "z@example.cn",
        "第十七届",
    ],
    [2, "李秀英", "省", "河西市代表团", "河西市第一中学", "0731-1234567", "", "", "第十四届"],
    [3, "王志强", "县", "新桥镇代表团", "新桥镇农业合作社", "", "", "", "第十九届"],
]


def xlsx(rows: list[list[Any]], header: list[str] = HEADER_ZH, title: str | None = None) -> bytes:
    """An .xlsx workbook as the congress office would send it."""
    workbook = Workbook()
    sheet = workbook.active
    if title:
        sheet.append([title])
    sheet.append(header)
    for row in rows:
        sheet.append(row)
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def csv_bytes(lines: list[str], bom: bool = False) -> bytes:
    return (("\ufeff" if bom else "") + "\r\n".join(lines) + "\r\n").encode("utf-8")


def registry(factory) -> dict[tuple[str, str | None], Deputy]:
    with unit_of_work(factory) as session:
        return {(d.name, d.delegation): d for d in session.scalars(select(Deputy))}


def count(factory) -> int:
    with unit_of_work(factory) as session:
        return session.scalar(select(func.count()).select_from(Deputy))


def do_import(factory, user, filename: str, data: bytes) -> deputies.ImportSummary:
    with unit_of_work(factory) as session:
        return deputies.import_file(session, user, filename, data)


@pytest.fixture
def tokens(people, factory) -> dict[str, str]:
    with unit_of_work(factory) as session:
        return {username: accounts.issue_token(session, username) for username in USERS}


def api_call(client, tokens, user: str, method: str, path: str, **kwargs):
    headers = {"Authorization": f"Bearer {tokens[user]}"}
    return client.open(API + path, method=method, headers=headers, **kwargs)


def upload(client, tokens, user: str, filename: str, data: bytes):
    return api_call(
        client,
        tokens,
        user,
        "POST",
        "/deputies/import",
        data={"file": (io.BytesIO(data), filename)},
        content_type="multipart/form-data",
    )


# --- import ------------------------------------------------------------------------------


BAD_ROWS = [
    [1, "张建国", "市", "城关区代表团", "建国社区居委会", "", "", "", "第十七届"],  # row 3: good
    [2, "", "市", "城关区代表团", "", "", "", "", ""],  # row 4: no name
    [3, "李秀英", "乡", "河西市代表团", "", "", "", "", ""],  # row 5: bad level
    [4, "王志强", "县", "", "", "", "", "wang@", ""],  # row 6: bad e-mail
    [5, "张建国", "市", "城关区代表团", "", "", "", "", ""],  # row 7: duplicate of row 3
    [6, "陈丽华", "市", "", "", "1" * 51, "", "", ""],  # row 8: phone too long
    [7, "", "省", "", "", "", "", "x@y", ""],  # row 9: two problems
]


def test_xlsx_with_bad_rows_is_rejected_whole_with_every_rows_error(factory, people):
    data = xlsx(BAD_ROWS, title="2026年人大代表名册")  # the header is row 2
    with pytest.raises(InvalidData) as caught:
        do_import(factory, people["registrar"], "代表名册.xlsx", data)
    errors = caught.value.fields
    assert set(errors) == {"row 4", "row 5", "row 6", "row 7", "row 8", "row 9"}
    assert errors["row 4"].startswith("name: 必填")
    assert errors["row 5"].startswith("level: ") and "(乡)" in errors["row 5"]
    assert errors["row 6"].startswith("email: ") and "wang@" in errors["row 6"]
    assert errors["row 7"].startswith("name: ") and "row 3" in errors["row 7"]
    assert errors["row 8"].startswith("phone: ") and "50" in errors["row 8"]
    assert errors["row 9"].startswith("name: ") and "; email: " in errors["row 9"]
    assert "6 bad row(s)" in caught.value.message
    assert count(factory) == 0


def test_api_import_rejects_bad_rows_and_stores_nothing(app, tokens, factory):
    client = app.test_client()
    response = upload(client, tokens, "registrar", "list.xlsx", xlsx(BAD_ROWS))
    assert response.status_code == 422
    error = response.get_json()["error"]
    assert error["code"] == "invalid"
    assert set(error["fields"]) == {f"row {n}" for n in range(3, 9)}  # header row 1
    assert count(factory) == 0


def test_good_xlsx_import_creates_deputies(factory, people):
    summary = do_import(factory, people["registrar"], "名册.xlsx", xlsx(GOOD_ROWS))
    assert (summary.created, summary.updated, summary.unchanged) == (3, 0, 0)
    found = registry(factory)
    zhang = found[("张建国", "城关区代表团")]
    assert zhang.level == "市" and zhang.work_unit == "建国社区居委会"
    assert zhang.phone == "13907310001"  # a number cell, not 13907310001.0
    assert zhang.email == "z@example.cn" and zhang.term == "第十七届" and zhang.active
    assert found[("李秀英", "河西市代表团")].address is None  # empty cells are None


@pytest.mark.parametrize("bom", [False, True])
def test_good_csv_import_with_english_header(factory, people, bom):
    lines = [
        ",".join(HEADER_EN),
        "赵敏,national,全国代表团,某大学,13800000000,北京市,zm@example.cn,第十四届",
        '"钱伟",county,"东乡县代表团","东乡, 农机站",,,,',
        ",,,,,,,",  # blank trailing row a spreadsheet writes
    ]
    summary = do_import(factory, people["admin"], "deputies.csv", csv_bytes(lines, bom))
    assert summary.created == 2
    found = registry(factory)
    assert found[("赵敏", "全国代表团")].level == "全国"
    assert found[("钱伟", "东乡县代表团")].work_unit == "东乡, 农机站"
    assert found[("钱伟", "东乡县代表团")].level == "县"


def test_reimport_updates_instead_of_duplicating(factory, people):
    registrar = people["registrar"]
    with unit_of_work(factory) as session:  # an item names 张建国 before the registry has him
        items.register(
            session,
            registrar,
            items.NewItem(
                kind="suggestion", title="关于调解的建议", content="内容", deputies=["张建国"]
            ),
        )
    placeholder_id = registry(factory)[("张建国", None)].id
    do_import(factory, registrar, "名册.xlsx", xlsx(GOOD_ROWS))
    assert registry(factory)[("张建国", "城关区代表团")].id == placeholder_id  # adopted
    assert count(factory) == 3

    changed = [list(row) for row in GOOD_ROWS]
    changed[1][4] = "河西市第二中学"  # 李秀英 changed school
    changed.append([4, "李秀英", "市", "东城代表团", "", "", "", "", ""])  # namesake elsewhere
    summary = do_import(factory, registrar, "名册.xlsx", xlsx(changed))
    assert (summary.created, summary.updated, summary.unchanged) == (1, 1, 2)
    found = registry(factory)
    assert len(found) == 4 and count(factory) == 4
    assert found[("李秀英", "河西市代表团")].work_unit == "河西市第二中学"

    # a file without the phone column leaves phones alone; an inactive deputy comes back
    with unit_of_work(factory) as session:
        session.get(Deputy, placeholder_id).active = False
    lines = ["姓名,代表团,层级", "张建国,城关区代表团,市"]
    summary = do_import(factory, registrar, "part.csv", csv_bytes(lines))
    assert summary.updated == 1
    zhang = registry(factory)[("张建国", "城关区代表团")]
    assert zhang.active and zhang.phone == "13907310001"


def test_unreadable_files_are_refused_clearly(factory, people):
    registrar = people["registrar"]
    with pytest.raises(InvalidData, match="not a valid .xlsx"):
        do_import(factory, registrar, "名册.xlsx", "姓名\n张三\n".encode())
    with pytest.raises(InvalidData, match="not a valid .xlsx"):
        do_import(factory, registrar, "名册.xlsx", b"PK\x03\x04 broken zip")
    with pytest.raises(InvalidData, match=r"\.xls"):
        do_import(factory, registrar, "名册.xls", b"\xd0\xcf\x11\xe0")
    with pytest.raises(InvalidData, match="not UTF-8"):
        do_import(factory, registrar, "名册.csv", "姓名\n张三\n".encode("gbk"))
    with pytest.raises(InvalidData, match="no header row") as caught:
        do_import(factory, registrar, "名册.csv", csv_bytes(["who,where", "张三,北京"]))
    assert "row 1" in caught.value.fields
    with pytest.raises(InvalidData, match="no data rows"):
        do_import(factory, registrar, "名册.csv", csv_bytes(["姓名,代表团"]))
    assert count(factory) == 0


def test_size_limits(factory, people, monkeypatch):
    registrar = people["registrar"]
    monkeypatch.setattr(deputies, "MAX_IMPORT_ROWS", 2)
    with pytest.raises(TooLarge, match="more than 2 rows"):
        do_import(factory, registrar, "名册.xlsx", xlsx(GOOD_ROWS))
    too_big = b"x" * (deputies.MAX_IMPORT_BYTES + 1)
    with pytest.raises(TooLarge):
        do_import(factory, registrar, "名册.csv", too_big)
    assert count(factory) == 0


def test_web_upload_above_the_app_request_limit_reaches_the_import(app, tokens, browser):
    """Uploads between the app-wide request limit (4 MiB) and the import's (5 MiB) are
    read; larger ones are refused with 413."""
    from web import MAX_REQUEST_BYTES

    client = app.test_client()
    data = b"x" * (MAX_REQUEST_BYTES + 1024)  # no header row: a quick 422
    response = upload(client, tokens, "registrar", "big.csv", data)
    assert response.status_code == 422, response.get_data(as_text=True)[:300]
    response = upload(client, tokens, "registrar", "big.csv", b"x" * (6 * 1024 * 1024))
    assert response.status_code == 413

    registrar = browser("registrar")
    page = registrar.get("/deputies/import")
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
    response = registrar.client.post(
        "/deputies/import",
        data={"csrf_token": token, "file": (io.BytesIO(data), "big.csv")},
        content_type="multipart/form-data",
    )
    assert response.status_code == 422 and "data-import-error" in text(response)


# --- the command line ---------------------------------------------------------------------


def test_cli_import_exit_codes(tmp_path, settings, factory, people):
    env = {**os.environ, "LIAISON_DATABASE_URL": settings.database_url}
    liaison = [sys.executable, "-m", "web.cli", "deputies", "import"]
    bad = tmp_path / "bad.xlsx"
    bad.write_bytes(xlsx(BAD_ROWS))
    result = subprocess.run([*liaison, str(bad)], env=env, capture_output=True, text=True)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "nothing was imported" in result.stderr
    assert "row 3: name: 必填" in result.stderr and "row 7: phone:" in result.stderr
    assert count(factory) == 0

    good = tmp_path / "good.xlsx"
    good.write_bytes(xlsx(GOOD_ROWS))
    result = subprocess.run([*liaison, str(good)], env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "importing deputies" in result.stdout
    assert "3 created, 0 updated" in result.stdout
    result = subprocess.run([*liaison, str(good)], env=env, capture_output=True, text=True)
    assert result.returncode == 0 and "0 created, 0 updated, 3 unchanged" in result.stdout
    assert count(factory) == 3

    missing = subprocess.run([*liaison, str(tmp_path / "none.xlsx")], env=env, capture_output=True)
    assert missing.returncode == 2  # click: the file does not exist


# --- pages ----------------------------------------------------------------------------------


@pytest.fixture
def deputy_with_item(factory, people) -> tuple[int, int]:
    """A registered deputy with one item handled by 民一庭: (deputy id, item id)."""
    do_import(factory, people["registrar"], "名册.xlsx", xlsx(GOOD_ROWS))
    with unit_of_work(factory) as session:
        item = items.register(
            session,
            people["registrar"],
            items.NewItem(
                kind="suggestion", title="关于巡回审判的建议", content="内容", deputies=["张建国"]
            ),
        )
        item_id = item.id
    complete(factory, people["registrar"], item_id, "register")  # to 民一庭
    deputy_id = registry(factory)[("张建国", "城关区代表团")].id
    return deputy_id, item_id


def test_registry_search_and_paging(browser, factory, people, monkeypatch):
    do_import(factory, people["registrar"], "名册.xlsx", xlsx(GOOD_ROWS))
    drafter = browser("drafter")
    page = drafter.get("/deputies")
    assert "张建国" in page and "李秀英" in page and "共 3 位" in page
    page = drafter.get("/deputies?q=农业合作社")  # by work unit
    assert "王志强" in page and "张建国" not in page
    page = drafter.get("/deputies?q=河西市")  # by delegation
    assert "李秀英" in page and "王志强" not in page
    monkeypatch.setattr(sys.modules["web.ui.deputies"], "PER_PAGE", 2)
    page = drafter.get("/deputies")
    assert 'data-testid="next-page"' in page
    assert len(re.findall(r"data-deputy-id=", page)) == 2
    page = drafter.get("/deputies?page=2")
    assert len(re.findall(r"data-deputy-id=", page)) == 1
    drafter.get("/deputies?q=%25_")  # LIKE wildcards are searched literally
    assert "共 0 位" in drafter.last


def test_deputy_page_lists_only_items_the_reader_may_see(browser, deputy_with_item, factory):
    deputy_id, item_id = deputy_with_item
    with unit_of_work(factory) as session:
        number = session.get(items.Item, item_id).number
    for user in ("registrar", "drafter", "head", "leader"):
        page = browser(user).get(f"/deputies/{deputy_id}")
        assert number in page and f'data-item-id="{item_id}"' in page, user
        assert "城关区代表团" in page and "第十七届" in page
    other = browser("drafter_other").get(f"/deputies/{deputy_id}")  # 刑一庭
    assert "张建国" in other and number not in other and "没有可查看的事项" in other
    browser("registrar").get("/deputies/999999", status=404)


def test_pairing_is_shown_on_the_deputy_page_and_the_paired_filter(
    browser, deputy_with_item, people
):
    deputy_id, _ = deputy_with_item
    registrar = browser("registrar")
    registrar.get(f"/deputies/{deputy_id}")
    assert "尚未结对" in registrar.last and 'data-testid="pairing-form"' in registrar.last
    chosen = [str(people["leader"].id), str(people["drafter"].id)]
    response = registrar.submit(f"/deputies/{deputy_id}/pairings", {"users": chosen})
    assert response.status_code == 302, text(response)[:500]
    page = browser("drafter_other").get(f"/deputies/{deputy_id}")
    assert 'data-user="leader"' in page and 'data-user="drafter"' in page
    assert 'data-testid="pairing-form"' not in page  # read-only for others

    leader = browser("leader")
    assert "张建国" in leader.get("/deputies?paired=me") and "共 1 位" in leader.last
    assert "共 0 位" in browser("drafter_other").get("/deputies?paired=me")

    # only active staff can be paired (a workflow designer cannot), and removing works
    response = registrar.submit(
        f"/deputies/{deputy_id}/pairings", {"users": [str(people["designer"].id)]}
    )
    assert response.status_code == 422
    response = registrar.submit(f"/deputies/{deputy_id}/pairings", {"users": chosen[:1]})
    assert response.status_code == 302
    page = registrar.get(f"/deputies/{deputy_id}")
    assert 'data-user="leader"' in page and 'data-user="drafter"' not in page


def test_registrar_edits_a_deputy_with_field_errors(browser, deputy_with_item, factory):
    deputy_id, _ = deputy_with_item
    registrar = browser("registrar")
    registrar.get(f"/deputies/{deputy_id}/edit")
    assert 'value="张建国"' in registrar.last
    form = {
        "name": "张建国",
        "level": "市",
        "delegation": "城关区代表团",
        "work_unit": "城关区人民政府",
        "phone": "13900000000",
        "address": "",
        "email": "not-an-email",
        "term": "第十七届",
        "active": "y",
    }
    response = registrar.submit(f"/deputies/{deputy_id}/edit", form)
    assert response.status_code == 422
    assert 'data-field-error="email"' in text(response)
    response = registrar.submit(f"/deputies/{deputy_id}/edit", {**form, "email": "", "name": ""})
    assert response.status_code == 422 and 'data-field-error="name"' in text(response)
    # the same name in the same delegation as another deputy
    clash = {**form, "email": "", "name": "李秀英", "delegation": "河西市代表团"}
    response = registrar.submit(f"/deputies/{deputy_id}/edit", clash)
    assert response.status_code == 422 and 'data-field-error="name"' in text(response)

    response = registrar.submit(f"/deputies/{deputy_id}/edit", {**form, "email": "z@court.cn"})
    assert response.status_code == 302
    with unit_of_work(factory) as session:
        deputy = session.get(Deputy, deputy_id)
        assert (deputy.work_unit, deputy.email, deputy.address) == (
            "城关区人民政府",
            "z@court.cn",
            None,
        )

    new = {**form, "name": "孙新", "email": "", "active": "y"}
    response = registrar.submit("/deputies/new", new)
    assert response.status_code == 302
    assert ("孙新", "城关区代表团") in registry(factory)


def test_registrar_imports_through_the_upload_page(browser, factory):
    registrar = browser("registrar")
    page = registrar.get("/deputies/import")
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)

    def post(filename: str, data: bytes):
        return registrar.client.post(
            "/deputies/import",
            data={"csrf_token": token, "file": (io.BytesIO(data), filename)},
            content_type="multipart/form-data",
        )

    response = post("名册.xlsx", xlsx(BAD_ROWS))
    assert response.status_code == 422
    shown = re.findall(r'data-import-error="(row \d+)"', text(response))
    assert shown == [f"row {n}" for n in range(3, 9)]
    response = post("名册.txt.xlsx", b"plain text")
    assert response.status_code == 422 and "不是有效的 .xlsx" in text(response)
    assert count(factory) == 0
    response = post("名册.xlsx", xlsx(GOOD_ROWS))
    assert response.status_code == 302
    assert "新增 3" in registrar.get("/deputies")


def test_only_registrars_and_admins_change_the_registry(browser, deputy_with_item, people, factory):
    deputy_id, _ = deputy_with_item
    drafter = browser("drafter")
    drafter.get(f"/deputies/{deputy_id}")
    assert 'data-testid="deputy-edit"' not in drafter.last
    assert 'data-testid="deputy-import"' not in drafter.get("/deputies")
    for url in ("/deputies/new", f"/deputies/{deputy_id}/edit", "/deputies/import"):
        drafter.get(url, status=403)
    assert drafter.submit(f"/deputies/{deputy_id}/edit", {"name": "X"}).status_code == 403
    response = drafter.submit(f"/deputies/{deputy_id}/pairings", {"users": []})
    assert response.status_code == 403
    response = drafter.client.post(
        "/deputies/import",
        data={"csrf_token": drafter.csrf(), "file": (io.BytesIO(xlsx(GOOD_ROWS)), "a.xlsx")},
        content_type="multipart/form-data",
    )
    assert response.status_code == 403
    browser("designer").get("/deputies", status=403)
    browser("designer").get(f"/deputies/{deputy_id}", status=403)
    admin = browser("admin")
    admin.get(f"/deputies/{deputy_id}/edit")
    admin.get("/deputies/import")
    with pytest.raises(Forbidden), unit_of_work(factory) as session:
        deputies.import_file(session, people["head"], "a.xlsx", xlsx(GOOD_ROWS))


def test_forms_need_the_csrf_token(browser, deputy_with_item):
    deputy_id, _ = deputy_with_item
    registrar = browser("registrar")
    form = {"name": "张建国", "delegation": "城关区代表团"}
    assert registrar.submit(f"/deputies/{deputy_id}/edit", form, csrf=False).status_code == 400
    assert registrar.submit("/deputies/new", form, csrf=False).status_code == 400
    response = registrar.submit(f"/deputies/{deputy_id}/pairings", {"users": []}, csrf=False)
    assert response.status_code == 400
    response = registrar.client.post(
        "/deputies/import",
        data={"file": (io.BytesIO(xlsx(GOOD_ROWS)), "a.xlsx")},
        content_type="multipart/form-data",
    )
    assert response.status_code == 400


# --- API ------------------------------------------------------------------------------------


def test_api_search_detail_and_import(app, tokens, deputy_with_item, factory, people):
    deputy_id, item_id = deputy_with_item
    client = app.test_client()
    with unit_of_work(factory) as session:
        session.add(
            Pairing(
                deputy_id=deputy_id, user_id=people["head"].id, court_id=people["head"].court_id
            )
        )
    listing = api_call(client, tokens, "drafter", "GET", "/deputies?q=城关&per_page=1").get_json()
    assert set(listing) == {"items", "total", "page", "per_page"}
    assert listing["total"] == 1 and listing["items"][0]["name"] == "张建国"
    assert listing["items"][0]["delegation"] == "城关区代表团"
    mine = api_call(client, tokens, "head", "GET", "/deputies?paired=me").get_json()
    assert [d["id"] for d in mine["items"]] == [deputy_id]

    detail = api_call(client, tokens, "drafter", "GET", f"/deputies/{deputy_id}").get_json()
    assert [i["id"] for i in detail["items"]] == [item_id]
    assert [p["username"] for p in detail["paired"]] == ["head"]
    hidden = api_call(client, tokens, "drafter_other", "GET", f"/deputies/{deputy_id}")
    assert hidden.status_code == 200 and hidden.get_json()["items"] == []
    assert api_call(client, tokens, "drafter", "GET", "/deputies/2147483648").status_code == 404
    assert api_call(client, tokens, "designer", "GET", "/deputies").status_code == 403

    document = client.get(f"{API}/openapi.json").get_json()
    for name, instance in (("DeputyDetail", detail), ("Deputy", listing["items"][0])):
        schema = {**document, "$ref": f"#/components/schemas/{name}"}
        assert not list(Draft202012Validator(schema).iter_errors(instance))

    changed = [list(row) for row in GOOD_ROWS]
    changed[0][4] = "城关区人民政府"
    response = upload(client, tokens, "registrar", "名册.xlsx", xlsx(changed))
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.get_json() == {"created": 0, "updated": 1, "unchanged": 2, "total": 3}
    assert upload(client, tokens, "drafter", "名册.xlsx", xlsx(GOOD_ROWS)).status_code == 403
    response = api_call(client, tokens, "registrar", "POST", "/deputies/import", data={})
    assert response.status_code == 400
