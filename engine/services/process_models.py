"""Process-model versions: the shipped diagrams are version 1; deploys add versions."""

from __future__ import annotations

import json
from pathlib import Path

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from engine import clock
from engine.config import WORKFLOWS_DIR
from engine.errors import InvalidData, NotFound
from engine.models import Court, ProcessModel, User
from engine.workflow.lint import lint_bpmn
from engine.workflow.specs import ProcessSpecs, build_specs, specs_for_model


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
    problems = lint_bpmn(bpmn_xml, forms)
    if problems:
        raise InvalidData(
            "the diagram cannot be deployed: " + "; ".join(str(p) for p in problems),
            {p.element_id or "bpmn": p.message for p in problems},
        )
    key = build_specs(bpmn_xml).key
    latest = session.scalar(
        select(func.max(ProcessModel.version)).where(
            ProcessModel.court_id == court.id, ProcessModel.key == key
        )
    )
    session.execute(
        update(ProcessModel)
        .where(ProcessModel.court_id == court.id, ProcessModel.key == key)
        .values(deployed=False)
    )
    model = ProcessModel(
        court_id=court.id,
        key=key,
        version=(latest or 0) + 1,
        bpmn_xml=bpmn_xml,
        forms=forms,
        deployed=True,
        deployed_at=clock.now(),
        note=note,
        created_by_id=actor.id if actor else None,
    )
    session.add(model)
    session.flush()
    return model


def load_shipped(session: Session, court: Court, directory: Path = WORKFLOWS_DIR) -> list[str]:
    """Deploy every shipped diagram whose key has no version yet; returns the keys loaded."""
    forms = shipped_forms(directory)
    loaded = []
    for path in sorted(directory.glob("*.bpmn")):
        xml = path.read_text(encoding="utf-8")
        key = build_specs(xml, path.name).key
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


def specs_of(model: ProcessModel) -> ProcessSpecs:
    return specs_for_model(model.id, model.bpmn_xml)


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
