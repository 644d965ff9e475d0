"""Process-model versions: the shipped diagrams are version 1; deploys add versions.

A version is immutable once saved. It is a *draft* until deployed (`deployed_at` is
None), *deployed* while it is the one current version of its key (`deployed`), and
*retired* once another version of the key has been deployed after it. Saving and
deploying lock the court row first, so concurrent saves never pick the same version
number and concurrent deploys never leave two current versions of one key.
"""

from __future__ import annotations

import json
from pathlib import Path

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session, object_session

from engine import clock
from engine.bpmn_xml import executable_processes, parse_bpmn_xml
from engine.config import WORKFLOWS_DIR
from engine.errors import InvalidData, NotFound
from engine.models import Court, ProcessModel, User
from engine.workflow.lint import check_bpmn
from engine.workflow.specs import (
    SHARED_PREFIX,
    ProcessSpecs,
    build_specs,
    is_shared_process,
    specs_for_model,
)

STATUSES = ("draft", "deployed", "retired")


def shipped_forms(directory: Path = WORKFLOWS_DIR) -> dict[str, dict]:
    return {
        path.name: json.loads(path.read_text(encoding="utf-8"))
        for path in sorted((directory / "forms").glob("*.schema.json"))
    }


def deploy(
    session: Session,
    court: Court,
    bpmn_xml: str,
    forms: dict[str, dict],
    *,
    actor: User | None = None,
    note: str | None = None,
) -> ProcessModel:
    """Validate, store as the next version of its process key, and make it current."""
    shared = shared_models(session, court.id)
    report = check_bpmn(bpmn_xml, forms, library=library_sources(shared))
    if report.problems:
        raise_undeployable(report.problems)
    key = report.key or build_specs(bpmn_xml).key
    model = save_version(
        session,
        court.id,
        key,
        bpmn_xml,
        forms,
        actor=actor,
        note=note,
        called_ids=[shared[k].id for k in report.shared_calls],
    )
    return make_current(session, model, actor)


def shared_models(session: Session, court_id: int) -> dict[str, ProcessModel]:
    """The deployed shared subprocesses (`common_*`) of the court, by process id."""
    return {
        model.key: model
        for model in session.scalars(
            select(ProcessModel).where(
                ProcessModel.court_id == court_id,
                ProcessModel.key.startswith(SHARED_PREFIX),
                ProcessModel.deployed.is_(True),
            )
        )
    }


def library_sources(shared: dict[str, ProcessModel]) -> dict[str, str]:
    """What lint and the spec builder need of the shared subprocesses: their diagrams."""
    return {key: model.bpmn_xml for key, model in shared.items()}


def court_library(session: Session, court_id: int) -> dict[str, str]:
    return library_sources(shared_models(session, court_id))


def library_of(session: Session, model: ProcessModel) -> dict[str, str]:
    """The shared subprocesses a version is linked to (the court's current ones if none)."""
    if not model.called_ids:
        return court_library(session, model.court_id)
    linked = session.scalars(select(ProcessModel).where(ProcessModel.id.in_(model.called_ids)))
    return {m.key: m.bpmn_xml for m in linked}


def linked_keys(session: Session, model: ProcessModel) -> list[str]:
    """Process ids of the shared subprocesses a version is linked to (without their XML)."""
    if not model.called_ids:
        return []
    return list(
        session.scalars(
            select(ProcessModel.key)
            .where(ProcessModel.id.in_(model.called_ids))
            .order_by(ProcessModel.key)
        )
    )


def shipped_library(directory: Path = WORKFLOWS_DIR) -> dict[str, str]:
    """The shared subprocesses shipped as files, for checks that run without a database."""
    return {
        path.stem: path.read_text(encoding="utf-8")
        for path in sorted(directory.glob(f"{SHARED_PREFIX}*.bpmn"))
    }


def _relink_callers(session: Session, shared: ProcessModel, actor: User | None) -> None:
    """A new version of a shared subprocess reaches new items of every kind that calls it:
    each caller gets a new version linked to it (running items keep their version)."""
    callers = session.scalars(
        select(ProcessModel).where(
            ProcessModel.court_id == shared.court_id, ProcessModel.deployed.is_(True)
        )
    ).all()
    replaced = {
        m.id
        for m in session.scalars(
            select(ProcessModel).where(
                ProcessModel.court_id == shared.court_id,
                ProcessModel.key == shared.key,
                ProcessModel.id != shared.id,
            )
        )
    }
    for caller in callers:
        called = caller.called_ids or []
        if not replaced.intersection(called):
            continue
        relinked = [shared.id if i in replaced else i for i in called]
        model = save_version(
            session,
            caller.court_id,
            caller.key,
            caller.bpmn_xml,
            caller.forms,
            actor=actor,
            note=f"使用共用子流程 {shared.key} v{shared.version} / uses {shared.key} "
            f"v{shared.version}",
            called_ids=relinked,
        )
        make_current(session, model, actor)


def raise_undeployable(problems) -> None:
    """InvalidData naming each problem's element (`bpmn` for the file as a whole)."""
    fields: dict[str, str] = {}
    for problem in problems:
        name = problem.element_id or "bpmn"
        fields[name] = f"{fields[name]}; {problem.message}" if name in fields else problem.message
    raise InvalidData(
        "流程图不能部署 / the diagram cannot be deployed: "
        + "; ".join(str(p) for p in problems[:20])
        + (f"; … ({len(problems)} problems)" if len(problems) > 20 else ""),
        fields,
    )


def _lock_court(session: Session, court_id: int) -> None:
    """Serialize version numbering and deploys within a court (a no-op lock on SQLite,
    whose BEGIN IMMEDIATE already serializes writers)."""
    session.execute(select(Court.id).where(Court.id == court_id).with_for_update())


def latest_version(session: Session, court_id: int, key: str) -> ProcessModel | None:
    return session.scalar(
        select(ProcessModel)
        .where(ProcessModel.court_id == court_id, ProcessModel.key == key)
        .order_by(ProcessModel.version.desc())
        .limit(1)
    )


def save_version(
    session: Session,
    court_id: int,
    key: str,
    bpmn_xml: str,
    forms: dict[str, dict],
    *,
    actor: User | None = None,
    note: str | None = None,
    called_ids: list[int] | None = None,
) -> ProcessModel:
    """Store a draft: the next version number of `key`, not deployed. No validation here."""
    _lock_court(session, court_id)
    latest = session.scalar(
        select(func.max(ProcessModel.version)).where(
            ProcessModel.court_id == court_id, ProcessModel.key == key
        )
    )
    model = ProcessModel(
        court_id=court_id,
        key=key,
        version=(latest or 0) + 1,
        bpmn_xml=bpmn_xml,
        forms=forms,
        deployed=False,
        deployed_at=None,
        note=note,
        created_by_id=actor.id if actor else None,
        created_at=clock.now(),
        called_ids=called_ids or [],
    )
    session.add(model)
    session.flush()
    return model


def make_current(session: Session, model: ProcessModel, actor: User | None = None) -> ProcessModel:
    """Make `model` the one deployed version of its key (for new items). No validation here."""
    _lock_court(session, model.court_id)
    session.execute(
        update(ProcessModel)
        .where(
            ProcessModel.court_id == model.court_id,
            ProcessModel.key == model.key,
            ProcessModel.id != model.id,
        )
        .values(deployed=False)
        .execution_options(synchronize_session="fetch")
    )
    model.deployed = True
    model.deployed_at = clock.now()
    session.flush()
    if is_shared_process(model.key):
        _relink_callers(session, model, actor)
    return model


def status_of(model: ProcessModel) -> str:
    """`draft` (never deployed), `deployed` (current for new items) or `retired`."""
    if model.deployed:
        return "deployed"
    return "draft" if model.deployed_at is None else "retired"


def load_shipped(session: Session, court: Court, directory: Path = WORKFLOWS_DIR) -> list[str]:
    """Deploy every shipped diagram whose key has no version yet; returns the keys loaded."""
    forms = shipped_forms(directory)
    loaded = []
    diagrams = {}
    for path in sorted(directory.glob("*.bpmn")):
        xml = path.read_text(encoding="utf-8")
        diagrams[_process_id(xml, path.name)] = (path, xml)
    # Shared subprocesses first: the kinds that call them are checked and linked against them.
    for key in sorted(diagrams, key=lambda k: (not is_shared_process(k), k)):
        path, xml = diagrams[key]
        if current_model(session, court.id, key, required=False) is None:
            deploy(session, court, xml, forms, note=f"shipped {path.name}")
            loaded.append(key)
    return loaded


def current_model(
    session: Session, court_id: int, key: str, *, required: bool = True
) -> ProcessModel | None:
    model = session.scalar(
        select(ProcessModel).where(
            ProcessModel.court_id == court_id,
            ProcessModel.key == key,
            ProcessModel.deployed.is_(True),
        )
    )
    if model is None and required:
        raise NotFound(f"no deployed workflow for {key!r}")
    return model


def _process_id(xml: str, source: str) -> str:
    """The id of the file's first executable process (without building the spec)."""
    for process in executable_processes(parse_bpmn_xml(xml, source)):
        if process.get("id"):
            return process.get("id")
    raise InvalidData(f"{source}: no executable process", {"bpmn": source})


def specs_of(model: ProcessModel) -> ProcessSpecs:
    session = object_session(model)
    database = session.get_bind().url.render_as_string(hide_password=True)

    def load() -> tuple[str, list[str]]:
        called = [session.get(ProcessModel, i) for i in model.called_ids or []]
        return model.bpmn_xml, [c.bpmn_xml for c in called if c is not None]

    return specs_for_model(database, model.id, load)


def export(session: Session, court_id: int, directory: Path) -> list[Path]:
    """Write the deployed version of every process key to `directory/<key>.bpmn`."""
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for model in session.scalars(
        select(ProcessModel).where(
            ProcessModel.court_id == court_id, ProcessModel.deployed.is_(True)
        )
    ):
        path = directory / f"{model.key}.bpmn"
        path.write_text(model.bpmn_xml, encoding="utf-8")
        written.append(path)
    return written
