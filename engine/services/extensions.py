"""Deadline extensions (延期): asked for with reasons, decided by the leader, told to the deputy.

The handling department (its drafters and head) or a registrar asks for a later deadline;
the leader in charge (or the president) approves or refuses. An approval moves the item
deadline (escalation starts over from the new date) and tells each deputy: by e-mail
through the outbox where the registry has an address, and the audit trail lists those
who must be told by phone or letter instead (everyone, while mail is off).

A kind may cap how far an extension can reach: a suggestion is answered within six
Civil-Code months of its assignment (交办) at the latest; a re-handled round (重新办理)
counts from the day it started.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from engine import clock, mailer
from engine.errors import Conflict, Forbidden, InvalidData, NotFound
from engine.models import AuditEvent, Court, Extension, Item, User
from engine.services import audit, items
from engine.services.scheduling import calendar, reschedule_item
from engine.services.visibility import visible_items

# Civil-Code months after assignment that an extended deadline may not pass, per kind.
MAX_MONTHS_AFTER_ASSIGNMENT: dict[str, int] = {"suggestion": 6}
DEPARTMENT_ROLES = frozenset({"drafter", "dept_head"})
REQUESTING_ROLES = frozenset({"registrar"}) | DEPARTMENT_ROLES
DECIDING_ROLES = frozenset({"leader", "president"})
STATUSES = ("pending", "approved", "refused")
MAX_TEXT = 2000
KIND_NAMES = {
    "suggestion": "代表建议",
    "letter": "代表来信",
    "concern_case": "代表关注案件",
    "petition": "转办信访件",
    "supervision": "督办函",
}


def can_request(actor: User, item: Item) -> bool:
    """The lead department's drafters and head, and registrars (for an item they can see)."""
    if actor.role in DEPARTMENT_ROLES:
        return item.department_id is not None and actor.department_id == item.department_id
    return actor.role in REQUESTING_ROLES


def can_decide(actor: User) -> bool:
    return actor.role in DECIDING_ROLES


def latest_due_on(session: Session, item: Item) -> date | None:
    """The last day an extension may reach for this item, or None when its kind has no cap."""
    months = MAX_MONTHS_AFTER_ASSIGNMENT.get(item.kind)
    if months is None or item.assigned_at is None:
        return None
    started = item.assigned_at
    if item.round > 1:
        started = (
            session.scalar(
                select(func.max(AuditEvent.at)).where(
                    AuditEvent.item_id == item.id, AuditEvent.action == "rehandling"
                )
            )
            or started
        )
    started_on = started.astimezone(clock.business_timezone()).date()
    return calendar(session).add_months(started_on, months).day


def current_due_on(item: Item) -> date | None:
    if item.due_at is None:
        return None
    return item.due_at.astimezone(clock.business_timezone()).date()


def request(
    session: Session, actor: User, item_id: int, reason: Any, requested_due_on: Any
) -> Extension:
    """Ask for the item's deadline to move to `requested_due_on` (an ISO date)."""
    item = items.get(session, actor, item_id)
    if not can_request(actor, item):
        raise Forbidden(
            "只有承办部门或联络员可以申请延期 / only the handling department or a registrar "
            "may ask for an extension"
        )
    _lock(session, item)
    _check_open(item)
    due_on = current_due_on(item)
    if due_on is None:
        raise Conflict("事项尚未交办，没有办理期限 / the item has no deadline yet")
    if _pending_of(session, item) is not None:
        raise Conflict(
            "本件已有待审批的延期申请 / an extension request for this item is already pending"
        )
    fields: dict[str, str] = {}
    text = _text(reason)
    if text is None:
        fields["reason"] = "请说明延期理由（至少 2 个字）/ give the reason (at least 2 characters)"
    elif len(text) > MAX_TEXT:
        fields["reason"] = f"最多 {MAX_TEXT} 字 / at most {MAX_TEXT} characters"
    day = _parse_day(requested_due_on)
    if day is None:
        fields["requested_due_on"] = "日期格式应为 YYYY-MM-DD / a date such as 2026-11-28"
    elif day <= due_on:
        fields["requested_due_on"] = (
            f"应晚于现在的办理期限 {due_on.isoformat()} / must be after the current deadline "
            f"{due_on.isoformat()}"
        )
    elif (latest := latest_due_on(session, item)) is not None and day > latest:
        months = MAX_MONTHS_AFTER_ASSIGNMENT[item.kind]
        fields["requested_due_on"] = (
            f"延期后最迟为 {latest.isoformat()}（交办后 {months} 个月）/ at the latest "
            f"{latest.isoformat()} ({months} months after assignment)"
        )
    if fields:
        raise InvalidData("extension request is invalid: " + ", ".join(sorted(fields)), fields)
    extension = Extension(
        court_id=item.court_id,
        item_id=item.id,
        reason=text,
        requested_due_on=day,
        status="pending",
        requested_by_id=actor.id,
        created_at=clock.now(),
    )
    session.add(extension)
    session.flush()
    audit.record(
        session,
        item,
        actor,
        "extension_requested",
        comment=f"申请延期至 {day.isoformat()}：{text}",
        data={
            "extension_id": extension.id,
            "requested_due_on": day.isoformat(),
            "current_due_on": due_on.isoformat(),
        },
    )
    return extension


def decide(
    session: Session, actor: User, extension_id: int, approve: Any, comment: Any = None
) -> Extension:
    """The leader's decision; an approval moves the deadline and tells the deputies."""
    locked_id = session.scalar(
        select(Extension.id)
        .where(Extension.id == extension_id, Extension.court_id == actor.court_id)
        .with_for_update()
    )
    if locked_id is None:
        raise NotFound(f"extension {extension_id} not found")
    extension = session.get(Extension, locked_id, populate_existing=True)
    item = items.get(session, actor, extension.item_id)  # 404 for an item the actor cannot see
    if not can_decide(actor):
        raise Forbidden("只有分管院长可以审批延期 / only a leader may decide on extensions")
    if not isinstance(approve, bool):
        raise InvalidData("approve must be true or false", {"approve": "true / false"})
    if extension.status != "pending":
        raise Conflict("该延期申请已审批 / the extension request has already been decided")
    note = _text(comment) if comment not in (None, "") else None
    if comment not in (None, "") and note is None:
        raise InvalidData(
            "comment is too short", {"comment": "至少 2 个字 / at least 2 characters"}
        )
    if note is not None and len(note) > MAX_TEXT:
        raise InvalidData(
            "comment is too long",
            {"comment": f"最多 {MAX_TEXT} 字 / at most {MAX_TEXT} characters"},
        )
    if not approve and note is None:
        raise InvalidData(
            "a refusal needs a comment",
            {"comment": "不同意延期须说明理由 / say why the extension is refused"},
        )
    extension.decided_by_id = actor.id
    extension.decided_at = clock.now()
    extension.decision_comment = note
    session.flush()
    session.expire(extension, ["decided_by"])  # loaded as None with the row: read it again
    if not approve:
        extension.status = "refused"
        audit.record(
            session,
            item,
            actor,
            "extension_refused",
            comment=note,
            data={"extension_id": extension.id},
        )
        return extension
    _check_open(item)
    due_on = current_due_on(item)
    if due_on is not None and extension.requested_due_on <= due_on:
        raise Conflict(
            f"办理期限已是 {due_on.isoformat()}，不晚于申请的日期 / the deadline is already "
            f"{due_on.isoformat()}, not before the requested day"
        )
    extension.status = "approved"
    extension.previous_due_at = item.due_at
    reschedule_item(session, item, extension.requested_due_on)
    new_day = extension.requested_due_on.isoformat()
    audit.record(
        session,
        item,
        actor,
        "extension_approved",
        comment=f"同意延期至 {new_day}" + (f"：{note}" if note else ""),
        data={
            "extension_id": extension.id,
            "previous_due_on": due_on.isoformat() if due_on else None,
            "due_on": new_day,
        },
    )
    _tell_deputies(session, actor, item, extension)
    return extension


def _tell_deputies(session: Session, actor: User, item: Item, extension: Extension) -> None:
    """E-mail each deputy with an address; list the others for a phone call or a letter."""
    court = session.get(Court, item.court_id)
    kind = KIND_NAMES.get(item.kind, "事项")
    new_day = extension.requested_due_on
    mail_on = mailer.mail_enabled()
    emailed, without = [], []
    for deputy in sorted(item.deputies, key=lambda d: d.id):
        address = (deputy.email or "").strip()
        if not address or not mail_on:
            without.append(deputy)
            continue
        emailed.append(deputy)
        mailer.queue(
            session,
            f"extension:{extension.id}:deputy:{deputy.id}",
            address,
            f"[联络通] 延期办理告知 {item.number}",
            f"尊敬的{deputy.name}代表：\n\n"
            f"您提出的{kind}《{item.title}》（编号 {item.number}）经本院批准延期办理，"
            f"办理期限延至 {new_day.year} 年 {new_day.month} 月 {new_day.day} 日"
            f"（{new_day.isoformat()}）。延期原因：{extension.reason}\n\n"
            f"我们将抓紧办理并及时答复，感谢您对法院工作的监督和支持。\n\n"
            f"{court.name if court else ''}",
        )
    parts = []
    if emailed:
        parts.append("已发邮件：" + "、".join(f"{d.name} <{d.email.strip()}>" for d in emailed))
    if without:
        why = "无邮箱" if mail_on else "邮件未开启"
        parts.append(f"{why}，请电话或书面告知：" + "、".join(d.name for d in without))
    audit.record(
        session,
        item,
        actor,
        "deputies_notified_of_extension",
        comment="；".join(parts) if parts else "本件无代表需告知 / no deputy to tell",
        data={
            "extension_id": extension.id,
            "emailed": [d.id for d in emailed],
            "without_email": [d.id for d in without],
            "mail_enabled": mail_on,
        },
    )


def get(session: Session, actor: User, extension_id: int) -> Extension:
    """One request on an item the actor may see (NotFound otherwise)."""
    extension = session.scalar(
        select(Extension).where(
            Extension.id == extension_id,
            Extension.court_id == actor.court_id,
            Extension.item_id.in_(select(Item.id).where(visible_items(actor))),
        )
    )
    if extension is None:
        raise NotFound(f"extension {extension_id} not found")
    return extension


def for_item(session: Session, item: Item) -> list[Extension]:
    """The item's extension requests, oldest first (the caller has checked visibility)."""
    return list(
        session.scalars(
            select(Extension)
            .where(Extension.item_id == item.id, Extension.court_id == item.court_id)
            .order_by(Extension.id)
        )
    )


def search(
    session: Session,
    actor: User,
    status: str | None = None,
    page: int = 1,
    per_page: int = 20,
) -> tuple[list[Extension], int]:
    """Requests on items the actor may see, oldest first (the order they wait in)."""
    if status is not None and status not in STATUSES:
        raise InvalidData(
            f"status must be one of {', '.join(STATUSES)}", {"status": "|".join(STATUSES)}
        )
    visible = select(Item.id).where(visible_items(actor))
    conditions = [Extension.court_id == actor.court_id, Extension.item_id.in_(visible)]
    if status is not None:
        conditions.append(Extension.status == status)
    total = session.scalar(select(func.count()).select_from(Extension).where(*conditions)) or 0
    rows = session.scalars(
        select(Extension)
        .where(*conditions)
        .order_by(Extension.id)
        .limit(per_page)
        .offset((page - 1) * per_page)
    ).all()
    return list(rows), total


def pending(session: Session, actor: User, limit: int = 100) -> list[Extension]:
    """Requests waiting for a decision, court-wide, for the leaders who decide them."""
    if not can_decide(actor):
        return []
    return list(
        session.scalars(
            select(Extension)
            .where(Extension.court_id == actor.court_id, Extension.status == "pending")
            .order_by(Extension.id)
            .limit(limit)
        )
    )


def _pending_of(session: Session, item: Item) -> Extension | None:
    return session.scalar(
        select(Extension).where(Extension.item_id == item.id, Extension.status == "pending")
    )


def _lock(session: Session, item: Item) -> None:
    """Serialise requests on one item (PostgreSQL; SQLite writers are serialised already)."""
    session.execute(
        select(Item)
        .where(Item.id == item.id)
        .with_for_update(of=Item)
        .execution_options(populate_existing=True)  # and read its state again under the lock
    )


def _check_open(item: Item) -> None:
    if item.status == "filed":
        raise Conflict("事项已归档，不能延期 / the item is filed")
    if item.replied_at is not None:
        raise Conflict("事项已答复，无需延期 / the item is already answered")


def _text(value: Any) -> str | None:
    if not isinstance(value, str) or len(value.strip()) < 2:
        return None
    return value.strip()


def _parse_day(value: Any) -> date | None:
    if isinstance(value, datetime):  # an instant is not a day (which zone's?)
        return None
    if isinstance(value, date):
        return value
    if not isinstance(value, str) or len(value.strip()) != 10:
        return None
    try:
        return date.fromisoformat(value.strip())
    except ValueError:
        return None
