"""The measured scenario: a suggestion registered, then five completions, none rejected."""

from __future__ import annotations

from pathlib import Path

from bench.machine import PROJECT_ROOT

COURT = "示例人民法院"  # the default LIAISON_COURT_NAME, so `liaison demo` matches
SUGGESTION_BPMN = PROJECT_ROOT / "workflows" / "suggestion.bpmn"
DEPUTY = "张建国"  # a demo deputy: registration finds it by name

# (demo username, BPMN id of the user task, form data)
STEPS: list[tuple[str, str, dict]] = [
    (
        "registrar",
        "register",
        {"department": "民一庭", "opinion": "请民一庭研究办理，按期答复代表。"},
    ),
    ("drafter", "draft", {"draft": "经研究，我院已采取以下措施：一是……二是……，下一步将继续改进。"}),
    ("leader", "leader_approve", {"approved": True, "comment": "同意。"}),
    ("registrar", "reply", {"reply_class": "A", "reply": "代表您好：您提出的建议已办理完毕。"}),
    ("registrar", "file", {"comment": "材料齐全，归档。"}),
]
USERNAMES = sorted({username for username, _, _ in STEPS})


def new_item_payload(index: int) -> dict:
    return {
        "kind": "suggestion",
        "title": f"关于提升诉讼服务效率的建议（基准 {index}）",
        "content": "代表反映群众关切，建议法院研究办理并及时答复。",
        "deputies": [DEPUTY],
    }


def bpmn_path() -> Path:
    return SUGGESTION_BPMN
