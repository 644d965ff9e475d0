"""Re-handling (重新办理) after a deputy rates an answer 不满意.

The item gets a new round: its workflow starts again from the handling subprocess (the
kinds' diagrams skip registration when `rehandle` is true), with the same lead and
co-handling departments, and a shorter item limit (one month by default; an
administrator sets it per kind). A filed item is reopened; it keeps its archive number.
The previous round stays in the audit trail and the completed task rows.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from engine import clock
from engine.models import Item, KindSetting, ProcessInstance, User
from engine.services import audit, projection
from engine.services.items import start_data
from engine.services.process_models import specs_of
from engine.services.scheduling import calendar, reschedule_item
from engine.workflow import runtime

DEFAULT_REHANDLE_MONTHS = 1


def rehandle_months(session: Session, item: Item) -> int:
    setting = session.get(KindSetting, (item.court_id, item.kind))
    if setting is not None and setting.rehandle_months:
        return setting.rehandle_months
    return DEFAULT_REHANDLE_MONTHS


def rehandle(session: Session, item: Item, actor: User | None, reason: str) -> Item:
    """Start the item's next round now; the caller has checked the rating that asks for it."""
    instance = session.query(ProcessInstance).filter_by(item_id=item.id).one()
    item.round = (item.round or 1) + 1
    if item.status == "filed":
        item.status = "open"
        item.filed_at = None
    item.replied_at = None
    item.reply_class = None
    item.meeting_waived = False  # a new answer needs its own meeting (or waiver)
    workflow = runtime.start(
        specs_of(instance.process_model), start_data(item, rehandle=True), calendar(session)
    )
    projection.save_state(instance, workflow)
    session.flush()  # version-checked: a concurrent change to the instance is a Conflict
    projection.sync(session, item, instance, workflow)
    today = clock.local_now().date()
    due_day = calendar(session).add_months(today, rehandle_months(session, item)).day
    reschedule_item(session, item, due_day)
    audit.record(
        session,
        item,
        actor,
        "rehandling",
        comment=reason,
        data={"round": item.round, "due_on": due_day.isoformat()},
    )
    return item
