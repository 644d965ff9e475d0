"""Attachments on items and steps: upload and download through the UI and the API,
visibility, type and size limits, checksums, content-addressed storage, filed items."""

from __future__ import annotations

import hashlib
import io
from pathlib import Path
from urllib.parse import quote

import docx
import pytest
from openpyxl import Workbook
from sqlalchemy import func, select

from engine.db import unit_of_work
from engine.errors import Conflict
from engine.models import Attachment, AuditEvent
from engine.services import accounts, attachments
from tests.conftest import USERS
from tests.helpers import complete, open_task, register
from tests.test_api import Api, assert_error
from tests.web_client import text

PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << >>\n%%EOF\n"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + bytes(40)
JPG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + bytes(40)
OLE = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(100)


def _docx() -> bytes:
    document = docx.Document()
    document.add_paragraph("调研报告")
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def _xlsx() -> bytes:
    book = Workbook()
    book.active.append(["姓名", "电话"])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


SAMPLES = {
    "报告.pdf": (PDF, "application/pdf"),
    "现场.png": (PNG, "image/png"),
    "现场.jpeg": (JPG, "image/jpeg"),
    "材料.docx": (_docx(), attachments.TYPES["docx"]),
    "名单.xlsx": (_xlsx(), attachments.TYPES["xlsx"]),
    "旧稿.doc": (OLE + "WordDocument".encode("utf-16-le") + bytes(50), "application/msword"),
    "旧表.xls": (OLE + "Workbook".encode("utf-16-le") + bytes(50), "application/vnd.ms-excel"),
    "说明.txt": ("代表您好：\n这是说明。\n".encode(), "text/plain; charset=utf-8"),
}


@pytest.fixture(autouse=True)
def attachments_dir(tmp_path, monkeypatch) -> Path:
    root = tmp_path / "attachments"
    monkeypatch.setenv("LIAISON_ATTACHMENTS_DIR", str(root))
    return root


@pytest.fixture
def api(app, people, factory) -> Api:
    with unit_of_work(factory) as session:
        tokens = {username: accounts.issue_token(session, username) for username in USERS}
    return Api(app.test_client(), tokens)


@pytest.fixture
def routed(factory, people) -> int:
    """A suggestion routed to 民一庭, at its draft step."""
    item_id = register(factory, people["registrar"])
    complete(factory, people["registrar"], item_id, "register")
    return item_id


def upload(api: Api, user: str, item_id: int, name: str, data: bytes, **form):
    body = {"file": (io.BytesIO(data), name, "application/x-whatever"), **form}
    return api.call(
        "POST",
        user,
        f"/items/{item_id}/attachments",
        data=body,
        content_type="multipart/form-data",
    )


# --- round trips ----------------------------------------------------------------------------


def test_api_upload_list_download_roundtrip(api, routed, attachments_dir):
    name = "调研报告（第1稿）.pdf"
    added = api.ok(upload(api, "drafter", routed, name, PDF), 201)
    assert added["filename"] == name
    assert added["content_type"] == "application/pdf"  # sniffed, not the client's type
    assert added["size"] == len(PDF)
    assert added["sha256"] == hashlib.sha256(PDF).hexdigest()
    assert added["kind"] == "file" and added["uploaded_by"] == "drafter"
    stored = attachments_dir / added["sha256"][:2] / added["sha256"]
    assert stored.read_bytes() == PDF  # outside the database, named by its digest

    listed = api.ok(api.get("registrar", f"/items/{routed}/attachments"))["items"]
    assert [a["id"] for a in listed] == [added["id"]]

    response = api.get("registrar", f"/items/{routed}/attachments/{added['id']}")
    assert response.status_code == 200
    assert response.data == PDF
    assert response.headers["Content-Type"] == "application/pdf"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    disposition = response.headers["Content-Disposition"]
    assert disposition.startswith("attachment;")
    assert f"filename*=UTF-8''{quote(name)}" in disposition  # RFC 5987

    events = api.item(routed)["events"]
    assert events[-1]["action"] == "attachment_added" and events[-1]["comment"] == name


@pytest.mark.parametrize("name", list(SAMPLES))
def test_every_allowed_type_is_sniffed(api, routed, name):
    data, content_type = SAMPLES[name]
    added = api.ok(upload(api, "registrar", routed, name, data), 201)
    assert added["content_type"] == content_type
    response = api.get("registrar", f"/items/{routed}/attachments/{added['id']}")
    assert response.data == data and response.mimetype == content_type.split(";")[0]


def test_ui_upload_to_item_and_step_and_download(browser, routed, factory):
    drafter = browser("drafter")
    page = drafter.get(f"/items/{routed}")
    assert 'data-testid="upload-form"' in page and 'data-testid="no-attachments"' in page
    response = drafter.client.post(
        f"/items/{routed}/attachments",
        data={"file": (io.BytesIO(PDF), "报告.pdf"), "csrf_token": drafter.csrf()},
        content_type="multipart/form-data",
    )
    assert response.status_code == 303 and response.location.endswith(f"/items/{routed}")
    page = drafter.get(f"/items/{routed}")
    assert "报告.pdf" in page

    task = open_task(factory, routed)
    response = drafter.client.post(
        f"/items/{routed}/attachments",
        data={
            "file": (io.BytesIO(PNG), "现场照片.png"),
            "task_id": str(task.id),
            "csrf_token": drafter.csrf(),
        },
        content_type="multipart/form-data",
    )
    assert response.status_code == 303 and response.location.endswith(f"/tasks/{task.id}")
    assert "现场照片.png" in drafter.get(f"/tasks/{task.id}")

    with unit_of_work(factory) as session:
        rows = session.scalars(select(Attachment).order_by(Attachment.id)).all()
        assert [(a.filename, a.task_id) for a in rows] == [
            ("报告.pdf", None),
            ("现场照片.png", task.id),
        ]
        first = rows[0].id
    response = browser("registrar").client.get(f"/items/{routed}/attachments/{first}")
    assert response.status_code == 200 and response.data == PDF
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert "filename*=UTF-8''" in response.headers["Content-Disposition"]


def test_ui_refused_upload_names_the_file_field(browser, routed):
    registrar = browser("registrar")
    response = registrar.client.post(
        f"/items/{routed}/attachments",
        data={"file": (io.BytesIO(b"MZ\x90\x00\x03"), "setup.exe"), "csrf_token": registrar.csrf()},
        content_type="multipart/form-data",
    )
    assert response.status_code == 422
    assert 'data-field-error="file"' in text(response)
    assert "process=common_handling" in text(response)  # the whole item page, diagrams too


# --- visibility -----------------------------------------------------------------------------


def test_another_departments_drafter_gets_404(api, browser, routed):
    added = api.ok(upload(api, "registrar", routed, "报告.pdf", PDF), 201)
    path = f"/items/{routed}/attachments/{added['id']}"
    assert_error(api.get("drafter_other", path), 404, "not_found")
    assert_error(api.get("drafter_other", f"/items/{routed}/attachments"), 404)
    assert_error(upload(api, "drafter_other", routed, "x.pdf", PDF), 404)
    assert api.get("drafter", path).status_code == 200  # the handling department sees it
    browser("drafter_other").get(path, status=404)
    # an attachment id under another item is not found either
    other = api.register()["id"]
    assert_error(api.get("registrar", f"/items/{other}/attachments/{added['id']}"), 404)


# --- limits ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "data"),
    [
        ("setup.exe", b"MZ\x90\x00\x03\x00\x00\x00"),
        ("archive.zip", b"PK\x03\x04" + bytes(30)),
        ("old.doc", OLE + bytes(20)),  # an OLE file that is neither Word nor Excel
        ("photo.pdf", PNG),  # the name disagrees with the content
        ("page.html", b"<html><script>alert(1)</script></html>"),
        ("gbk.txt", "代表".encode("gb18030")),
        ("empty.pdf", b""),
    ],
)
def test_refused_types_are_422_naming_file(api, routed, name, data, attachments_dir):
    error = assert_error(upload(api, "registrar", routed, name, data), 422, "invalid")
    assert set(error["fields"]) == {"file"}
    assert api.ok(api.get("registrar", f"/items/{routed}/attachments"))["items"] == []
    assert not list((attachments_dir / "tmp").iterdir())  # nothing left behind


def test_missing_file_field_is_400(api, routed):
    response = api.call(
        "POST",
        "registrar",
        f"/items/{routed}/attachments",
        data={"x": "1"},
        content_type="multipart/form-data",
    )
    assert set(assert_error(response, 400)["fields"]) == {"file"}


def test_size_limit_is_413_naming_file(api, routed):
    too_big = b"%PDF-" + bytes(attachments.MAX_BYTES - 4)  # one byte over
    error = assert_error(upload(api, "registrar", routed, "big.pdf", too_big), 413, "too_large")
    assert set(error["fields"]) == {"file"}
    way_too_big = too_big + bytes(256 * 1024)  # past the upload request limit as well
    error = assert_error(upload(api, "registrar", routed, "big.pdf", way_too_big), 413)
    assert set(error["fields"]) == {"file"}
    exactly = too_big[:-1]
    assert api.ok(upload(api, "registrar", routed, "max.pdf", exactly), 201)["size"] == len(exactly)


def test_other_endpoints_keep_the_small_request_limit(api):
    response = api.post("registrar", "/items", data=b"x" * (5 * 1024 * 1024))
    error = assert_error(response, 413)
    assert "fields" not in error


# --- integrity ------------------------------------------------------------------------------


def test_tampered_file_is_refused(api, browser, routed, attachments_dir):
    added = api.ok(upload(api, "registrar", routed, "报告.pdf", PDF), 201)
    stored = attachments_dir / added["sha256"][:2] / added["sha256"]
    stored.write_bytes(PDF.replace(b"Catalog", b"Cat4log"))
    path = f"/items/{routed}/attachments/{added['id']}"
    error = assert_error(api.get("registrar", path), 409, "conflict")
    assert error["fields"] == {"file": "checksum mismatch"}
    response = browser("registrar").client.get(path)
    assert response.status_code == 409 and PDF not in response.data
    stored.unlink()
    assert_error(api.get("registrar", path), 404)
    # uploading the genuine file again restores the stored copy for every record of it
    again = api.ok(upload(api, "registrar", routed, "报告.pdf", PDF), 201)
    assert again["sha256"] == added["sha256"]
    assert api.get("registrar", path).data == PDF


def test_identical_files_share_one_stored_copy(api, routed, attachments_dir):
    first = api.ok(upload(api, "registrar", routed, "a.pdf", PDF), 201)
    second = api.ok(upload(api, "drafter", routed, "b.pdf", PDF), 201)
    assert first["id"] != second["id"] and first["sha256"] == second["sha256"]
    stored = [p for p in attachments_dir.rglob("*") if p.is_file()]
    assert len(stored) == 1


def test_failed_transaction_leaves_a_harmless_orphan(factory, people, routed, attachments_dir):
    with pytest.raises(RuntimeError), unit_of_work(factory) as session:
        attachments.add(session, people["registrar"], routed, "报告.pdf", io.BytesIO(PDF))
        raise RuntimeError("database trouble after the file was written")
    sha = hashlib.sha256(PDF).hexdigest()
    assert (attachments_dir / sha[:2] / sha).exists()  # the orphan is content-addressed
    with unit_of_work(factory) as session:
        assert session.scalar(select(func.count()).select_from(Attachment)) == 0
        assert attachments.for_item(session, people["registrar"], routed) == []


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("../../etc/passwd.txt", "passwd.txt"),
        ("C:\\Users\\张三\\报告.pdf", "报告.pdf"),
        ("报\x00告\x07.pdf", "报告.pdf"),
        ('a<b>:"c|?*.pdf', "a_b___c___.pdf"),
        ("...hidden.pdf", "hidden.pdf"),
        ("长" * 300 + ".pdf", "长" * 196 + ".pdf"),
    ],
)
def test_filenames_are_sanitised(raw, clean):
    assert attachments.sanitise_filename(raw) == clean


def test_name_without_extension_gets_the_sniffed_one(api, routed):
    assert api.ok(upload(api, "registrar", routed, "扫描件", PDF), 201)["filename"] == "扫描件.pdf"


# --- filed items ----------------------------------------------------------------------------


def test_filed_item_accepts_no_uploads(api, browser, factory, people, routed):
    added = api.ok(upload(api, "registrar", routed, "报告.pdf", PDF), 201)
    for step, user in (("draft", "drafter"), ("approve", "leader"), ("reply", "registrar")):
        complete(factory, people[user], routed, step)
    complete(factory, people["registrar"], routed, "file")
    error = assert_error(upload(api, "registrar", routed, "晚到.pdf", PDF), 409, "conflict")
    assert set(error["fields"]) == {"file"}
    registrar = browser("registrar")
    page = registrar.get(f"/items/{routed}")
    assert 'data-testid="upload-form"' not in page and "报告.pdf" in page
    response = registrar.client.post(
        f"/items/{routed}/attachments",
        data={"file": (io.BytesIO(PDF), "晚到.pdf"), "csrf_token": registrar.csrf()},
        content_type="multipart/form-data",
    )
    assert response.status_code == 409
    # what was kept stays downloadable
    assert api.get("registrar", f"/items/{routed}/attachments/{added['id']}").data == PDF
    with unit_of_work(factory) as session:
        actions = session.scalars(
            select(AuditEvent.action).where(AuditEvent.item_id == routed)
        ).all()
        assert actions.count("attachment_added") == 1


def test_task_of_another_item_is_refused(api, factory, people, routed):
    other = register(factory, people["registrar"], "另一件建议")
    task = open_task(factory, other)
    error = assert_error(upload(api, "registrar", routed, "a.pdf", PDF, task_id=str(task.id)), 422)
    assert set(error["fields"]) == {"task_id"}


def test_open_verified_checks_the_digest(factory, people, routed, attachments_dir):
    with unit_of_work(factory) as session:
        added = attachments.add(session, people["registrar"], routed, "a.txt", b"hello world")
    assert attachments.read_verified(added) == b"hello world"
    (attachments_dir / added.storage_key).write_bytes(b"hello w0rld")
    with pytest.raises(Conflict):
        attachments.read_verified(added)
