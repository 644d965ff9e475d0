"""The measured scenario: a deputy letter registered, then five completions, none rejected.

A letter runs the same spine as a suggestion (register → the shared handling subprocess
with draft and leader approval → reply → file) without the suggestion's meeting rule, so
the figures measure the workflow path and not the recording of a meeting.
"""

from __future__ import annotations

from pathlib import Path

from bench.machine import PROJECT_ROOT

COURT = "示例人民法院"  # the default LIAISON_COURT_NAME, so `liaison demo` matches
WORKFLOWS = PROJECT_ROOT / "workflows"
KIND = "letter"
DEPUTY = "张建国"  # a demo deputy: registration finds it by name

# (demo username, BPMN id of the user task, form data)
STEPS: list[tuple[str, str, dict]] = [
    (
        "registrar",
        "register",
        {"department": "民一庭", "opinion": "请民一庭研究办理，按期答复代表。"},
    ),
    (
        "drafter",
        "draft",
        {
            "action": "submit",
            "draft": "经研究，我院已采取以下措施：一是……二是……，下一步将继续改进。",
        },
    ),
    ("leader", "leader_approve", {"approved": True, "comment": "同意。"}),
    ("registrar", "reply", {"reply_class": "A", "reply": "代表您好：您提出的建议已办理完毕。"}),
    ("registrar", "file", {"comment": "材料齐全，归档。"}),
]
USERNAMES = sorted({username for username, _, _ in STEPS})


def new_item_payload(index: int) -> dict:
    return {
        "kind": KIND,
        "title": f"关于提升诉讼服务效率的来信（基准 {index}）",
        "content": "代表反映群众关切，建议法院研究办理并及时答复。",
        "deputies": [DEPUTY],
    }


def bpmn_paths() -> list[Path]:
    """The kind's diagram and the shared subprocesses it calls."""
    return [WORKFLOWS / f"{KIND}.bpmn", *sorted(WORKFLOWS.glob("common_*.bpmn"))]
