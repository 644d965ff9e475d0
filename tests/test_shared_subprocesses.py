"""Shared parts are called subprocesses (`common_*`), linked per version, never copied."""

from __future__ import annotations

from sqlalchemy import select

from engine.config import WORKFLOWS_DIR
from engine.db import unit_of_work
from engine.models import Court, ProcessInstance, ProcessModel
from engine.services import process_models
from engine.workflow.lint import check_bpmn
from tests.helpers import complete, open_task, register

SHARED = ("common_follow_up", "common_handling")
KINDS = ("concern_case", "letter", "petition", "suggestion", "supervision")


def current(session, key: str) -> ProcessModel:
    return process_models.current_model(session, session.scalar(select(Court.id)), key)


def test_shipped_kinds_link_the_shared_subprocesses_they_call(factory):
    with unit_of_work(factory) as session:
        shared = {key: current(session, key).id for key in SHARED}
        for kind in KINDS:
            called = set(current(session, kind).called_ids)
            assert shared["common_handling"] in called
            assert (shared["common_follow_up"] in called) == (
                kind not in ("petition", "supervision")
            )
        # Every kind file names the shared process instead of containing a copy of it.
        for kind in KINDS:
            xml = (WORKFLOWS_DIR / f"{kind}.bpmn").read_text(encoding="utf-8")
            assert 'calledElement="common_handling"' in xml and 'id="draft"' not in xml


def test_a_kind_calling_an_unknown_process_is_refused_by_name():
    xml = (WORKFLOWS_DIR / "letter.bpmn").read_text(encoding="utf-8")
    forms = process_models.shipped_forms()
    library = process_models.shipped_library()
    assert check_bpmn(xml, forms, library=library).problems == []
    broken = xml.replace('calledElement="common_handling"', 'calledElement="common_missing"')
    problems = check_bpmn(broken, forms, library=library).problems
    assert [(p.element_id, p.code) for p in problems] == [("handling", "call_activity")]
    assert "common_missing" in problems[0].message


def test_new_shared_version_relinks_callers_and_running_items_keep_theirs(factory, people):
    item_id = register(factory, people["registrar"])
    complete(factory, people["registrar"], item_id, "register")
    with unit_of_work(factory) as session:
        court = session.scalar(select(Court))
        before = current(session, "suggestion")
        old_shared = current(session, "common_handling")
        xml = old_shared.bpmn_xml.replace('name="承办拟稿"', 'name="承办部门拟稿"')
        new_shared = process_models.deploy(
            session, court, xml, process_models.shipped_forms(), note="rename"
        )
        after = current(session, "suggestion")
        assert after.version == before.version + 1
        assert new_shared.id in after.called_ids and old_shared.id not in after.called_ids
        assert after.bpmn_xml == before.bpmn_xml
        instance = session.scalar(select(ProcessInstance).where(ProcessInstance.item_id == item_id))
        assert instance.process_model_id == before.id  # the running item keeps its version
    assert open_task(factory, item_id).title == "承办拟稿"
    new_item = register(factory, people["registrar"], "新的建议")
    complete(factory, people["registrar"], new_item, "register")
    assert open_task(factory, new_item).title == "承办部门拟稿"
