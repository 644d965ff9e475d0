"""The deputy registry (代表登记簿): search, edit, pairing (结对联络) and file import.

Every role that works on items reads the registry (workflow designers do not);
registrars and administrators change it. A deputy's page lists only the items the
reader may see (`visible_items`).

Import identity: a row is the same deputy as a registry entry with the same court,
name and delegation (代表团), so re-importing a corrected sheet updates entries instead
of adding duplicates, and two deputies of the same name in different delegations stay
apart. A row whose delegation has no exact match adopts the one entry of that name
without a delegation (entries created by name when an item was registered).
"""

from __future__ import annotations

import csv
import io
import re
import zipfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import PurePath

from sqlalchemy import exists, func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from engine import clock
from engine.errors import Conflict, DomainError, Forbidden, InvalidData, NotFound, TooLarge
from engine.models import Deputy, Item, ItemDeputy, Meeting, Pairing, Rating, User
from engine.services.visibility import visible_items

LEVELS = ("全国", "省", "市", "县")
EDITING_ROLES = frozenset({"registrar", "admin"})
READING_ROLES = frozenset({"registrar", "drafter", "dept_head", "leader", "president", "admin"})
PAIRABLE_ROLES = ("registrar", "drafter", "dept_head", "leader", "president")
FIELDS = ("name", "level", "delegation", "work_unit", "phone", "address", "email", "term")
MAX_LENGTH = {
    "name": 100,
    "delegation": 200,
    "work_unit": 200,
    "phone": 50,
    "address": 300,
    "email": 200,
    "term": 50,
}
MAX_IMPORT_BYTES = 5 * 1024 * 1024
MAX_IMPORT_ROWS = 20_000
MAX_XLSX_UNPACKED = 100 * 1024 * 1024  # a small zip must not unpack into gigabytes
HEADER_SEARCH_ROWS = 10  # a title row or two may precede the header in a congress sheet

_LEVEL_WORDS = {
    "全国": "全国",
    "全国人大": "全国",
    "national": "全国",
    "省": "省",
    "省级": "省",
    "province": "省",
    "provincial": "省",
    "市": "市",
    "市级": "市",
    "city": "市",
    "municipal": "市",
    "县": "县",
    "县级": "县",
    "区": "县",
    "县区": "县",
    "county": "县",
}
_HEADER_ALIASES = {
    "姓名": "name",
    "name": "name",
    "层级": "level",
    "级别": "level",
    "level": "level",
    "代表团": "delegation",
    "delegation": "delegation",
    "工作单位": "work_unit",
    "单位": "work_unit",
    "work_unit": "work_unit",
    "work unit": "work_unit",
    "电话": "phone",
    "联系电话": "phone",
    "手机": "phone",
    "phone": "phone",
    "地址": "address",
    "通讯地址": "address",
    "address": "address",
    "邮箱": "email",
    "电子邮箱": "email",
    "email": "email",
    "e-mail": "email",
    "届次": "term",
    "term": "term",
}
_COLUMN_LABELS = {
    "name": "姓名",
    "level": "层级",
    "delegation": "代表团",
    "work_unit": "工作单位",
    "phone": "电话",
    "address": "地址",
    "email": "邮箱",
    "term": "届次",
}
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s.]+$")


def _require_reader(actor: User) -> None:
    if actor.role not in READING_ROLES:
        raise Forbidden("the deputy registry is for liaison and handling staff")


def _require_editor(actor: User) -> None:
    if actor.role not in EDITING_ROLES:
        raise Forbidden("only registrars and administrators change the deputy registry")


def can_edit(actor: User) -> bool:
    return actor.role in EDITING_ROLES


# ---------------------------------------------------------------------------------------
# Reading
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DeputyQuery:
    q: str | None = None
    paired_user_id: int | None = None
    include_inactive: bool = False
    page: int = 1
    per_page: int = 50


def search(session: Session, actor: User, query: DeputyQuery) -> tuple[list[Deputy], int]:
    """Deputies of the actor's court by name, delegation or work unit, by name."""
    _require_reader(actor)
    conditions = [Deputy.court_id == actor.court_id]
    if not query.include_inactive:
        conditions.append(Deputy.active.is_(True))
    if query.q and query.q.strip():
        pattern = f"%{_escape_like(query.q.strip())}%"
        conditions.append(
            or_(
                Deputy.name.ilike(pattern, escape="\\"),
                Deputy.delegation.ilike(pattern, escape="\\"),
                Deputy.work_unit.ilike(pattern, escape="\\"),
            )
        )
    if query.paired_user_id is not None:
        conditions.append(
            exists().where(Pairing.deputy_id == Deputy.id, Pairing.user_id == query.paired_user_id)
        )
    total = session.scalar(select(func.count()).select_from(Deputy).where(*conditions)) or 0
    rows = session.scalars(
        select(Deputy)
        .where(*conditions)
        .order_by(Deputy.name, Deputy.id)
        .limit(query.per_page)
        .offset((query.page - 1) * query.per_page)
    ).all()
    return list(rows), total


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def get(session: Session, actor: User, deputy_id: int) -> Deputy:
    _require_reader(actor)
    deputy = session.scalar(
        select(Deputy).where(Deputy.id == deputy_id, Deputy.court_id == actor.court_id)
    )
    if deputy is None:
        raise NotFound(f"deputy {deputy_id} not found")
    return deputy


@dataclass(frozen=True)
class Contact:
    """One entry of the deputy's liaison ledger (联络台帐): a meeting or a rating."""

    at: date
    item: Item
    kind: str  # meeting / rating
    detail: str  # the method or the rating (a key the page labels)
    notes: str | None


@dataclass(frozen=True)
class DeputyDetail:
    deputy: Deputy
    items: list[Item]  # only those the reader may see, newest first
    paired: list[User]
    contacts: list[Contact]  # meetings and ratings on those items, newest first


def detail(session: Session, actor: User, deputy_id: int) -> DeputyDetail:
    deputy = get(session, actor, deputy_id)
    rows = session.scalars(
        select(Item)
        .join(ItemDeputy, ItemDeputy.item_id == Item.id)
        .where(ItemDeputy.deputy_id == deputy.id, visible_items(actor))
        .order_by(Item.id.desc())
    ).all()
    return DeputyDetail(
        deputy, list(rows), paired_users(session, deputy.id), _contacts(session, deputy, rows)
    )


def _contacts(session: Session, deputy: Deputy, visible: Sequence[Item]) -> list[Contact]:
    """Meetings with the deputy (or with all deputies of an item) and the deputy's ratings,
    on the items the reader may see."""
    by_id = {item.id: item for item in visible}
    if not by_id:
        return []
    meetings = session.scalars(
        select(Meeting).where(
            Meeting.item_id.in_(by_id),
            (Meeting.deputy_id == deputy.id) | Meeting.deputy_id.is_(None),
        )
    )
    ratings = session.scalars(
        select(Rating).where(Rating.item_id.in_(by_id), Rating.deputy_id == deputy.id)
    )
    contacts = [
        Contact(m.met_on, by_id[m.item_id], "meeting", m.method, m.notes) for m in meetings
    ] + [
        Contact(
            r.created_at.astimezone(clock.business_timezone()).date(),
            by_id[r.item_id],
            "rating",
            r.rating,
            r.comment,
        )
        for r in ratings
    ]
    return sorted(contacts, key=lambda c: (c.at, c.item.id), reverse=True)


def paired_users(session: Session, deputy_id: int) -> list[User]:
    return list(
        session.scalars(
            select(User)
            .join(Pairing, Pairing.user_id == User.id)
            .where(Pairing.deputy_id == deputy_id)
            .order_by(User.display_name, User.id)
        )
    )


def pairable_users(session: Session, actor: User) -> list[User]:
    """Staff of the actor's court who may be paired with deputies."""
    return list(
        session.scalars(
            select(User)
            .where(
                User.court_id == actor.court_id,
                User.active.is_(True),
                User.role.in_(PAIRABLE_ROLES),
            )
            .order_by(User.display_name, User.id)
        )
    )


# ---------------------------------------------------------------------------------------
# Editing
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DeputyFields:
    name: str
    level: str | None = None
    delegation: str | None = None
    work_unit: str | None = None
    phone: str | None = None
    address: str | None = None
    email: str | None = None
    term: str | None = None
    active: bool = True


def check_fields(values: dict[str, object]) -> tuple[dict[str, str | None], dict[str, str]]:
    """Normalise and check the registry fields: (clean values, field → reason)."""
    clean: dict[str, str | None] = {}
    errors: dict[str, str] = {}
    for name in FIELDS:
        raw = values.get(name)
        if raw is not None and not isinstance(raw, str):
            errors[name] = "必须是文字 / must be text"
            continue
        text = (raw or "").strip()
        if "\x00" in text:
            errors[name] = "不能包含 NUL 字符 / must not contain NUL characters"
            continue
        clean[name] = text or None
    name = clean.get("name")
    if "name" not in errors and not name:
        errors["name"] = "必填 / required"
    level = clean.get("level")
    if level is not None:
        normalised = _LEVEL_WORDS.get(level.lower())
        if normalised is None:
            errors["level"] = f"须为 全国/省/市/县 / must be one of 全国, 省, 市, 县 ({level})"
        clean["level"] = normalised
    email = clean.get("email")
    if email is not None and "email" not in errors and not _EMAIL.match(email):
        errors["email"] = f"邮箱格式不正确 / not an e-mail address ({email})"
    for name, limit in MAX_LENGTH.items():
        value = clean.get(name)
        if value is not None and len(value) > limit and name not in errors:
            errors[name] = f"最多 {limit} 字 / at most {limit} characters"
    return clean, errors


def _find(session: Session, court_id: int, name: str, delegation: str | None) -> Deputy | None:
    same_delegation = (
        Deputy.delegation.is_(None) if delegation is None else Deputy.delegation == delegation
    )
    return session.scalar(
        select(Deputy).where(Deputy.court_id == court_id, Deputy.name == name, same_delegation)
    )


def save(session: Session, actor: User, deputy_id: int | None, fields: DeputyFields) -> Deputy:
    """Create (deputy_id None) or change a registry entry."""
    _require_editor(actor)
    values = {name: getattr(fields, name) for name in FIELDS}
    clean, errors = check_fields(values)
    deputy = None if deputy_id is None else get(session, actor, deputy_id)
    if not errors:
        other = _find(session, actor.court_id, clean["name"], clean["delegation"])
        if other is not None and other is not deputy:
            errors["name"] = (
                "同一代表团已有同名代表 / this delegation already has a deputy of this name"
            )
    if errors:
        raise InvalidData("deputy is invalid: " + ", ".join(sorted(errors)), errors)
    if deputy is None:
        deputy = Deputy(court_id=actor.court_id)
        session.add(deputy)
    for name, value in clean.items():
        setattr(deputy, name, value)
    deputy.active = bool(fields.active)
    session.flush()
    return deputy


def set_pairings(session: Session, actor: User, deputy_id: int, user_ids: list[int]) -> list[User]:
    """Make exactly `user_ids` the staff paired with the deputy."""
    _require_editor(actor)
    deputy = get(session, actor, deputy_id)
    wanted = set(user_ids)
    allowed = {u.id for u in pairable_users(session, actor)}
    unknown = wanted - allowed
    if unknown:
        raise InvalidData(
            "only active staff of this court can be paired",
            {"users": f"不能结对的用户 / cannot be paired: {', '.join(map(str, sorted(unknown)))}"},
        )
    current = {
        p.user_id: p for p in session.scalars(select(Pairing).where(Pairing.deputy_id == deputy.id))
    }
    for user_id, pairing in current.items():
        if user_id not in wanted:
            session.delete(pairing)
    now = clock.now()
    for user_id in sorted(wanted - current.keys()):
        session.add(
            Pairing(
                deputy_id=deputy.id,
                user_id=user_id,
                court_id=actor.court_id,
                created_at=now,
                created_by_id=actor.id,
            )
        )
    session.flush()
    return paired_users(session, deputy.id)


# ---------------------------------------------------------------------------------------
# Import from .xlsx / .csv
# ---------------------------------------------------------------------------------------


@dataclass
class ImportRow:
    row: int  # as the spreadsheet numbers it (header = its own row number)
    values: dict[str, str | None]


@dataclass
class ImportPlan:
    """A checked file: every row valid, ready to apply."""

    columns: list[str]  # registry fields the file has; others are left as they are
    rows: list[ImportRow] = field(default_factory=list)


@dataclass(frozen=True)
class ImportSummary:
    created: int
    updated: int
    unchanged: int

    @property
    def total(self) -> int:
        return self.created + self.updated + self.unchanged


def import_file(session: Session, actor: User, filename: str | None, data: bytes) -> ImportSummary:
    """Check the whole file, then create or update every deputy in it. All or nothing."""
    _require_editor(actor)
    plan = read_file(filename, data)
    return apply(session, actor.court_id, plan)


def read_file(filename: str | None, data: bytes) -> ImportPlan:
    """Parse and check a .xlsx or .csv file without touching the database.

    Raises TooLarge past MAX_IMPORT_BYTES or MAX_IMPORT_ROWS, and InvalidData for a file
    that is not a readable spreadsheet or has bad rows: `fields` maps "row N" (as the
    spreadsheet numbers it) to "column: reason" (several joined by "; ").
    """
    if len(data) > MAX_IMPORT_BYTES:
        raise TooLarge(
            f"文件超过 {MAX_IMPORT_BYTES // (1024 * 1024)} MiB / the file is larger than "
            f"{MAX_IMPORT_BYTES // (1024 * 1024)} MiB",
            {"file": f"at most {MAX_IMPORT_BYTES} bytes"},
        )
    kind = _file_kind(filename, data)
    rows = _xlsx_rows(data) if kind == "xlsx" else _csv_rows(data)
    return _check_rows(rows)


def _file_kind(filename: str | None, data: bytes) -> str:
    suffix = PurePath(filename or "").suffix.lower()
    if suffix == ".xls":
        raise InvalidData(
            "旧版 Excel (.xls) 文件不能导入，请另存为 .xlsx 或 CSV UTF-8 / "
            "old .xls files are not supported; save as .xlsx or CSV UTF-8",
            {"file": "not an .xlsx or .csv file"},
        )
    if suffix in (".xlsx", ".xlsm"):
        return "xlsx"
    if suffix in (".csv", ".txt"):
        return "csv"
    if data.startswith(b"PK\x03\x04"):
        return "xlsx"
    if suffix:
        raise InvalidData(
            f"不支持的文件类型 {suffix}，请上传 .xlsx 或 .csv / "
            f"{suffix} files are not supported; upload .xlsx or .csv",
            {"file": "not an .xlsx or .csv file"},
        )
    return "csv"


def _not_xlsx() -> InvalidData:
    return InvalidData(
        "文件不是有效的 .xlsx 工作簿 / the file is not a valid .xlsx workbook",
        {"file": "not an .xlsx workbook"},
    )


def _xlsx_rows(data: bytes) -> Iterator[tuple[int, list[str]]]:
    """Rows of the first worksheet, numbered as Excel numbers them."""
    from openpyxl import load_workbook

    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            unpacked = sum(info.file_size for info in archive.infolist())
        if unpacked > MAX_XLSX_UNPACKED:
            raise TooLarge(
                "工作簿解压后过大 / the workbook unpacks to too much data",
                {"file": "too large when unpacked"},
            )
        workbook = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
        sheets = workbook.worksheets
    except TooLarge:
        raise
    except Exception as exc:  # BadZipFile, a zip without a workbook, broken XML, …
        raise _not_xlsx() from exc
    try:
        if not sheets:
            return
        for number, row in enumerate(sheets[0].iter_rows(values_only=True), start=1):
            yield number, [_cell_text(value) for value in row]
    except DomainError:
        raise
    except Exception as exc:  # a worksheet whose XML is broken
        raise _not_xlsx() from exc
    finally:
        workbook.close()


def _cell_text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "是" if value else "否"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))  # a phone number typed into a number cell
    if isinstance(value, datetime):
        return value.date().isoformat() if value.time() == datetime.min.time() else str(value)
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def _csv_rows(data: bytes) -> Iterator[tuple[int, list[str]]]:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InvalidData(
            "CSV 文件不是 UTF-8 编码，请在 Excel 中另存为“CSV UTF-8”或 .xlsx / "
            "the CSV file is not UTF-8; save it as 'CSV UTF-8' or .xlsx",
            {"file": "not UTF-8"},
        ) from exc
    reader = csv.reader(io.StringIO(text, newline=""))
    number = 0
    try:
        for number, row in enumerate(reader, start=1):  # records, as a spreadsheet shows them
            yield number, row
    except csv.Error as exc:
        raise InvalidData(
            f"CSV 文件无法解析 / the CSV file cannot be read: {exc}",
            {f"row {number + 1}": f"row: {exc}"},
        ) from exc


def _find_header(
    rows: Iterator[tuple[int, list[str]]],
) -> tuple[int, list[str | None]]:
    """The first row (among the first few) that names a 姓名/name column."""
    for number, row in rows:
        columns = [_HEADER_ALIASES.get(cell.strip().lower().replace("\ufeff", "")) for cell in row]
        if "name" in columns:
            return number, columns
        if number >= HEADER_SEARCH_ROWS:
            break
    raise InvalidData(
        "找不到表头行（需要“姓名”或“name”列） / no header row with a 姓名 or name column",
        {"row 1": "header: expected 姓名/name, 层级/level, 代表团/delegation, …"},
    )


def _check_rows(rows: Iterator[tuple[int, list[str]]]) -> ImportPlan:
    header_row, columns = _find_header(rows)
    seen: dict[str, int] = {}
    for index, column in enumerate(columns):
        if column is None:
            continue  # 序号, 性别 and other columns the registry does not keep
        if column in seen:
            raise InvalidData(
                f"表头中“{_COLUMN_LABELS[column]}”列出现两次 / column {column} appears twice",
                {f"row {header_row}": f"header: {column} appears twice"},
            )
        seen[column] = index
    plan = ImportPlan(columns=[c for c in FIELDS if c in seen])
    errors: dict[str, str] = {}
    first_row: dict[tuple[str, str | None], int] = {}
    data_rows = 0
    for number, row in rows:
        if not any(cell.strip() for cell in row):
            continue  # blank lines, e.g. trailing ones a spreadsheet adds
        data_rows += 1
        if data_rows > MAX_IMPORT_ROWS:
            raise TooLarge(
                f"文件超过 {MAX_IMPORT_ROWS} 行 / the file has more than {MAX_IMPORT_ROWS} rows",
                {"file": f"at most {MAX_IMPORT_ROWS} rows"},
            )
        raw = {column: row[index] if index < len(row) else "" for column, index in seen.items()}
        values, problems = check_fields(raw)
        reasons = [f"{column}: {reason}" for column, reason in problems.items()]
        if not problems:
            key = (values["name"], values.get("delegation"))
            if key in first_row:
                reasons.append(
                    f"name: 与第 {first_row[key]} 行重复（同一代表团同名） / "
                    f"duplicate of row {first_row[key]} (same name and delegation)"
                )
            else:
                first_row[key] = number
        if reasons:
            errors[f"row {number}"] = "; ".join(reasons)
            continue
        plan.rows.append(ImportRow(number, {c: values.get(c) for c in plan.columns}))
    if errors:
        raise InvalidData(
            f"文件有 {len(errors)} 行错误，未导入任何数据 / "
            f"the file has {len(errors)} bad row(s); nothing was imported",
            errors,
        )
    if not plan.rows:
        raise InvalidData("文件没有数据行 / the file has no data rows", {"file": "no data rows"})
    return plan


def apply(
    session: Session,
    court_id: int,
    plan: ImportPlan,
    on_row: Callable[[], None] | None = None,
) -> ImportSummary:
    """Create or update one deputy per row of a checked plan. Does not commit.

    Columns the file does not have keep their values; an empty cell in a column it has
    clears the field. Imported deputies are (re)activated; deputies missing from the
    file are left alone, since a file may cover one delegation only.
    """
    existing = list(session.scalars(select(Deputy).where(Deputy.court_id == court_id)))
    by_key: dict[tuple[str, str | None], Deputy] = {(d.name, d.delegation): d for d in existing}
    placeholders: dict[str, list[Deputy]] = {}
    for deputy in existing:
        if deputy.delegation is None:
            placeholders.setdefault(deputy.name, []).append(deputy)
    created = updated = unchanged = 0
    for row in plan.rows:
        name, delegation = row.values["name"], row.values.get("delegation")
        deputy = by_key.get((name, delegation))
        if deputy is None and delegation is not None and len(placeholders.get(name, [])) == 1:
            deputy = placeholders.pop(name)[0]  # adopt the entry an item created by name
            by_key.pop((name, None), None)
            by_key[(name, delegation)] = deputy
        if deputy is None:
            deputy = Deputy(court_id=court_id, active=True, **row.values)
            session.add(deputy)
            by_key[(name, delegation)] = deputy
            created += 1
        else:
            changed = not deputy.active
            for column, value in row.values.items():
                if getattr(deputy, column) != value:
                    setattr(deputy, column, value)
                    changed = True
            deputy.active = True
            if changed:
                updated += 1
            else:
                unchanged += 1
        if on_row is not None:
            on_row()
    try:
        session.flush()
    except IntegrityError as exc:
        raise Conflict(
            "代表登记簿同时被修改，请重试 / the registry changed meanwhile; try again"
        ) from exc
    return ImportSummary(created=created, updated=updated, unchanged=unchanged)
