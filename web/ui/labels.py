"""Display labels for item kinds and audit actions (lazy, so they follow the UI language)."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l

KIND_LABELS = {
    "suggestion": _l("代表建议"),
    "letter": _l("代表来信"),
    "concern_case": _l("代表关注案件"),
    "petition": _l("转办信访件"),
    "supervision": _l("督办函"),
}

CASE_STAGE_LABELS = {
    "trial": _l("审理中"),
    "effective": _l("已生效"),
    "enforcement": _l("执行中"),
}

ACTION_LABELS = {
    "registered": _l("登记"),
    "claimed": _l("签收"),
    "released": _l("退回待签收"),
    "assigned": _l("指派"),
    "completed": _l("完成"),
    "filed": _l("归档"),
    "escalated_1": _l("催办"),
    "escalated_2": _l("超期提醒部门负责人"),
    "escalated_3": _l("列入督办"),
    "timer_fired": _l("定时事件"),
    "attachment_added": _l("上传附件"),
    "reply_letter_generated": _l("生成答复函"),
    "migrated": _l("迁移到新流程版本"),
    "sent_back": _l("退回（交办有误）"),
    "meeting_recorded": _l("登记见面"),
    "meeting_waived": _l("批准免于见面"),
    "extension_requested": _l("申请延期"),
    "extension_approved": _l("批准延期"),
    "extension_refused": _l("不批准延期"),
    "deputies_notified_of_extension": _l("告知代表延期"),
    "feedback_requested": _l("请代表评价"),
    "rated": _l("代表评价"),
    "rehandling": _l("重新办理"),
    "corrected": _l("更正说明"),
}

MEETING_METHOD_LABELS = {
    "in_person": _l("当面"),
    "phone": _l("电话"),
    "video": _l("视频"),
    "forum": _l("座谈会"),
}

RATING_LABELS = {
    "satisfied": _l("满意"),
    "basically_satisfied": _l("基本满意"),
    "unsatisfied": _l("不满意"),
}

# A deputy's contacts (联络台帐): meetings by method, ratings by verdict.
CONTACT_LABELS = {**MEETING_METHOD_LABELS, **RATING_LABELS}
