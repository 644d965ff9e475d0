"""Save, validate, read and deploy process-model versions from the designer.

Saving always validates and returns the problems, and stores a draft as long as the
upload is well-formed BPMN whose process id is the key it is saved under. Deploying
refuses (InvalidData naming each element) unless the version has no problem at all.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from engine.bpmn_xml import MAX_BPMN_BYTES
from engine.designer import require_designer
from engine.errors import InvalidData, NotFound, TooLarge
from engine.models import ProcessModel, User
from engine.services import process_models
from engine.workflow.lint import LintReport, check_bpmn, form_name_error

MAX_KEY = 100
MAX_NOTE = 2000
MAX_FORMS = 100
_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_.\-]*$")


@dataclass(frozen=True)
class ProcessSummary:
    key: str
    deployed_version: int | None
    latest_version: int
    versions: int


@dataclass(frozen=True)
class CheckedVersion:
    """A stored version with the outcome of validating it."""

    model: ProcessModel
    report: LintReport

    @property
    def deployable(self) -> bool:
        return self.report.deployable


def check_key(key: Any) -> str:
    if not isinstance(key, str) or not key or len(key) > MAX_KEY or not _KEY.match(key):
        raise NotFound(f"流程不存在 / no process {str(key)[:MAX_KEY]!r}")
    return key


def list_processes(session: Session, actor: User) -> list[ProcessSummary]:
    """Every process key of the court with its deployed and latest version numbers."""
    require_designer(actor)
    deployed = func.max(ProcessModel.version).filter(ProcessModel.deployed.is_(True))
    rows = session.execute(
        select(ProcessModel.key, deployed, func.max(ProcessModel.version), func.count())
        .where(ProcessModel.court_id == actor.court_id)
        .group_by(ProcessModel.key)
        .order_by(ProcessModel.key)
    ).all()
    return [ProcessSummary(key, current, latest, count) for key, current, latest, count in rows]


def list_versions(
    session: Session, actor: User, key: str, *, page: int = 1, per_page: int = 20
) -> tuple[list[ProcessModel], int]:
    """The versions of one process, newest first; NotFound when the key has none."""
    require_designer(actor)
    check_key(key)
    condition = (ProcessModel.court_id == actor.court_id) & (ProcessModel.key == key)
    total = session.scalar(select(func.count()).select_from(ProcessModel).where(condition)) or 0
    if not total:
        raise NotFound(f"流程不存在 / no process {key!r}")
    rows = session.scalars(
        select(ProcessModel)
        .where(condition)
        .order_by(ProcessModel.version.desc())
        .limit(per_page)
        .offset((page - 1) * per_page)
    ).all()
    return list(rows), total


def get_version(session: Session, actor: User, version_id: int) -> ProcessModel:
    require_designer(actor)
    model = session.scalar(
        select(ProcessModel).where(
            ProcessModel.id == version_id, ProcessModel.court_id == actor.court_id
        )
    )
    if model is None:
        raise NotFound(f"版本不存在 / version {version_id} not found")
    return model


def checked_version(session: Session, actor: User, version_id: int) -> CheckedVersion:
    model = get_version(session, actor, version_id)
    return CheckedVersion(
        model,
        check_bpmn(
            model.bpmn_xml,
            model.forms,
            f"{model.key}-v{model.version}",
            library=process_models.library_of(session, model),
        ),
    )


def author_names(session: Session, models: list[ProcessModel]) -> dict[int, str]:
    """User id → username of every author of `models` (one query)."""
    ids = {m.created_by_id for m in models if m.created_by_id is not None}
    if not ids:
        return {}
    return dict(session.execute(select(User.id, User.username).where(User.id.in_(ids))).all())


def default_forms(session: Session, court_id: int, key: str | None) -> dict[str, Any]:
    """The forms of the latest version of `key`, else the shipped forms."""
    latest = process_models.latest_version(session, court_id, key) if key else None
    return dict(latest.forms) if latest is not None else process_models.shipped_forms()


def _check_upload(bpmn_xml: Any, forms: Any) -> None:
    if not isinstance(bpmn_xml, str) or not bpmn_xml.strip():
        raise InvalidData("bpmn_xml is required", {"bpmn_xml": "必填 / required (BPMN XML text)"})
    if len(bpmn_xml) > MAX_BPMN_BYTES or len(bpmn_xml.encode("utf-8")) > MAX_BPMN_BYTES:
        raise TooLarge(
            "BPMN 文件超过 2 MiB / the BPMN file is larger than 2 MiB",
            {"bpmn_xml": "at most 2 MiB"},
        )
    if forms is None:
        return
    if not isinstance(forms, dict):
        raise InvalidData(
            "forms must be an object of file name → JSON Schema", {"forms": "must be an object"}
        )
    if len(forms) > MAX_FORMS:
        raise InvalidData(f"at most {MAX_FORMS} forms", {"forms": f"at most {MAX_FORMS} forms"})
    bad_names = {str(name)[:200]: e for name in forms if (e := form_name_error(name))}
    if bad_names:
        raise InvalidData(
            "invalid form names: " + ", ".join(sorted(bad_names)),
            {f"forms.{name}": message for name, message in bad_names.items()},
        )


def _hard_error(report: LintReport) -> None:
    """Refuse what cannot even be stored: too large, malformed, XXE, not BPMN."""
    error = report.xml_error
    if error is None:
        return
    message = report.problems[0].message
    if "larger than" in error.message:
        raise TooLarge(message, {"bpmn_xml": message})
    raise InvalidData(message, {"bpmn_xml": message})


def validate(session: Session, actor: User, bpmn_xml: Any, forms: Any = None) -> LintReport:
    """Validate an upload without storing it (forms default to those of its process)."""
    require_designer(actor)
    _check_upload(bpmn_xml, forms)
    library = process_models.court_library(session, actor.court_id)
    report = check_bpmn(bpmn_xml, {} if forms is None else forms, library=library)
    _hard_error(report)
    if forms is None:
        forms = default_forms(session, actor.court_id, report.key)
        report = check_bpmn(bpmn_xml, forms, library=library)
    return report


def save_draft(
    session: Session,
    actor: User,
    key: str,
    bpmn_xml: Any,
    forms: Any = None,
    note: Any = None,
) -> CheckedVersion:
    """Store the upload as the next draft version of `key` and report its problems.

    Refused (nothing stored) only when the upload is not well-formed BPMN (InvalidData,
    or TooLarge over 2 MiB) or its process id is not `key`.
    """
    require_designer(actor)
    key = check_key(key)
    _check_upload(bpmn_xml, forms)
    if note is not None and (not isinstance(note, str) or len(note) > MAX_NOTE):
        raise InvalidData(f"note must be text of at most {MAX_NOTE} characters", {"note": "text"})
    if forms is None:
        forms = default_forms(session, actor.court_id, key)
    shared = process_models.shared_models(session, actor.court_id)
    report = check_bpmn(bpmn_xml, forms, key, library=process_models.library_sources(shared))
    _hard_error(report)
    _check_process_id(report, key)
    model = process_models.save_version(
        session,
        actor.court_id,
        key,
        bpmn_xml,
        forms,
        actor=actor,
        note=note.strip() or None if isinstance(note, str) else None,
        called_ids=[shared[k].id for k in report.shared_calls],
    )
    return CheckedVersion(model, report)


def _check_process_id(report: LintReport, key: str) -> None:
    if report.key == key or (report.key is None and key in report.process_ids):
        return
    found = report.key or ", ".join(i for i in report.process_ids if i) or "—"
    message = (
        f"流程 id 为 `{found}`，应为 `{key}` / the diagram's process id is `{found}`, expected "
        f"`{key}`: a version is saved under the id of the process it runs"
    )
    raise InvalidData(message, {"bpmn_xml": message, "key": message})


def deploy_version(session: Session, actor: User, version_id: int) -> CheckedVersion:
    """Make a version current for new items; refused unless it has no problem at all."""
    checked = checked_version(session, actor, version_id)
    model = checked.model
    if checked.report.problems:
        process_models.raise_undeployable(checked.report.problems)
    if checked.report.key != model.key:  # pragma: no cover - saving checked it already
        _check_process_id(checked.report, model.key)
    if not model.deployed:
        process_models.make_current(session, model, actor)
    return checked


def bpmn_file(session: Session, actor: User, version_id: int) -> tuple[str, str]:
    """(download file name, BPMN XML) of a version."""
    model = get_version(session, actor, version_id)
    return f"{model.key}-v{model.version}.bpmn", model.bpmn_xml
