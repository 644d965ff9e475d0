"""Register items and read them, always through the caller's visibility."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from engine import clock
from engine.errors import Forbidden, InvalidData, NotFound
from engine.models import (
    ITEM_KINDS,
    AuditEvent,
    Department,
    Deputy,
    Item,
    ProcessInstance,
    ProcessModel,
    Task,
    User,
)
from engine.services import audit, process_models, projection
from engine.services import search as item_search
from engine.services.numbering import next_number
from engine.services.process_models import current_model, specs_of
from engine.services.scheduling import calendar
from engine.services.visibility import visible_items
from engine.workflow import runtime

REGISTERING_ROLES = frozenset({"registrar", "admin"})
MAX_TITLE = 300
MAX_CONTENT = 50_000


@dataclass(frozen=True)
class NewItem:
    kind: str
    title: str
    content: str
    deputies: list[int | str]
    received_at: datetime | None = None


def register(session: Session, actor: User, new: NewItem) -> Item:
    """Number the item, start its workflow and offer the first step to the registrar."""
    if actor.role not in REGISTERING_ROLES:
        raise Forbidden("only registrars register items")
    _check(new)
    model = current_model(session, actor.court_id, new.kind, required=False)
    if model is None:
        raise InvalidData(
            f"no workflow is deployed for kind {new.kind!r}", {"kind": "no workflow deployed"}
        )
    received_at = new.received_at or clock.now()
    year = received_at.astimezone(clock.business_timezone()).year
    item = Item(
        court_id=actor.court_id,
        number=next_number(session, actor.court_id, new.kind, year),
        kind=new.kind,
        title=new.title.strip(),
        content=new.content.strip(),
        received_at=received_at,
        status="open",
        created_by_id=actor.id,
        created_at=clock.now(),
    )
    item.deputies = _resolve_deputies(session, actor.court_id, new.deputies or [])
    session.add(item)
    session.flush()
    workflow = runtime.start(
        specs_of(model),
        start_data(item),
        calendar(session),
    )
    instance = ProcessInstance(item_id=item.id, process_model_id=model.id)
    projection.save_state(instance, workflow)
    session.add(instance)
    session.flush()
    projection.sync(session, item, instance, workflow)
    session.flush()
    first = session.scalar(select(Task).where(Task.item_id == item.id, Task.status == "open"))
    if first is not None and first.role == actor.role:
        first.assignee_id = actor.id
    audit.record(session, item, actor, "registered", comment=item.title)
    return item


def start_data(item: Item, *, rehandle: bool = False) -> dict:
    """What a kind's diagram reads when it starts (a re-handling skips registration)."""
    return start_values(
        item.id,
        item.number,
        item.kind,
        item.title,
        rehandle=rehandle,
        round=item.round or 1,
        department=item.department.name if item.department else "",
        co_departments=[d.name for d in item.co_departments],
    )


def start_values(
    item_id: int,
    number: str,
    kind: str,
    title: str,
    *,
    rehandle: bool = False,
    round: int = 1,
    department: str = "",
    co_departments: list[str] | None = None,
) -> dict:
    """The start data of every workflow: real items and the designer's dry runs alike."""
    return {
        "item_id": item_id,
        "item_number": number,
        "kind": kind,
        "title": title,
        "rehandle": rehandle,
        "round": round,
        "department": department,
        "co_departments": list(co_departments or []),
    }


# Forwarded petitions and upper courts' supervision letters need not name a deputy.
KINDS_WITHOUT_DEPUTIES = frozenset({"petition", "supervision"})


def _check(new: NewItem) -> None:
    fields = {}
    if new.kind not in ITEM_KINDS:
        fields["kind"] = f"must be one of {', '.join(ITEM_KINDS)}"
    if not isinstance(new.title, str) or not new.title.strip():
        fields["title"] = "必填 / required"
    elif len(new.title) > MAX_TITLE:
        fields["title"] = f"最多 {MAX_TITLE} 字 / at most {MAX_TITLE} characters"
    if not isinstance(new.content, str) or not new.content.strip():
        fields["content"] = "必填 / required"
    elif len(new.content) > MAX_CONTENT:
        fields["content"] = f"at most {MAX_CONTENT} characters"
    if new.deputies is not None and not isinstance(new.deputies, list):
        fields["deputies"] = "must be a list of names or ids"
    elif not new.deputies:  # empty or left out: only petitions and supervision letters
        if new.kind not in KINDS_WITHOUT_DEPUTIES:
            fields["deputies"] = "至少一位代表 / at least one deputy"
    elif not all(_is_deputy_ref(d) for d in new.deputies):
        fields["deputies"] = "each deputy is a name or an id"
    if new.received_at is not None and new.received_at > clock.now():
        fields["received_at"] = "收件日期不能晚于今天 / cannot be in the future"
    if fields:
        raise InvalidData("item is invalid: " + ", ".join(sorted(fields)), fields)


MAX_ID = 2**31 - 1


def _is_deputy_ref(ref: object) -> bool:
    """A non-empty name, or an id that fits the column (bool is an int in Python: refuse)."""
    if isinstance(ref, bool):
        return False
    if isinstance(ref, int):
        return 1 <= ref <= MAX_ID
    return isinstance(ref, str) and bool(ref.strip()) and len(ref) <= 100


def _resolve_deputies(session: Session, court_id: int, refs: list[int | str]) -> list[Deputy]:
    """Ids must exist; a name not yet in the registry is added to it."""
    deputies: list[Deputy] = []
    for ref in refs:
        if isinstance(ref, int):
            deputy = session.scalar(
                select(Deputy).where(Deputy.id == ref, Deputy.court_id == court_id)
            )
            if deputy is None:
                raise InvalidData(f"no deputy with id {ref}", {"deputies": f"unknown id {ref}"})
        else:
            name = ref.strip()
            deputy = session.scalar(
                select(Deputy).where(Deputy.court_id == court_id, Deputy.name == name)
            )
            if deputy is None:
                deputy = Deputy(court_id=court_id, name=name)
                session.add(deputy)
        if deputy not in deputies:
            deputies.append(deputy)
    return deputies


def get(session: Session, actor: User, item_id: int) -> Item:
    item = session.scalar(select(Item).where(Item.id == item_id, visible_items(actor)))
    if item is None:
        raise NotFound(f"item {item_id} not found")
    return item


CO_OPINION_STEP = "co_opinion"  # the co-handling units' step in common_handling.bpmn


@dataclass(frozen=True)
class CoOpinion:
    """A co-handling unit's opinion for the lead department (or the wait for it)."""

    department: str
    status: str  # open / completed / cancelled (its limit passed)
    due_at: datetime | None
    opinion: str | None
    by: str | None
    at: datetime | None


@dataclass(frozen=True)
class ItemDetail:
    """An item with what its page and `GET /items/{id}` show."""

    item: Item
    process: ProcessModel
    open_tasks: list[Task]
    events: list[AuditEvent]
    co_opinions: list[CoOpinion]


def detail(session: Session, actor: User, item_id: int) -> ItemDetail:
    item = get(session, actor, item_id)
    process = session.scalar(
        select(ProcessModel)
        .join(ProcessInstance, ProcessInstance.process_model_id == ProcessModel.id)
        .where(ProcessInstance.item_id == item.id)
    )
    open_tasks = session.scalars(
        select(Task).where(Task.item_id == item.id, Task.status == "open").order_by(Task.id)
    ).all()
    events = session.scalars(
        select(AuditEvent).where(AuditEvent.item_id == item.id).order_by(AuditEvent.id)
    ).all()
    return ItemDetail(item, process, list(open_tasks), list(events), _co_opinions(session, item))


CORRECTING_ROLES = frozenset({"registrar", "leader", "president", "admin"})
MAX_CORRECTION = 2000


def add_correction(session: Session, actor: User, item_id: int, text: object) -> AuditEvent:
    """更正说明: the only change a filed item takes, appended to its trail (never an edit)."""
    item = get(session, actor, item_id)
    if actor.role not in CORRECTING_ROLES:
        raise Forbidden(
            "只有联络员或领导可以添加更正说明 / only registrars and leaders add corrections"
        )
    if not isinstance(text, str) or len(text.strip()) < 2:
        raise InvalidData("comment is required", {"comment": "至少 2 个字 / at least 2 characters"})
    if len(text) > MAX_CORRECTION:
        raise InvalidData(
            "comment is too long",
            {"comment": f"最多 {MAX_CORRECTION} 字 / at most {MAX_CORRECTION}"},
        )
    return audit.record(session, item, actor, "corrected", comment=text.strip())


def diagrams(session: Session, actor: User, item_id: int) -> dict[str, str]:
    """Process id → BPMN XML of the item's diagram and the shared subprocesses it calls,
    exactly the versions the item runs on."""
    process = detail(session, actor, item_id).process
    return {process.key: process.bpmn_xml, **process_models.library_of(session, process)}


def _co_opinions(session: Session, item: Item) -> list[CoOpinion]:
    """Every co-handling step of the item with the opinion each unit wrote (one query)."""
    rows = session.execute(
        select(Task, Department.name, AuditEvent)
        .join(Department, Department.id == Task.department_id, isouter=True)
        .join(
            AuditEvent,
            (AuditEvent.task_id == Task.id) & (AuditEvent.action == "completed"),
            isouter=True,
        )
        .where(Task.item_id == item.id, Task.bpmn_id == CO_OPINION_STEP)
        .order_by(Task.id)
    ).all()
    return [
        CoOpinion(
            department=name or "—",
            status=task.status,
            due_at=task.due_at,
            opinion=event.comment if event else None,
            by=event.actor.display_name if event and event.actor else None,
            at=event.at if event else None,
        )
        for task, name, event in rows
    ]


@dataclass(frozen=True)
class ItemQuery:
    kind: str | None = None
    status: str | None = None
    overdue: bool | None = None
    q: str | None = None
    due_soon: bool | None = None
    supervised: bool | None = None
    sort: str = "newest"
    page: int = 1
    per_page: int = 20


ITEM_SORTS = ("newest", "due")


def search(session: Session, actor: User, query: ItemQuery) -> tuple[list[Item], int]:
    """Items the actor may see, newest first, with the total for paging."""
    conditions = [visible_items(actor)]
    now = clock.now()
    if query.kind:
        conditions.append(Item.kind == query.kind)
    if query.status:
        conditions.append(Item.status == query.status)
    if query.overdue is not None:
        overdue = (Item.status == "open") & (Item.due_at < now)
        conditions.append(overdue if query.overdue else ~overdue | Item.due_at.is_(None))
    if query.due_soon is not None:
        soon = (Item.status == "open") & (Item.remind_at <= now) & (Item.due_at >= now)
        conditions.append(soon if query.due_soon else ~soon)
    if query.supervised is not None:
        conditions.append(Item.supervised.is_(query.supervised) & (Item.status == "open"))
    if query.sort not in ITEM_SORTS:
        raise InvalidData(f"sort must be one of {', '.join(ITEM_SORTS)}", {"sort": "unknown"})
    ranking = []
    if item_search.normalize(query.q):
        conditions.append(item_search.matches(session, query.q))
        ranking.append(item_search.exact_number_first(query.q))  # then as sorted below
    total = session.scalar(select(func.count()).select_from(Item).where(*conditions)) or 0
    rows = session.scalars(
        select(Item)
        .where(*conditions)
        .order_by(
            *ranking,
            *([Item.due_at.is_(None), Item.due_at] if query.sort == "due" else []),
            Item.id.desc(),
        )
        .limit(query.per_page)
        .offset((query.page - 1) * query.per_page)
    ).all()
    return list(rows), total
