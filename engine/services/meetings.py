"""Meeting the deputy (见面/沟通) before the reply, and the leader's waiver.

Many local rules require the handling side to meet (or at least talk with) the deputy
before a suggestion is answered; reports count the share of items where that happened
(见面率). Whether a kind requires it is an administrator's setting per kind
(`kind_settings.meeting_required`); suggestions require it by default.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import exists, select
from sqlalchemy.orm import Session

from engine import clock
from engine.errors import Conflict, Forbidden, InvalidData
from engine.models import Item, KindSetting, Meeting, User
from engine.services import audit, items

MEETING_REQUIRED_BY_DEFAULT = frozenset({"suggestion"})


def meeting_required(session: Session, item: Item) -> bool:
    setting = session.get(KindSetting, (item.court_id, item.kind))
    if setting is not None and setting.meeting_required is not None:
        return setting.meeting_required
    return item.kind in MEETING_REQUIRED_BY_DEFAULT


def has_met(session: Session, item: Item) -> bool:
    """Whether a meeting is recorded for the item's current round of handling."""
    return bool(
        session.scalar(
            select(exists().where(Meeting.item_id == item.id, Meeting.round == item.round))
        )
    )


def require_meeting(session: Session, item: Item) -> None:
    """Refuse the reply while a required meeting is neither recorded nor waived."""
    if item.meeting_waived or not meeting_required(session, item) or has_met(session, item):
        return
    message = (
        "答复前须与代表见面或沟通（请先登记见面情况，或由分管院长批准免于见面）/ meet the "
        "deputy before replying: record the meeting first, or have the leader waive it"
    )
    raise InvalidData(message, {"meeting": message})


MEETING_METHODS = ("in_person", "phone", "video", "forum")
RECORDING_ROLES = frozenset({"registrar", "drafter", "dept_head", "leader", "president", "admin"})
WAIVING_ROLES = frozenset({"leader", "president"})
MAX_NOTES = 5000


def record(
    session: Session,
    actor: User,
    item_id: int,
    met_on: Any,
    method: Any,
    notes: Any,
    deputy_id: Any = None,
) -> Meeting:
    """Record a meeting or talk with the item's deputies (one deputy, or all when None)."""
    item = _open_item(session, actor, item_id)
    if actor.role not in RECORDING_ROLES:
        raise Forbidden("此角色不能登记见面 / this role cannot record meetings")
    fields: dict[str, str] = {}
    day = _parse_day(met_on)
    if day is None:
        fields["met_on"] = "日期格式应为 YYYY-MM-DD / a date such as 2026-11-28"
    elif day > clock.local_now().date():
        fields["met_on"] = "见面日期不能晚于今天 / cannot be in the future"
    if not isinstance(method, str) or method not in MEETING_METHODS:
        fields["method"] = f"见面方式应为 / must be one of {', '.join(MEETING_METHODS)}"
    if not isinstance(notes, str) or len(notes.strip()) < 2:
        fields["notes"] = "至少 2 个字 / at least 2 characters"
    elif len(notes) > MAX_NOTES:
        fields["notes"] = f"最多 {MAX_NOTES} 字 / at most {MAX_NOTES} characters"
    deputy = None
    if deputy_id not in (None, ""):
        deputy = next((d for d in item.deputies if str(d.id) == str(deputy_id)), None)
        if deputy is None:
            fields["deputy_id"] = "不是本件的代表 / not a deputy of this item"
    if fields:
        raise InvalidData("meeting is invalid: " + ", ".join(sorted(fields)), fields)
    meeting = Meeting(
        court_id=item.court_id,
        item_id=item.id,
        deputy_id=deputy.id if deputy else None,
        met_on=day,
        method=method,
        notes=notes.strip(),
        round=item.round,
        recorded_by_id=actor.id,
        created_at=clock.now(),
    )
    session.add(meeting)
    audit.record(
        session,
        item,
        actor,
        "meeting_recorded",
        comment=f"{day.isoformat()} {method}: {notes.strip()[:200]}",
        data={"met_on": day.isoformat(), "method": method, "deputy_id": meeting.deputy_id},
    )
    session.flush()
    return meeting


def waive(session: Session, actor: User, item_id: int, reason: Any) -> Item:
    """The leader's decision that this item may be answered without a meeting."""
    item = _open_item(session, actor, item_id)
    if actor.role not in WAIVING_ROLES:
        raise Forbidden("只有分管院长可以批准免于见面 / only a leader may waive the meeting")
    if not isinstance(reason, str) or len(reason.strip()) < 2:
        raise InvalidData("reason is required", {"reason": "至少 2 个字 / at least 2 characters"})
    item.meeting_waived = True
    audit.record(session, item, actor, "meeting_waived", comment=reason.strip()[:2000])
    return item


def for_item(session: Session, item: Item) -> list[Meeting]:
    """The item's meetings over all rounds, oldest first (the caller has checked visibility)."""
    return list(
        session.scalars(
            select(Meeting)
            .where(Meeting.item_id == item.id, Meeting.court_id == item.court_id)
            .order_by(Meeting.id)
        )
    )


def status(session: Session, item: Item) -> str:
    """`met`, `waived`, `needed` (required, neither recorded nor waived) or `not_required`."""
    if has_met(session, item):
        return "met"
    if item.meeting_waived:
        return "waived"
    return "needed" if meeting_required(session, item) else "not_required"


def can_record(actor: User) -> bool:
    return actor.role in RECORDING_ROLES


def can_waive(actor: User) -> bool:
    return actor.role in WAIVING_ROLES


def _open_item(session: Session, actor: User, item_id: int) -> Item:
    item = items.get(session, actor, item_id)
    if item.status == "filed":
        raise Conflict("事项已归档，不能修改 / the item is filed and read-only")
    return item


def _parse_day(value: Any) -> date | None:
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        return None
