"""The reply letter (答复函): a .docx made from an editable template when the reply is given.

The shipped template is `workflows/templates/reply_letter.docx`; an administrator may
replace it for the court (kept beside the attachments, under `templates/`). Templates
hold placeholders such as `{{number}}` in ordinary paragraphs (body, tables, headers and
footers); each is replaced keeping the paragraph's style, and a multi-line reply becomes
one paragraph per line in the style of the `{{reply}}` paragraph.

Completing the reply step calls `on_completed`, which stores the letter as an attachment
of kind `reply_letter` in the same transaction. A letter records which template it was
made from, so the item page can offer to regenerate it after the template changed.
"""

from __future__ import annotations

import copy
import hashlib
import io
import os
import re
import tempfile
import zipfile
from datetime import datetime
from pathlib import Path
from typing import Any

import docx
from docx.document import Document as DocxDocument
from docx.text.paragraph import Paragraph
from sqlalchemy import select
from sqlalchemy.orm import Session

from engine import clock
from engine.config import WORKFLOWS_DIR
from engine.errors import Conflict, Forbidden, InvalidData, TooLarge
from engine.models import Attachment, AuditEvent, Court, Deputy, Item, Task, User
from engine.services import attachments, audit, items

SHIPPED_TEMPLATE = WORKFLOWS_DIR / "templates" / "reply_letter.docx"
MAX_TEMPLATE_BYTES = 5 * 1024 * 1024
PLACEHOLDERS = ("court", "number", "title", "deputies", "reply_class", "reply", "date")
REQUIRED_PLACEHOLDER = "reply"
CLASS_LABELS = {
    "A": "A 已解决或基本解决",
    "B": "B 正在解决或列入计划解决",
    "C": "C 因条件限制需以后解决",
    "D": "D 留作参考",
}
REGENERATING_ROLES = frozenset({"registrar", "admin"})
KIND = "reply_letter"
_PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z_]+)\s*\}\}")


# --- the template ---------------------------------------------------------------------------


def _court_template_path(court_id: int) -> Path:
    return attachments.storage_root() / "templates" / f"court-{int(court_id)}" / "reply_letter.docx"


def current_template(court_id: int) -> tuple[bytes, bool]:
    """The court's template and whether it is the shipped one."""
    path = _court_template_path(court_id)
    if path.is_file():
        return path.read_bytes(), False
    return SHIPPED_TEMPLATE.read_bytes(), True


def template_sha256(court_id: int) -> str:
    return hashlib.sha256(current_template(court_id)[0]).hexdigest()


def validate_template(data: bytes) -> set[str]:
    """Check the bytes are a .docx that python-docx opens and that holds {{reply}}.

    Returns the placeholders found; unknown ones are refused so a typo is not printed.
    """
    if len(data) > MAX_TEMPLATE_BYTES:
        raise TooLarge(
            f"模板超过 {MAX_TEMPLATE_BYTES // (1024 * 1024)} MiB / the template is larger "
            f"than {MAX_TEMPLATE_BYTES // (1024 * 1024)} MiB",
            {"file": f"at most {MAX_TEMPLATE_BYTES} bytes"},
        )
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            if "word/document.xml" not in archive.namelist():
                raise zipfile.BadZipFile("no word/document.xml")
        document = docx.Document(io.BytesIO(data))
    except Exception:  # python-docx raises several kinds for a file that is not a .docx
        raise InvalidData(
            "模板不是有效的 .docx 文件 / the template is not a valid .docx file",
            {"file": "not a .docx file"},
        ) from None
    found = {
        match.group(1)
        for paragraph in _paragraphs(document)
        for match in _PLACEHOLDER.finditer(paragraph.text)
    }
    if REQUIRED_PLACEHOLDER not in found:
        raise InvalidData(
            "模板必须包含 {{reply}} / the template must contain {{reply}}",
            {"file": "missing {{reply}}"},
        )
    unknown = sorted(found - set(PLACEHOLDERS))
    if unknown:
        allowed = ", ".join(f"{{{{{p}}}}}" for p in PLACEHOLDERS)
        raise InvalidData(
            f"模板含有未知占位符 {', '.join(unknown)} / unknown placeholders "
            f"{', '.join(unknown)} (allowed: {allowed})",
            {"file": f"unknown placeholders: {', '.join(unknown)}"},
        )
    return found


def replace_template(session: Session, actor: User, data: bytes) -> str:
    """Validate and install the court's template (administrators); returns its SHA-256."""
    if actor.role != "admin":
        raise Forbidden("只有管理员可以更换答复函模板 / administrators only")
    validate_template(data)
    path = _court_template_path(actor.court_id)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temp_name = tempfile.mkstemp(dir=path.parent, prefix="upload-")
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temp_name, path)
    finally:
        Path(temp_name).unlink(missing_ok=True)
    sha = hashlib.sha256(data).hexdigest()
    session.add(
        AuditEvent(
            court_id=actor.court_id,
            item_id=None,
            at=clock.now(),
            actor_id=actor.id,
            action="reply_template_replaced",
            data={"sha256": sha, "size": len(data)},
        )
    )
    return sha


# --- rendering ------------------------------------------------------------------------------


def _paragraphs(document: DocxDocument) -> list[Paragraph]:
    """Every paragraph of the body, its tables, and the sections' headers and footers."""
    seen: set[int] = set()
    found: list[Paragraph] = []

    def walk(container) -> None:
        for paragraph in container.paragraphs:
            if id(paragraph._p) not in seen:  # merged table cells repeat
                seen.add(id(paragraph._p))
                found.append(paragraph)
        for table in container.tables:
            for row in table.rows:
                for cell in row.cells:
                    walk(cell)

    walk(document)
    for section in document.sections:
        for part in (
            section.header,
            section.footer,
            section.first_page_header,
            section.first_page_footer,
            section.even_page_header,
            section.even_page_footer,
        ):
            if not part.is_linked_to_previous:
                walk(part)
    return found


def _substitute(text: str, values: dict[str, str]) -> str:
    return _PLACEHOLDER.sub(lambda m: values.get(m.group(1), m.group(0)), text)


def _fill(paragraph: Paragraph, values: dict[str, str]) -> None:
    full = paragraph.text
    matches = len(_PLACEHOLDER.findall(full))
    if not matches:
        return
    runs = paragraph.runs
    if runs and sum(len(_PLACEHOLDER.findall(r.text)) for r in runs) == matches:
        for run in runs:  # each placeholder sits inside one run: keep every run's format
            if _PLACEHOLDER.search(run.text):
                run.text = _substitute(run.text, values)
    else:  # split across runs (Word does that): the first run's format carries the text
        runs[0].text = _substitute(full, values)
        for run in runs[1:]:
            run._r.getparent().remove(run._r)
    _split_lines(paragraph)


def _split_lines(paragraph: Paragraph) -> None:
    """A text with line breaks becomes one paragraph per line, each in the same style."""
    if "\n" not in paragraph.text:
        return
    lines = [line for line in paragraph.text.split("\n") if line.strip()] or [""]
    first = paragraph.runs[0]
    first.text = lines[0]
    for run in paragraph.runs[1:]:
        run._r.getparent().remove(run._r)
    anchor = paragraph._p
    for line in lines[1:]:
        element = copy.deepcopy(paragraph._p)
        anchor.addnext(element)
        anchor = element
        Paragraph(element, paragraph._parent).runs[0].text = line


def render(template: bytes, values: dict[str, str]) -> bytes:
    document = docx.Document(io.BytesIO(template))
    for paragraph in _paragraphs(document):
        _fill(paragraph, values)
    document.core_properties.title = f"答复函 {values.get('number', '')}".strip()
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def chinese_date(moment: datetime) -> str:
    day = moment.astimezone(clock.business_timezone()).date()
    return f"{day.year}年{day.month}月{day.day}日"


def letter_values(
    session: Session,
    item: Item,
    reply_class: str,
    reply: str,
    when: datetime,
    addressees: list[Deputy] | None = None,
) -> dict[str, str]:
    court = session.get(Court, item.court_id)
    return {
        "court": court.name if court else "",
        "number": item.number,
        "title": item.title,
        "deputies": "、".join(
            d.name for d in (item.deputies if addressees is None else addressees)
        ),
        "reply_class": CLASS_LABELS.get(reply_class, reply_class),
        "reply": reply.replace("\r\n", "\n").strip(),
        "date": chinese_date(when),
    }


# --- letters on items -----------------------------------------------------------------------


def generate(
    session: Session,
    actor: User,
    item: Item,
    reply_class: str,
    reply: str,
    when: datetime,
    task: Task | None = None,
) -> list[Attachment]:
    """One letter per deputy (a jointly signed item is answered to each of them), each
    stored as a `reply_letter` attachment and audited; the template is read once."""
    template, _shipped = current_template(item.court_id)
    template_digest = hashlib.sha256(template).hexdigest()
    letters = []
    for addressees in [[deputy] for deputy in item.deputies] or [[]]:
        values = letter_values(session, item, reply_class, reply, when, addressees)
        stored = attachments.store(render(template, values))
        to = "".join(f"-{d.name}" for d in addressees)
        letter = attachments.record(
            session,
            actor,
            item,
            stored,
            attachments.sanitise_filename(f"答复函-{item.number}{to}.docx"),
            task=task,
            kind=KIND,
            template_sha256=template_digest,
        )
        audit.record(
            session,
            item,
            actor,
            "reply_letter_generated",
            task_bpmn_id=task.bpmn_id if task else None,
            task_title=task.title if task else None,
            comment=letter.filename,
            data={"attachment_id": letter.id, "sha256": stored.sha256, "reply_class": reply_class},
        )
        letters.append(letter)
    return letters


def on_completed(
    session: Session, item: Item, task: Task, cleaned: dict[str, Any], actor: User
) -> list[Attachment]:
    """Called by tasks.complete: a step whose form gave `reply` and `reply_class` gets letters."""
    reply, reply_class = cleaned.get("reply"), cleaned.get("reply_class")
    if not isinstance(reply, str) or not isinstance(reply_class, str):
        return []
    return generate(session, actor, item, reply_class, reply, clock.now(), task)


def latest_letter(session: Session, item: Item) -> Attachment | None:
    return session.scalar(
        select(Attachment)
        .where(Attachment.item_id == item.id, Attachment.kind == KIND)
        .order_by(Attachment.id.desc())
        .limit(1)
    )


def _last_reply(session: Session, item: Item) -> AuditEvent | None:
    events = session.scalars(
        select(AuditEvent)
        .where(AuditEvent.item_id == item.id, AuditEvent.action == "completed")
        .order_by(AuditEvent.id.desc())
    )
    for event in events:
        data = event.data or {}
        if isinstance(data.get("reply"), str) and isinstance(data.get("reply_class"), str):
            return event
    return None


def template_changed(session: Session, item: Item) -> bool:
    """Whether the item has a reply whose letter was made from another template."""
    letter = latest_letter(session, item)
    if letter is None:
        return _last_reply(session, item) is not None
    return letter.template_sha256 != template_sha256(item.court_id)


def can_regenerate(session: Session, actor: User, item: Item) -> bool:
    return (
        actor.role in REGENERATING_ROLES
        and item.status != "filed"
        and template_changed(session, item)
    )


def regenerate(session: Session, actor: User, item_id: int) -> list[Attachment]:
    """Make the letter again from the current template (registrar/admin, open items only).

    The letter keeps the reply's own date; the earlier letter stays with the item.
    """
    item = items.get(session, actor, item_id)
    if actor.role not in REGENERATING_ROLES:
        raise Forbidden("只有联络员可以重新生成答复函 / registrars only")
    if item.status == "filed":
        raise Conflict("事项已归档 / the item is filed: its letter is part of the record")
    event = _last_reply(session, item)
    if event is None:
        raise Conflict("此事项尚未答复 / the item has no reply yet")
    if not template_changed(session, item):
        raise Conflict(
            "答复函已使用当前模板 / the letter already uses the current template",
        )
    task = session.scalar(
        select(Task)
        .where(
            Task.item_id == item.id,
            Task.bpmn_id == event.task_bpmn_id,
            Task.status == "completed",
        )
        .order_by(Task.completed_at.desc())
        .limit(1)
    )
    data = event.data or {}
    return generate(session, actor, item, data["reply_class"], data["reply"], event.at, task)
