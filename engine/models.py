"""SQLAlchemy models: the court's records, workflow state and the projections read by lists.

Every record belongs to a court so several courts can later share one database. List
pages and sweeps read the projections (`tasks`, `items`, `timers`) through indexes;
they never deserialize workflow state.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from engine import clock

ROLES = ("registrar", "drafter", "dept_head", "leader", "president", "designer", "admin")
ITEM_KINDS = ("suggestion", "letter", "concern_case", "petition", "supervision")
CASE_STAGES = ("trial", "effective", "enforcement")  # 审理中 / 已生效 / 执行中


class UTCDateTime(TypeDecorator):
    """Stores naive UTC, returns aware UTC: the same on SQLite and PostgreSQL."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given; use engine.clock")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect) -> datetime | None:
        return None if value is None else value.replace(tzinfo=UTC)


class Base(DeclarativeBase):
    type_annotation_map = {datetime: UTCDateTime, dict[str, Any]: JSON}


class Court(Base):
    __tablename__ = "courts"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)


class Department(Base):
    __tablename__ = "departments"
    __table_args__ = (UniqueConstraint("court_id", "name"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    court_id: Mapped[int] = mapped_column(ForeignKey("courts.id"))
    name: Mapped[str] = mapped_column(String(100))


class User(Base):
    __tablename__ = "users"
    id: Mapped[int] = mapped_column(primary_key=True)
    court_id: Mapped[int] = mapped_column(ForeignKey("courts.id"), index=True)
    username: Mapped[str] = mapped_column(String(80), unique=True)
    display_name: Mapped[str] = mapped_column(String(100))
    password_hash: Mapped[str | None] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(20))
    department_id: Mapped[int | None] = mapped_column(ForeignKey("departments.id"))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    email: Mapped[str | None] = mapped_column(String(200))
    daily_digest: Mapped[bool] = mapped_column(Boolean, default=False)
    department: Mapped[Department | None] = relationship(lazy="joined")


class ApiToken(Base):
    """API tokens are stored as SHA-256 digests; the plain token is shown once."""

    __tablename__ = "api_tokens"
    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=clock.now)


class Deputy(Base):
    """A People's Congress deputy in the registry (代表登记簿).

    (court, name, delegation) identifies a deputy on re-import; deputies added by name
    when an item is registered have no delegation until the registry fills it in.
    """

    __tablename__ = "deputies"
    __table_args__ = (
        Index("ix_deputies_court_name", "court_id", "name"),
        UniqueConstraint(
            "court_id", "name", "delegation", name="uq_deputies_court_name_delegation"
        ),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    court_id: Mapped[int] = mapped_column(ForeignKey("courts.id"))
    name: Mapped[str] = mapped_column(String(100))
    level: Mapped[str | None] = mapped_column(String(20))  # 全国/省/市/县
    delegation: Mapped[str | None] = mapped_column(String(200))
    work_unit: Mapped[str | None] = mapped_column(String(200))
    phone: Mapped[str | None] = mapped_column(String(50))
    address: Mapped[str | None] = mapped_column(String(300))
    email: Mapped[str | None] = mapped_column(String(200))
    term: Mapped[str | None] = mapped_column(String(50))  # 届次, e.g. 第十四届
    active: Mapped[bool] = mapped_column(Boolean, default=True)


class Pairing(Base):
    """结对联络: a member of staff paired with a deputy."""

    __tablename__ = "pairings"
    __table_args__ = (Index("ix_pairings_user", "user_id", "deputy_id"),)
    deputy_id: Mapped[int] = mapped_column(ForeignKey("deputies.id"), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), primary_key=True)
    court_id: Mapped[int] = mapped_column(ForeignKey("courts.id"))
    created_at: Mapped[datetime] = mapped_column(default=clock.now)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    user: Mapped[User] = relationship(foreign_keys=[user_id], lazy="joined")


class NumberSequence(Base):
    """Per-court counters for item and archive numbers, incremented under a row lock."""

    __tablename__ = "number_sequences"
    court_id: Mapped[int] = mapped_column(ForeignKey("courts.id"), primary_key=True)
    series: Mapped[str] = mapped_column(String(40), primary_key=True)
    last_value: Mapped[int] = mapped_column(Integer, default=0)


class ProcessModel(Base):
    """One immutable version of a BPMN diagram with the form schemas it refers to."""

    __tablename__ = "process_models"
    __table_args__ = (UniqueConstraint("court_id", "key", "version"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    court_id: Mapped[int] = mapped_column(ForeignKey("courts.id"))
    key: Mapped[str] = mapped_column(String(100))
    version: Mapped[int] = mapped_column(Integer)
    bpmn_xml: Mapped[str] = mapped_column(Text, deferred=True)  # read only on a cache miss
    forms: Mapped[dict[str, Any]] = mapped_column(default=dict)
    deployed: Mapped[bool] = mapped_column(Boolean, default=False)  # current for new items
    deployed_at: Mapped[datetime | None]  # None: a draft never deployed
    note: Mapped[str | None] = mapped_column(Text)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(default=clock.now)
    # Shared subprocess versions (common_*) this version calls, fixed when it was saved,
    # so a running item keeps the exact diagrams it started with.
    called_ids: Mapped[list[int] | None] = mapped_column(JSON)


class ItemDeputy(Base):
    __tablename__ = "item_deputies"
    item_id: Mapped[int] = mapped_column(ForeignKey("items.id"), primary_key=True)
    deputy_id: Mapped[int] = mapped_column(
        ForeignKey("deputies.id"),
        primary_key=True,
        index=True,  # a deputy's items
    )


class Item(Base):
    """A deputy's suggestion, letter, case, petition or supervision letter."""

    __tablename__ = "items"
    __table_args__ = (
        UniqueConstraint("court_id", "number"),
        Index("ix_items_court_status", "court_id", "status", "id"),
        Index("ix_items_department", "department_id", "status"),
        Index("ix_items_escalation", "next_escalation_at"),
        Index("ix_items_due", "court_id", "status", "due_at"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    court_id: Mapped[int] = mapped_column(ForeignKey("courts.id"))
    number: Mapped[str] = mapped_column(String(40))
    kind: Mapped[str] = mapped_column(String(20))
    title: Mapped[str] = mapped_column(String(300))
    content: Mapped[str] = mapped_column(Text)
    received_at: Mapped[datetime]
    status: Mapped[str] = mapped_column(String(20), default="open")
    current_step: Mapped[str | None] = mapped_column(String(100))
    department_id: Mapped[int | None] = mapped_column(ForeignKey("departments.id"))
    due_at: Mapped[datetime | None]
    remind_at: Mapped[datetime | None]
    supervise_at: Mapped[datetime | None]
    due_fallback: Mapped[bool] = mapped_column(Boolean, default=False)
    assigned_at: Mapped[datetime | None]
    escalation_level: Mapped[int] = mapped_column(Integer, default=0)
    next_escalation_at: Mapped[datetime | None]
    supervised: Mapped[bool] = mapped_column(Boolean, default=False)
    archive_number: Mapped[str | None] = mapped_column(String(40))
    created_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(default=clock.now)
    filed_at: Mapped[datetime | None]
    # Kind-specific registration facts (案号 and stage of a concern case; the body that
    # forwarded a petition or sent a supervision letter, and its reference).
    case_number: Mapped[str | None] = mapped_column(String(80))
    case_stage: Mapped[str | None] = mapped_column(String(20))
    source_org: Mapped[str | None] = mapped_column(String(200))
    source_reference: Mapped[str | None] = mapped_column(String(100))
    routed_at: Mapped[datetime | None]  # last (re)routing to a department: send-back limit
    round: Mapped[int] = mapped_column(Integer, default=1)  # 2+ after 不满意 re-handling
    meeting_waived: Mapped[bool] = mapped_column(Boolean, default=False)
    replied_at: Mapped[datetime | None]
    reply_class: Mapped[str | None] = mapped_column(String(1))
    department: Mapped[Department | None] = relationship(lazy="joined")
    deputies: Mapped[list[Deputy]] = relationship(secondary="item_deputies")
    co_departments: Mapped[list[Department]] = relationship(
        secondary="item_co_departments", order_by="Department.name"
    )


class ItemCoDepartment(Base):
    """A co-handling unit (协办部门) of an item; the item's `department` is the lead."""

    __tablename__ = "item_co_departments"
    item_id: Mapped[int] = mapped_column(ForeignKey("items.id"), primary_key=True)
    department_id: Mapped[int] = mapped_column(
        ForeignKey("departments.id"), primary_key=True, index=True
    )


class ProcessInstance(Base):
    """SpiffWorkflow state without the spec; `version` guards against lost updates."""

    __tablename__ = "process_instances"
    id: Mapped[int] = mapped_column(primary_key=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("items.id"), unique=True)
    process_model_id: Mapped[int] = mapped_column(ForeignKey("process_models.id"))
    state: Mapped[dict[str, Any]] = mapped_column(JSON)
    version: Mapped[int] = mapped_column(Integer, default=1)
    completed: Mapped[bool] = mapped_column(Boolean, default=False)
    updated_at: Mapped[datetime] = mapped_column(default=clock.now)
    process_model: Mapped[ProcessModel] = relationship(lazy="joined")
    __mapper_args__ = {"version_id_col": version}


class Task(Base):
    """Projection of user tasks: open ones feed the inbox, completed ones the 已办 list."""

    __tablename__ = "tasks"
    __table_args__ = (
        Index(
            "ix_tasks_candidates",
            "court_id",
            "status",
            "role",
            "department_id",
            "assignee_id",
            "created_at",
        ),
        Index("ix_tasks_court_open", "court_id", "status", "created_at"),
        Index("ix_tasks_assignee", "assignee_id", "status", "created_at"),
        Index("ix_tasks_item", "item_id", "status"),
        Index("ix_tasks_due", "status", "due_at"),
        Index("ix_tasks_escalation", "next_escalation_at"),
        Index("ix_tasks_completed_by", "completed_by_id", "completed_at"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    court_id: Mapped[int] = mapped_column(ForeignKey("courts.id"))
    item_id: Mapped[int] = mapped_column(ForeignKey("items.id"))
    instance_id: Mapped[int] = mapped_column(ForeignKey("process_instances.id"))
    task_guid: Mapped[str] = mapped_column(String(36), unique=True)
    bpmn_id: Mapped[str] = mapped_column(String(100))
    title: Mapped[str] = mapped_column(String(200))
    form: Mapped[str | None] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(20))
    department_id: Mapped[int | None] = mapped_column(ForeignKey("departments.id"))
    assignee_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    status: Mapped[str] = mapped_column(String(20), default="open")  # open/completed/cancelled
    created_at: Mapped[datetime] = mapped_column(default=clock.now)
    due_at: Mapped[datetime | None]
    remind_at: Mapped[datetime | None]
    supervise_at: Mapped[datetime | None]
    due_fallback: Mapped[bool] = mapped_column(Boolean, default=False)
    escalation_level: Mapped[int] = mapped_column(Integer, default=0)
    next_escalation_at: Mapped[datetime | None]
    completed_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    completed_at: Mapped[datetime | None]
    item: Mapped[Item] = relationship(lazy="joined")
    assignee: Mapped[User | None] = relationship(foreign_keys=[assignee_id], lazy="joined")
    department: Mapped[Department | None] = relationship(lazy="joined")


class Timer(Base):
    """Projection of waiting BPMN timer events: the sweep reads `due_at <= now`."""

    __tablename__ = "timers"
    __table_args__ = (Index("ix_timers_due", "fired_at", "due_at"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    instance_id: Mapped[int] = mapped_column(ForeignKey("process_instances.id"))
    task_guid: Mapped[str] = mapped_column(String(36), unique=True)
    due_at: Mapped[datetime]
    fired_at: Mapped[datetime | None]


class AuditEvent(Base):
    """Append-only trail of who did what and when; never updated or deleted."""

    __tablename__ = "audit_events"
    __table_args__ = (
        Index("ix_audit_item", "item_id", "id"),
        Index("ix_audit_actor", "actor_id", "id"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    court_id: Mapped[int] = mapped_column(ForeignKey("courts.id"))
    item_id: Mapped[int | None] = mapped_column(ForeignKey("items.id"))
    at: Mapped[datetime] = mapped_column(default=clock.now)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    action: Mapped[str] = mapped_column(String(40))
    task_bpmn_id: Mapped[str | None] = mapped_column(String(100))
    task_title: Mapped[str | None] = mapped_column(String(200))
    comment: Mapped[str | None] = mapped_column(Text)
    data: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    task_id: Mapped[int | None] = mapped_column(ForeignKey("tasks.id"))
    actor: Mapped[User | None] = relationship(lazy="joined")


class CalendarYear(Base):
    """A year whose holidays and make-up working days have been entered.

    Years without a row fall back to Monday–Friday, and deadlines computed in them are
    flagged so users see the calendar was guessed.
    """

    __tablename__ = "calendar_years"
    year: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    source: Mapped[str] = mapped_column(String(100))  # e.g. "chinesecalendar 1.11.0", "import"
    updated_at: Mapped[datetime] = mapped_column(default=clock.now)


class CalendarDay(Base):
    """An exception to the Monday–Friday rule: a holiday on a weekday or a 调休 working weekend."""

    __tablename__ = "calendar_days"
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    is_working: Mapped[bool] = mapped_column(Boolean)
    name: Mapped[str | None] = mapped_column(String(100))


class KindSetting(Base):
    """Per court and item kind: the item deadline and when an overdue item goes to a leader."""

    __tablename__ = "kind_settings"
    court_id: Mapped[int] = mapped_column(ForeignKey("courts.id"), primary_key=True)
    kind: Mapped[str] = mapped_column(String(20), primary_key=True)
    limit_months: Mapped[int | None] = mapped_column(Integer)
    limit_working_days: Mapped[int | None] = mapped_column(Integer)
    due_soon_working_days: Mapped[int] = mapped_column(Integer, default=3)
    supervise_after_working_days: Mapped[int] = mapped_column(Integer, default=2)
    rehandle_months: Mapped[int | None] = mapped_column(Integer)  # None: the default (1)
    meeting_required: Mapped[bool | None] = mapped_column(Boolean)  # None: kind's default


class Escalation(Base):
    """One escalation level reached by a task or an item; `key` makes it happen once."""

    __tablename__ = "escalations"
    id: Mapped[int] = mapped_column(primary_key=True)
    court_id: Mapped[int] = mapped_column(ForeignKey("courts.id"))
    key: Mapped[str] = mapped_column(
        String(60), unique=True
    )  # task:<id>:<level> / item:<id>:<level>
    item_id: Mapped[int] = mapped_column(ForeignKey("items.id"), index=True)
    task_id: Mapped[int | None] = mapped_column(ForeignKey("tasks.id"))
    level: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(default=clock.now)


class Alert(Base):
    """An in-app alert for one person about one escalation (never two for the same pair)."""

    __tablename__ = "alerts"
    __table_args__ = (
        UniqueConstraint("user_id", "escalation_id"),
        Index("ix_alerts_user", "user_id", "read_at", "id"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    court_id: Mapped[int] = mapped_column(ForeignKey("courts.id"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    escalation_id: Mapped[int] = mapped_column(ForeignKey("escalations.id"))
    item_id: Mapped[int] = mapped_column(ForeignKey("items.id"))
    task_id: Mapped[int | None] = mapped_column(ForeignKey("tasks.id"))
    level: Mapped[int] = mapped_column(Integer)
    message: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=clock.now)
    read_at: Mapped[datetime | None]


class OutboxMail(Base):
    """Mail written in the same transaction as its cause and sent after commit."""

    __tablename__ = "outbox_mail"
    __table_args__ = (Index("ix_outbox_pending", "sent_at", "next_attempt_at"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(80), unique=True)  # alert:<id> / digest:<user>:<date>
    to_address: Mapped[str] = mapped_column(String(200))
    subject: Mapped[str] = mapped_column(String(300))
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=clock.now)
    next_attempt_at: Mapped[datetime] = mapped_column(default=clock.now)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    sent_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)


class Attachment(Base):
    """A file kept with an item (and optionally one of its steps).

    The bytes live outside the database, content-addressed by SHA-256 under the
    attachments folder (`storage_key` is `ab/abcdef…`); the digest is checked again
    before every download. `kind` is `file` for uploads, `reply_letter` for generated
    答复函 (which also record the SHA-256 of the template they were made from).
    """

    __tablename__ = "attachments"
    __table_args__ = (Index("ix_attachments_item", "item_id", "id"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    court_id: Mapped[int] = mapped_column(ForeignKey("courts.id"))
    item_id: Mapped[int] = mapped_column(ForeignKey("items.id"))
    task_id: Mapped[int | None] = mapped_column(ForeignKey("tasks.id"))
    kind: Mapped[str] = mapped_column(String(20), default="file")
    filename: Mapped[str] = mapped_column(String(255))
    content_type: Mapped[str] = mapped_column(String(100))
    size: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    storage_key: Mapped[str] = mapped_column(String(100))
    template_sha256: Mapped[str | None] = mapped_column(String(64))
    uploaded_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(default=clock.now)
    uploaded_by: Mapped[User] = relationship(lazy="joined")
    task: Mapped[Task | None] = relationship(lazy="joined")


class Extension(Base):
    """延期: a handling department's request to move an item's deadline, and its decision."""

    __tablename__ = "extensions"
    __table_args__ = (
        Index("ix_extensions_item", "item_id", "id"),
        Index("ix_extensions_pending", "court_id", "status", "id"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    court_id: Mapped[int] = mapped_column(ForeignKey("courts.id"))
    item_id: Mapped[int] = mapped_column(ForeignKey("items.id"))
    reason: Mapped[str] = mapped_column(Text)
    requested_due_on: Mapped[date]
    previous_due_at: Mapped[datetime | None]
    status: Mapped[str] = mapped_column(String(20), default="pending")  # approved / refused
    requested_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(default=clock.now)
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    decided_at: Mapped[datetime | None]
    decision_comment: Mapped[str | None] = mapped_column(Text)
    item: Mapped[Item] = relationship(lazy="joined")
    requested_by: Mapped[User] = relationship(foreign_keys=[requested_by_id], lazy="joined")
    decided_by: Mapped[User | None] = relationship(foreign_keys=[decided_by_id], lazy="joined")


class Meeting(Base):
    """见面/沟通: a contact with the item's deputies before the reply (counted for 见面率)."""

    __tablename__ = "meetings"
    __table_args__ = (Index("ix_meetings_item", "item_id", "id"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    court_id: Mapped[int] = mapped_column(ForeignKey("courts.id"))
    item_id: Mapped[int] = mapped_column(ForeignKey("items.id"))
    deputy_id: Mapped[int | None] = mapped_column(ForeignKey("deputies.id"))  # None: all
    met_on: Mapped[date]
    method: Mapped[str] = mapped_column(String(20))  # in_person / phone / video / forum
    notes: Mapped[str] = mapped_column(Text)
    round: Mapped[int] = mapped_column(Integer, default=1)
    recorded_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(default=clock.now)
    deputy: Mapped[Deputy | None] = relationship(lazy="joined")
    recorded_by: Mapped[User] = relationship(lazy="joined")


class Rating(Base):
    """A deputy's verdict on one round's answer: through a signed link or recorded from paper."""

    __tablename__ = "ratings"
    __table_args__ = (
        UniqueConstraint("item_id", "deputy_id", "round", name="uq_ratings_item_deputy_round"),
        Index("ix_ratings_court", "court_id", "created_at"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    court_id: Mapped[int] = mapped_column(ForeignKey("courts.id"))
    item_id: Mapped[int] = mapped_column(ForeignKey("items.id"))
    deputy_id: Mapped[int] = mapped_column(ForeignKey("deputies.id"))
    round: Mapped[int] = mapped_column(Integer)
    rating: Mapped[str] = mapped_column(String(30))  # satisfied / basically_satisfied / unsatisfied
    comment: Mapped[str | None] = mapped_column(Text)
    source: Mapped[str] = mapped_column(String(10))  # link / paper
    recorded_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(default=clock.now)
    deputy: Mapped[Deputy] = relationship(lazy="joined")
