"""The reply letter (答复函): generated as a .docx when the reply is given, kept with the item,
regenerated after an administrator replaces the template."""

from __future__ import annotations

import io
from datetime import datetime
from zoneinfo import ZoneInfo

import docx
import pytest
from sqlalchemy import select

from engine import clock
from engine.db import unit_of_work
from engine.errors import Conflict, Forbidden, InvalidData
from engine.models import Attachment, AuditEvent, Task
from engine.services import accounts, attachments, items, meetings, reply_letters, tasks
from tests.conftest import COURT, USERS
from tests.helpers import complete, open_task
from tests.test_api import Api, assert_error
from tests.web_client import text

BEIJING = ZoneInfo("Asia/Shanghai")
REPLY = "代表您好：\n经研究，本院已在三个基层法庭设立诉前调解室。\n下一步将总结经验逐步推广。"


@pytest.fixture(autouse=True)
def attachments_dir(tmp_path, monkeypatch):
    root = tmp_path / "attachments"
    monkeypatch.setenv("LIAISON_ATTACHMENTS_DIR", str(root))
    return root


@pytest.fixture
def api(app, people, factory) -> Api:
    with unit_of_work(factory) as session:
        tokens = {username: accounts.issue_token(session, username) for username in USERS}
    return Api(app.test_client(), tokens)


def _approved(factory, people) -> int:
    """A suggestion at its reply step (joint items: see the per-deputy test below)."""
    clock.travel_to(datetime(2026, 11, 27, 10, 0, tzinfo=BEIJING))
    with unit_of_work(factory) as session:
        item = items.register(
            session,
            people["registrar"],
            items.NewItem(
                kind="suggestion",
                title="关于加强诉前调解的建议",
                content="建议在基层法庭设立调解室。",
                deputies=["张代表"],
            ),
        )
        item_id = item.id
    complete(factory, people["registrar"], item_id, "register")
    complete(factory, people["drafter"], item_id, "draft")
    complete(factory, people["leader"], item_id, "approve")
    clock.travel_to(datetime(2026, 11, 28, 9, 30, tzinfo=BEIJING))
    with unit_of_work(factory) as session:  # a suggestion is answered after meeting the deputy
        meetings.record(session, people["registrar"], item_id, "2026-11-28", "phone", "电话沟通")
    return item_id


def _reply(factory, people, item_id: int, reply: str = REPLY, reply_class: str = "B") -> None:
    task = open_task(factory, item_id)
    assert task.bpmn_id == "reply"
    data = {"reply_class": reply_class, "reply": reply}
    if reply_class in ("B", "C"):  # classes still being solved get a follow-up date
        data["follow_up_on"] = "2027-03-01"
    with unit_of_work(factory) as session:
        tasks.complete(session, people["registrar"], task.id, data)


def _letters(factory, item_id: int) -> list[Attachment]:
    with unit_of_work(factory) as session:
        return list(
            session.scalars(
                select(Attachment)
                .where(Attachment.item_id == item_id, Attachment.kind == "reply_letter")
                .order_by(Attachment.id)
            )
        )


def _paragraphs(data: bytes) -> list[tuple[str, str]]:
    document = docx.Document(io.BytesIO(data))
    return [(p.text, p.style.name) for p in document.paragraphs]


def _template(*lines: str) -> bytes:
    document = docx.Document()
    for line in lines:
        document.add_paragraph(line)
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


@pytest.fixture
def replied(factory, people) -> int:
    item_id = _approved(factory, people)
    _reply(factory, people, item_id)
    return item_id


def test_completing_the_reply_generates_the_letter(factory, people, replied):
    (letter,) = _letters(factory, replied)
    with unit_of_work(factory) as session:
        number = items.get(session, people["registrar"], replied).number
        reply_task = session.get(Task, letter.task_id)
        assert reply_task.bpmn_id == "reply"
    assert letter.filename == f"答复函-{number}-张代表.docx"
    assert letter.content_type == attachments.TYPES["docx"]
    paragraphs = _paragraphs(attachments.read_verified(letter))
    texts = [t for t, _style in paragraphs]
    body = "\n".join(texts)
    assert texts[0] == COURT  # the court header
    assert f"编号：{number}" in texts
    assert "张代表代表：" in texts
    assert "您提出的《关于加强诉前调解的建议》收悉" in body
    assert "答复类别：B 正在解决或列入计划解决" in texts
    assert texts[-2:] == [COURT, "2026年11月28日"]
    assert "{{" not in body
    # each line of the reply is its own paragraph in the style of the {{reply}} paragraph
    reply_lines = REPLY.split("\n")
    start = texts.index(reply_lines[0])
    assert texts[start : start + 3] == reply_lines
    assert {style for _t, style in paragraphs[start : start + 3]} == {"Letter Body"}
    assert paragraphs[0][1] == "Letter Header"
    with unit_of_work(factory) as session:
        event = session.scalars(
            select(AuditEvent)
            .where(AuditEvent.item_id == replied)
            .order_by(AuditEvent.id.desc())
            .limit(1)
        ).one()
        assert event.action == "reply_letter_generated"
        assert event.data["attachment_id"] == letter.id


def test_letter_is_downloadable_through_api_and_page(api, browser, replied):
    (letter,) = api.ok(api.get("registrar", f"/items/{replied}/attachments"))["items"]
    assert letter["kind"] == "reply_letter"
    response = api.get("registrar", f"/items/{replied}/attachments/{letter['id']}")
    assert response.status_code == 200
    texts = [t for t, _s in _paragraphs(response.data)]
    assert "答复类别：B 正在解决或列入计划解决" in texts
    page = browser("registrar").get(f"/items/{replied}")
    assert 'data-kind="reply_letter"' in page and letter["filename"] in page
    assert 'data-testid="regenerate-reply-letter"' not in page  # the template is unchanged


def test_reply_through_the_api_generates_the_letter(api, factory, people):
    item_id = _approved(factory, people)
    task = api.open_task(item_id, "reply")
    body = {"data": {"reply_class": "A", "reply": "代表您好，您的建议已全部落实到位。"}}
    api.ok(api.post("registrar", f"/tasks/{task['id']}/complete", body))
    (letter,) = _letters(factory, item_id)
    texts = [t for t, _s in _paragraphs(attachments.read_verified(letter))]
    assert "答复类别：A 已解决或基本解决" in texts
    assert "代表您好，您的建议已全部落实到位。" in texts


def test_other_steps_make_no_letter(factory, people):
    item_id = _approved(factory, people)
    assert _letters(factory, item_id) == []


# --- the template ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"%PDF-1.4 not a docx", "not a .docx file"),
        (b"PK\x03\x04" + bytes(40), "not a .docx file"),
        (_template("{{court}}", "答复如下"), "missing {{reply}}"),
        (_template("{{reply}}", "{{dputies}}"), "unknown placeholders: dputies"),
    ],
)
def test_invalid_templates_are_refused(factory, people, data, reason):
    with pytest.raises(InvalidData) as refused, unit_of_work(factory) as session:
        reply_letters.replace_template(session, people["admin"], data)
    assert refused.value.fields == {"file": reason}


def test_only_administrators_replace_the_template(factory, people):
    with pytest.raises(Forbidden), unit_of_work(factory) as session:
        reply_letters.replace_template(session, people["registrar"], _template("{{reply}}"))


def test_replacement_template_and_regeneration(browser, factory, people, replied):
    admin = browser("admin")
    page = admin.get("/admin/reply-template")
    assert "当前使用系统自带模板" in page or "shipped" in page
    shipped = admin.client.get("/admin/reply-template.docx")
    assert shipped.status_code == 200
    assert "{{reply}}" in "\n".join(t for t, _s in _paragraphs(shipped.data))

    refused = admin.client.post(
        "/admin/reply-template",
        data={"file": (io.BytesIO(_template("没有占位符")), "t.docx"), "csrf_token": admin.csrf()},
        content_type="multipart/form-data",
    )
    assert refused.status_code == 422 and 'data-field-error="file"' in text(refused)

    new = _template(
        "{{court}}（新模板）", "{{deputies}}：", "{{reply}}", "{{reply_class}}", "{{date}}"
    )
    response = admin.client.post(
        "/admin/reply-template",
        data={"file": (io.BytesIO(new), "新模板.docx"), "csrf_token": admin.csrf()},
        content_type="multipart/form-data",
    )
    assert response.status_code == 303
    assert admin.client.get("/admin/reply-template.docx").data == new
    browser("registrar").get("/admin/reply-template", status=403)

    registrar = browser("registrar")
    page = registrar.get(f"/items/{replied}")
    assert 'data-testid="regenerate-reply-letter"' in page
    response = registrar.submit(f"/items/{replied}/reply-letter", {})
    assert response.status_code == 303
    old, regenerated = _letters(factory, replied)
    texts = [t for t, _s in _paragraphs(attachments.read_verified(regenerated))]
    assert texts[0] == f"{COURT}（新模板）"
    assert "2026年11月28日" in texts  # the reply's own date, not today's
    assert REPLY.split("\n")[1] in texts
    assert old.template_sha256 != regenerated.template_sha256
    assert 'data-testid="regenerate-reply-letter"' not in registrar.get(f"/items/{replied}")
    with pytest.raises(Conflict), unit_of_work(factory) as session:
        reply_letters.regenerate(session, people["registrar"], replied)
    with pytest.raises(Forbidden), unit_of_work(factory) as session:
        reply_letters.regenerate(session, people["drafter"], replied)


def test_template_over_the_api(api, factory, people, replied):
    response = api.get("admin", "/reply-template")
    assert response.status_code == 200 and response.data.startswith(b"PK")
    assert_error(api.get("registrar", "/reply-template"), 403)
    bad = api.call(
        "PUT",
        "admin",
        "/reply-template",
        data={"file": (io.BytesIO(_template("{{court}}")), "t.docx")},
        content_type="multipart/form-data",
    )
    assert set(assert_error(bad, 422)["fields"]) == {"file"}
    good = api.call(
        "PUT",
        "admin",
        "/reply-template",
        data={"file": (io.BytesIO(_template("新：{{reply}}")), "t.docx")},
        content_type="multipart/form-data",
    )
    assert api.ok(good)["size"] > 0
    (letter,) = api.ok(api.post("registrar", f"/items/{replied}/reply-letter"), 201)["letters"]
    assert letter["kind"] == "reply_letter"
    assert_error(api.post("registrar", f"/items/{replied}/reply-letter"), 409)


def test_filed_item_letter_is_not_regenerated(factory, people, replied):
    complete(factory, people["registrar"], replied, "file")
    with unit_of_work(factory) as session:
        reply_letters.replace_template(session, people["admin"], _template("新：{{reply}}"))
    with pytest.raises(Conflict), unit_of_work(factory) as session:
        reply_letters.regenerate(session, people["registrar"], replied)
    assert len(_letters(factory, replied)) == 1


def test_placeholders_split_across_runs_keep_the_paragraph_style(factory, people):
    document = docx.Document()
    paragraph = document.add_paragraph(style="Heading 1")
    for part in ("{{co", "urt}}", " · ", "{{number}}"):
        paragraph.add_run(part)
    document.add_paragraph("{{reply}}", style="Quote")
    out = io.BytesIO()
    document.save(out)
    rendered = reply_letters.render(
        out.getvalue(), {"court": "某法院", "number": "2026-建-0001", "reply": "一\n二"}
    )
    assert _paragraphs(rendered) == [
        ("某法院 · 2026-建-0001", "Heading 1"),
        ("一", "Quote"),
        ("二", "Quote"),
    ]


def test_joint_item_gets_one_letter_per_deputy(factory, people):
    joint = items.NewItem(
        kind="letter", title="联名来信", content="内容", deputies=["甲代表", "乙代表"]
    )
    with unit_of_work(factory) as session:
        item = items.register(session, people["registrar"], joint)
        item_id, number = item.id, item.number
    for user, step in [("registrar", "register"), ("drafter", "draft"), ("leader", "approve")]:
        complete(factory, people[user], item_id, step)
    complete(factory, people["registrar"], item_id, "reply")
    letters = {letter.filename: letter for letter in _letters(factory, item_id)}
    assert set(letters) == {f"答复函-{number}-甲代表.docx", f"答复函-{number}-乙代表.docx"}
    for name, other in (("甲代表", "乙代表"), ("乙代表", "甲代表")):
        text = "".join(
            t
            for t, _s in _paragraphs(
                attachments.read_verified(letters[f"答复函-{number}-{name}.docx"])
            )
        )
        assert name in text and other not in text
