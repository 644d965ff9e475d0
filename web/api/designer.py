"""Designer API (/api/v1/designer): versions, validation, diff, dry run, migration.

Thin: parse the request, call one engine.designer function per unit of work, render.
Roles `designer` and `admin` only (others 403); another court's versions are 404.
"""

from __future__ import annotations

from typing import Any

from flask import Response, current_app, jsonify, request

from engine.designer import diff as diffs
from engine.designer import dryrun, migration, versions
from engine.errors import DomainError, InvalidData
from engine.models import ProcessModel
from engine.services.process_models import status_of
from engine.workflow.lint import LintReport
from web.api import ID, MAX_PER_PAGE, api, int_arg, json_body
from web.api.serializers import iso, page_json
from web.db import actor, work

PREFIX = "/designer"
MAX_ID = 2**31 - 1


def version_json(model: ProcessModel, authors: dict[int, str]) -> dict[str, Any]:
    return {
        "id": model.id,
        "key": model.key,
        "version": model.version,
        "status": status_of(model),
        "note": model.note,
        "author": authors.get(model.created_by_id) if model.created_by_id else None,
        "created_at": iso(model.created_at),
        "deployed_at": iso(model.deployed_at),
    }


def report_json(report: LintReport) -> dict[str, Any]:
    return {
        "problems": [p.to_dict() for p in report.problems],
        "deployable": report.deployable,
    }


def _body_forms(body: dict[str, Any]) -> Any:
    return body.get("forms")


@api.get(f"{PREFIX}/processes")
def designer_processes():
    with work() as session:
        rows = versions.list_processes(session, actor(session))
    items = [
        {"key": r.key, "deployed_version": r.deployed_version, "latest_version": r.latest_version}
        for r in rows
    ]
    return jsonify(page_json(items, len(items), 1, max(len(items), 1)))


@api.get(f"{PREFIX}/processes/<key>/versions")
def designer_versions(key: str):
    page, per_page = int_arg("page", 1), int_arg("per_page", 20, MAX_PER_PAGE)
    with work() as session:
        rows, total = versions.list_versions(
            session, actor(session), key, page=page, per_page=per_page
        )
        authors = versions.author_names(session, rows)
        return jsonify(page_json([version_json(m, authors) for m in rows], total, page, per_page))


@api.post(f"{PREFIX}/processes/<key>/versions")
def designer_save(key: str):
    body = json_body()
    with work() as session:
        saved = versions.save_draft(
            session,
            actor(session),
            key,
            body.get("bpmn_xml"),
            _body_forms(body),
            body.get("note"),
        )
        authors = versions.author_names(session, [saved.model])
        result = {**version_json(saved.model, authors), **report_json(saved.report)}
    return jsonify(result), 201


@api.get(f"{PREFIX}/versions/<{ID}:version_id>")
def designer_version(version_id: int):
    with work() as session:
        checked = versions.checked_version(session, actor(session), version_id)
        model = checked.model
        authors = versions.author_names(session, [model])
        return jsonify(
            {
                **version_json(model, authors),
                "bpmn_xml": model.bpmn_xml,
                "forms": model.forms or {},
                **report_json(checked.report),
            }
        )


@api.get(f"{PREFIX}/versions/<{ID}:version_id>/bpmn")
def designer_download(version_id: int):
    with work() as session:
        filename, xml = versions.bpmn_file(session, actor(session), version_id)
    response = Response(xml, mimetype="application/xml")
    response.headers.set("Content-Disposition", "attachment", filename=filename)
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


@api.post(f"{PREFIX}/validate")
def designer_validate():
    body = json_body()
    with work() as session:
        report = versions.validate(session, actor(session), body.get("bpmn_xml"), _body_forms(body))
    return jsonify({**report_json(report), "key": report.key})


@api.post(f"{PREFIX}/versions/<{ID}:version_id>/deploy")
def designer_deploy(version_id: int):
    with work() as session:
        checked = versions.deploy_version(session, actor(session), version_id)
        authors = versions.author_names(session, [checked.model])
        return jsonify(version_json(checked.model, authors))


def _id_arg(name: str) -> int:
    raw = request.args.get(name)
    if raw is None or raw == "":
        raise InvalidData(f"{name} is required", {name: "required: a version id"})
    if not raw.isdecimal() or len(raw) > 10 or not 1 <= int(raw) <= MAX_ID:
        raise InvalidData(f"{name} must be a version id", {name: "a version id"})
    return int(raw)


@api.get(f"{PREFIX}/versions/<{ID}:version_id>/diff")
def designer_diff(version_id: int):
    against = _id_arg("against")
    with work() as session:
        result = diffs.diff_versions(session, actor(session), version_id, against)
        authors = versions.author_names(session, [result.old, result.new])
        elements = result.elements
        return jsonify(
            {
                "version": version_json(result.new, authors),
                "against": version_json(result.old, authors),
                "added": [_element_json(e) for e in elements.added],
                "removed": [_element_json(e) for e in elements.removed],
                "changed": [
                    {**_element_json(e), "changes": e.changes, "details": e.details}
                    for e in elements.changed
                ],
                "forms": {
                    "added": result.forms.added,
                    "removed": result.forms.removed,
                    "changed": result.forms.changed,
                },
            }
        )


def _element_json(element: diffs.ElementDiff) -> dict[str, Any]:
    return {"id": element.id, "name": element.name, "type": element.type}


@api.post(f"{PREFIX}/versions/<{ID}:version_id>/dry-run")
def designer_dry_run(version_id: int):
    steps = dryrun.parse_steps(json_body().get("steps"))
    with work() as session:
        result = dryrun.dry_run(session, actor(session), version_id, steps)
    return jsonify(
        {
            "path": result.path,
            "waiting": result.waiting,
            "timers": result.timers,
            "visited": result.visited,
            "ended": result.ended,
            "error": result.error,
        }
    )


@api.get(f"{PREFIX}/migrations")
def designer_migrations():
    to = _id_arg("to")
    page, per_page = int_arg("page", 1), int_arg("per_page", 20, MAX_PER_PAGE)
    with work() as session:
        checks, total, _target = migration.preview(
            session, actor(session), to, page=page, per_page=per_page
        )
        rows = [
            {
                "item_id": c.item.id,
                "number": c.item.number,
                "title": c.item.title,
                "from_version": c.from_version,
                "current_steps": c.current_steps,
                "can_migrate": c.can_migrate,
                "reason": c.reason,
            }
            for c in checks
        ]
    return jsonify(page_json(rows, total, page, per_page))


@api.post(f"{PREFIX}/migrations")
def designer_migrate():
    body = json_body()
    to, item_ids = body.get("to"), body.get("item_ids")
    if isinstance(to, bool) or not isinstance(to, int) or not 1 <= to <= MAX_ID:
        raise InvalidData("to must be a version id", {"to": "a version id"})
    if (
        not isinstance(item_ids, list)
        or not item_ids
        or len(item_ids) > migration.MAX_ITEMS
        or not all(isinstance(i, int) and not isinstance(i, bool) for i in item_ids)
    ):
        raise InvalidData(
            f"item_ids must be a list of 1 to {migration.MAX_ITEMS} item ids",
            {"item_ids": f"1 to {migration.MAX_ITEMS} item ids"},
        )
    with work() as session:  # the caller's role and the target, checked once up front
        migration.migration_target(session, actor(session), to)
    results = []
    for item_id in dict.fromkeys(item_ids):  # each item in its own transaction
        if not 1 <= item_id <= MAX_ID:
            results.append({"item_id": item_id, "migrated": False, "reason": "item not found"})
            continue
        try:
            with work() as session:
                outcome = migration.migrate_item(session, actor(session), to, item_id)
        except DomainError as exc:  # e.g. a Conflict: the item changed meanwhile
            results.append({"item_id": item_id, "migrated": False, "reason": exc.message})
            continue
        except Exception as exc:  # noqa: BLE001 - one item's failure must not stop the rest
            current_app.logger.exception("migrating item %s failed", item_id)
            reason = f"迁移失败 / the migration failed ({type(exc).__name__})"
            results.append({"item_id": item_id, "migrated": False, "reason": reason})
            continue
        results.append(
            {"item_id": outcome.item_id, "migrated": outcome.migrated, "reason": outcome.reason}
        )
    return jsonify({"results": results})
