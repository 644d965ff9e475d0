"""Attachments on items and their steps: type and size limits, content-addressed storage.

Files live outside the database under LIAISON_ATTACHMENTS_DIR (default
`instance/attachments`), named by their SHA-256 (`ab/abcdef…`): the client's file name
never becomes a path. A file is written to a temporary name and renamed into place before
its row is added; if the transaction then fails, the file is an orphan nobody refers to
(and an identical upload later reuses it). Every download hashes the file again and
refuses one that no longer matches its record.

The type is sniffed from the content (magic bytes, the parts list of an Office zip, the
stream names of an old Office file); the client's Content-Type is ignored, and a file
name whose extension disagrees with the content is refused.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
import unicodedata
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.config import instance_dir
from engine.errors import Conflict, InvalidData, NotFound, TooLarge
from engine.models import Attachment, Item, Task, User
from engine.services import audit, items
from engine.services.visibility import visible_items

MAX_BYTES = 20 * 1024 * 1024
MAX_FILENAME = 200
CHUNK = 1024 * 1024
KINDS = ("file", "reply_letter")

# extension → content type served; `.jpeg` is accepted as a spelling of `.jpg`.
TYPES: dict[str, str] = {
    "pdf": "application/pdf",
    "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "doc": "application/msword",
    "xls": "application/vnd.ms-excel",
    "jpg": "image/jpeg",
    "png": "image/png",
    "txt": "text/plain; charset=utf-8",
}
EXTENSION_ALIASES = {"jpeg": "jpg"}
ALLOWED_LABEL = ", ".join(f".{e}" for e in TYPES)
_OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_KEY = re.compile(r"^[0-9a-f]{2}/[0-9a-f]{64}$")
_UNSAFE = re.compile(r'[<>:"/\\|?*]')


def storage_root() -> Path:
    """LIAISON_ATTACHMENTS_DIR, else `attachments` in the instance folder (read per call)."""
    configured = os.environ.get("LIAISON_ATTACHMENTS_DIR")
    root = Path(configured) if configured else instance_dir() / "attachments"
    root.mkdir(parents=True, exist_ok=True)
    return root


def _path(storage_key: str) -> Path:
    if not _KEY.match(storage_key):  # rows are ours, but a path is never built from text
        raise NotFound("attachment file not found")
    return storage_root() / storage_key


# --- names and types ------------------------------------------------------------------------


def sanitise_filename(raw: str | None) -> str:
    """The last path segment, NFC, without control or path characters, at most 200 chars."""
    name = unicodedata.normalize("NFC", raw or "")
    name = re.split(r"[/\\]", name)[-1]
    name = "".join(c for c in name if unicodedata.category(c)[0] != "C")
    name = _UNSAFE.sub("_", name).strip().lstrip(".").strip()
    if len(name) > MAX_FILENAME:
        stem, dot, ext = name.rpartition(".")
        if dot and 0 < len(ext) <= 10:
            name = stem[: MAX_FILENAME - len(ext) - 1] + "." + ext
        else:
            name = name[:MAX_FILENAME]
    return name


def extension_of(filename: str) -> str | None:
    stem, dot, ext = filename.rpartition(".")
    if not dot or not stem:
        return None
    ext = ext.lower()
    return EXTENSION_ALIASES.get(ext, ext)


def sniff(head: bytes, path: Path) -> str | None:
    """The allowed type (an extension key of TYPES) the content is, or None."""
    if head.startswith(b"%PDF-"):
        return "pdf"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if head.startswith(b"\xff\xd8\xff"):
        return "jpg"
    if head.startswith(b"PK\x03\x04"):
        return _sniff_office_zip(path)
    if head.startswith(_OLE_MAGIC):
        return _sniff_ole(path)
    return "txt" if _is_text(path) else None


def _sniff_office_zip(path: Path) -> str | None:
    try:
        with zipfile.ZipFile(path) as archive:
            names = set(archive.namelist())
    except (zipfile.BadZipFile, OSError, ValueError):
        return None
    if "[Content_Types].xml" not in names:
        return None
    if "word/document.xml" in names:
        return "docx"
    if "xl/workbook.xml" in names:
        return "xlsx"
    return None


def _sniff_ole(path: Path) -> str | None:
    """Word 97–2003 files hold a `WordDocument` stream, Excel ones `Workbook` (or `Book`)."""
    data = path.read_bytes()
    if "WordDocument".encode("utf-16-le") in data:
        return "doc"
    if "Workbook".encode("utf-16-le") in data or "Book\x00".encode("utf-16-le") in data:
        return "xls"
    return None


def _is_text(path: Path) -> bool:
    """UTF-8 text (BOM allowed) without control characters other than tab and line ends."""
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError:
        return False
    return not any(unicodedata.category(c) == "Cc" and c not in "\t\r\n\f" for c in text)


# --- storing --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Stored:
    sha256: str
    size: int
    storage_key: str
    kind: str  # the sniffed type: a key of TYPES


def store(stream: BinaryIO | Iterable[bytes], limit: int = MAX_BYTES) -> Stored:
    """Write the bytes under their SHA-256 (temp file, fsync, atomic rename); sniff the type.

    Raises TooLarge past `limit` and InvalidData for a type that is not allowed; nothing
    is left behind then.
    """
    root = storage_root()
    temp_dir = root / "tmp"
    temp_dir.mkdir(exist_ok=True)
    digest = hashlib.sha256()
    size = 0
    handle, temp_name = tempfile.mkstemp(dir=temp_dir, prefix="upload-")
    temp = Path(temp_name)
    try:
        with os.fdopen(handle, "wb") as out:
            for chunk in _chunks(stream):
                size += len(chunk)
                if size > limit:
                    raise TooLarge(
                        f"文件超过 {limit // (1024 * 1024)} MiB / the file is larger than "
                        f"{limit // (1024 * 1024)} MiB",
                        {"file": f"at most {limit} bytes"},
                    )
                digest.update(chunk)
                out.write(chunk)
            out.flush()
            os.fsync(out.fileno())
        if size == 0:
            raise InvalidData("文件为空 / the file is empty", {"file": "empty file"})
        with temp.open("rb") as check:
            head = check.read(16)
        kind = sniff(head, temp)
        if kind is None:
            raise InvalidData(
                f"不支持的文件类型，仅限 {ALLOWED_LABEL} / file type not allowed "
                f"(allowed: {ALLOWED_LABEL})",
                {"file": f"type not allowed; allowed: {ALLOWED_LABEL}"},
            )
        sha = digest.hexdigest()
        key = f"{sha[:2]}/{sha}"
        target = root / key
        target.parent.mkdir(exist_ok=True)
        # Replacing is safe (same content) and heals a damaged copy of the same file.
        os.replace(temp, target)
        return Stored(sha, size, key, kind)
    finally:
        temp.unlink(missing_ok=True)


def _chunks(stream: BinaryIO | Iterable[bytes]) -> Iterable[bytes]:
    if isinstance(stream, bytes | bytearray):
        yield bytes(stream)
        return
    if hasattr(stream, "read"):
        while chunk := stream.read(CHUNK):
            yield chunk
        return
    yield from stream


def _require_open_item(item: Item) -> None:
    if item.status == "filed":
        raise Conflict(
            "事项已归档，不能再添加附件 / the item is filed: it accepts no new attachments",
            {"file": "item is filed"},
        )


def add(
    session: Session,
    actor: User,
    item_id: int,
    filename: str | None,
    stream: BinaryIO | bytes,
    *,
    task_id: int | None = None,
) -> Attachment:
    """Upload a file to an item the actor may see (or to one of its steps)."""
    item = items.get(session, actor, item_id)
    _require_open_item(item)
    task = _task_of(session, item, task_id)
    name = sanitise_filename(filename)
    stored = store(stream)
    ext = extension_of(name)
    if ext is None:
        name = f"{name or '附件'}.{stored.kind}"
    elif ext != stored.kind:
        raise InvalidData(
            f"文件内容是 .{stored.kind}，但文件名是 .{ext} / the content is a .{stored.kind} "
            f"file but the name says .{ext}",
            {"file": f"content is .{stored.kind}, name says .{ext}"},
        )
    attachment = record(session, actor, item, stored, name, task=task)
    audit.record(
        session,
        item,
        actor,
        "attachment_added",
        task_bpmn_id=task.bpmn_id if task else None,
        task_title=task.title if task else None,
        comment=name,
        data={"attachment_id": attachment.id, "sha256": stored.sha256, "size": stored.size},
    )
    return attachment


def record(
    session: Session,
    actor: User,
    item: Item,
    stored: Stored,
    filename: str,
    *,
    task: Task | None = None,
    kind: str = "file",
    template_sha256: str | None = None,
) -> Attachment:
    """Add the row for a stored file (the caller audits)."""
    attachment = Attachment(
        court_id=item.court_id,
        item_id=item.id,
        task_id=task.id if task else None,
        kind=kind,
        filename=filename,
        content_type=TYPES[stored.kind],
        size=stored.size,
        sha256=stored.sha256,
        storage_key=stored.storage_key,
        template_sha256=template_sha256,
        uploaded_by_id=actor.id,
    )
    session.add(attachment)
    session.flush()
    return attachment


def _task_of(session: Session, item: Item, task_id: int | None) -> Task | None:
    if task_id is None:
        return None
    task = session.scalar(select(Task).where(Task.id == task_id, Task.item_id == item.id))
    if task is None:
        raise InvalidData(
            f"task {task_id} is not a step of this item", {"task_id": "not a step of this item"}
        )
    return task


# --- reading --------------------------------------------------------------------------------


def for_item(session: Session, actor: User, item_id: int) -> list[Attachment]:
    """The item's attachments, oldest first (404 for an item the actor may not see)."""
    item = items.get(session, actor, item_id)
    return list_of(session, item)


def list_of(session: Session, item: Item) -> list[Attachment]:
    """An already visible item's attachments, oldest first."""
    return list(
        session.scalars(
            select(Attachment).where(Attachment.item_id == item.id).order_by(Attachment.id)
        )
    )


def get(session: Session, actor: User, item_id: int, attachment_id: int) -> Attachment:
    attachment = session.scalar(
        select(Attachment)
        .join(Item, Item.id == Attachment.item_id)
        .where(
            Attachment.id == attachment_id,
            Attachment.item_id == item_id,
            visible_items(actor),
        )
    )
    if attachment is None:
        raise NotFound(f"attachment {attachment_id} not found")
    return attachment


def open_verified(attachment: Attachment) -> BinaryIO:
    """The stored file, opened and checked against its SHA-256 (then rewound).

    The returned handle is the one that was hashed, so a file swapped after the check is
    never the one sent. A missing file is NotFound; a changed one a Conflict.
    """
    try:
        handle = _path(attachment.storage_key).open("rb")
    except FileNotFoundError:
        raise NotFound(
            "附件文件丢失 / the attachment's stored file is missing", {"file": "missing"}
        ) from None
    digest = hashlib.sha256()
    while chunk := handle.read(CHUNK):
        digest.update(chunk)
    if digest.hexdigest() != attachment.sha256:
        handle.close()
        raise Conflict(
            "附件文件校验失败，已拒绝下载 / the stored file does not match its checksum "
            "and is not served",
            {"file": "checksum mismatch"},
        )
    handle.seek(0)
    return handle


def read_verified(attachment: Attachment) -> bytes:
    with open_verified(attachment) as handle:
        return handle.read()
