"""All 200 BPMN MIWG files through the designer's validation: a definite outcome for each.

Every file is either deployable or refused with at least one problem that has a plain
message, and an element id whenever the problem is about an element (only problems about
the whole file — not XML, no process, … — may lack one). Nothing raises. The summary
(counts by outcome and by problem kind) is printed and checked.
"""

from __future__ import annotations

import os
import time
from collections import Counter
from pathlib import Path

import pytest

from engine.db import unit_of_work
from engine.services import accounts
from engine.services.process_models import shipped_forms
from engine.workflow.lint import DOCUMENT_CODES, check_bpmn

# shared/ lies beside the checkout (also in CI); LIAISON_CORPUS_DIR points elsewhere.
CORPUS = Path(
    os.environ.get(
        "LIAISON_CORPUS_DIR", Path(__file__).resolve().parents[2] / "shared/corpus/bpmn-miwg"
    )
)
FILES = sorted(CORPUS.rglob("*.bpmn")) if CORPUS.is_dir() else []

pytestmark = pytest.mark.skipif(not FILES, reason=f"no BPMN corpus at {CORPUS}")


def test_every_corpus_file_gets_a_definite_outcome(capsys):
    forms = shipped_forms()
    outcomes: Counter[str] = Counter()
    kinds: Counter[str] = Counter()
    failures: list[str] = []
    started = time.perf_counter()
    for path in FILES:
        name = str(path.relative_to(CORPUS))
        try:
            report = check_bpmn(path.read_bytes(), forms, path.name)
        except Exception as exc:  # noqa: BLE001 - the point is that nothing raises
            failures.append(f"{name}: raised {type(exc).__name__}: {exc}")
            continue
        if report.deployable:
            outcomes["deployable"] += 1
            continue
        outcomes["refused"] += 1
        for problem in report.problems:
            kinds[problem.code] += 1
            if not problem.message.strip():
                failures.append(f"{name}: a problem without a message ({problem.code})")
            if problem.element_id is None and problem.code not in DOCUMENT_CODES:
                failures.append(f"{name}: {problem.code} names no element: {problem.message}")
            if problem.element_id is not None and not problem.element_id.strip():
                failures.append(f"{name}: an empty element id ({problem.code})")
    elapsed = time.perf_counter() - started

    with capsys.disabled():
        print(f"\nBPMN MIWG corpus: {len(FILES)} files in {elapsed:.1f} s: {dict(outcomes)}")
        print("problems by kind: " + ", ".join(f"{k} {n}" for k, n in kinds.most_common()))
    assert not failures, "\n".join(failures)
    assert len(FILES) == 200
    assert sum(outcomes.values()) == len(FILES)
    # These are descriptive diagrams from other tools (no role lanes, no forms, service
    # tasks, messages between pools, …): none can run here as it stands.
    assert outcomes == {"refused": 200}
    # The refusals name what this product cannot execute, element by element.
    assert kinds["unsupported_serviceTask"] > 0 and kinds["message"] > 0
    assert kinds["not_executable"] > 0 and kinds["call_activity"] > 0


def test_the_validation_api_answers_every_corpus_file(app, people, factory):
    """What the modeler page sends: POST /designer/validate never fails on a corpus file."""
    with unit_of_work(factory) as session:
        token = accounts.issue_token(session, "designer")
    client = app.test_client()
    statuses: Counter[int] = Counter()
    for path in FILES:
        response = client.post(
            "/api/v1/designer/validate",
            json={"bpmn_xml": path.read_text(encoding="utf-8")},
            headers={"Authorization": f"Bearer {token}"},
        )
        statuses[response.status_code] += 1
        assert response.status_code == 200, (path, response.get_data(as_text=True))
        body = response.get_json()
        assert body["deployable"] is False and body["problems"]
        assert all(p["message"] for p in body["problems"])
    assert statuses == {200: len(FILES)}
