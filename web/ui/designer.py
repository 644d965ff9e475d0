"""The workflow designer's pages: the process list and the bpmn-js modeler.

The pages are shells: the modeler page loads, validates, saves, deploys, compares,
dry-runs and migrates through the designer API (/api/v1/designer) with the session
cookie and the page's CSRF token.
"""

from __future__ import annotations

from flask import render_template, request, url_for
from flask_babel import gettext as _
from flask_login import login_required

from engine.bpmn_xml import MAX_BPMN_BYTES
from engine.designer import require_designer, versions
from engine.roles import ROLE_LABELS
from engine.services import accounts
from web.api import api
from web.db import actor, work
from web.i18n import select_locale
from web.ui import ui

# Roles a lane can stand for: the ones that hold steps of an item.
LANE_ROLES = ("registrar", "drafter", "dept_head", "leader", "president")


def designer_api() -> str:
    return request.script_root + api.url_prefix + "/designer"


@ui.get("/designer")
@login_required
def designer_home():
    with work() as session:
        processes = versions.list_processes(session, actor(session))
    return render_template("designer_list.html", processes=processes)


@ui.get("/designer/<key>")
@login_required
def designer_page(key: str):
    with work() as session:
        user = require_designer(actor(session))
        versions.list_versions(session, user, key, per_page=1)  # an unknown key is a 404
        departments = accounts.department_names(session, user.court_id)
    english = select_locale() == "en"
    config = {
        "key": key,
        "versionId": request.args.get("version", type=int),
        "api": designer_api(),
        "viewerScript": url_for(
            "static", filename="vendor/bpmn-js/bpmn-navigated-viewer.production.min.js"
        ),
        "maxUploadBytes": MAX_BPMN_BYTES,
        "departments": departments,
        "roles": [
            {
                "key": role,
                "zh": zh,
                "en": en,
                "label": en if english else zh,
                "lane": role in LANE_ROLES,
            }
            for role, (zh, en) in ROLE_LABELS.items()
        ],
        "text": _texts(),
    }
    return render_template("designer.html", key=key, config=config)


def _texts() -> dict:
    """Every sentence the designer's scripts show, in the page's language."""
    return {
        "added": _("新增"),
        "removed": _("删除"),
        "changed": _("修改"),
        "canMigrate": _("可迁移"),
        "cannotMigrate": _("不可迁移"),
        "chooseItems": _("请先勾选要迁移的事项"),
        "choose": _("请选择"),
        "compare": _("对比已部署"),
        "condition": _("条件表达式"),
        "conditionHelp": _("例如 approved == True；按受限脚本引擎编译"),
        "confirmDeploy": _(
            "部署 v%(version)s？部署后新登记的事项按此版本流转，办理中的事项不受影响。"
        ),
        "deployed": _("v%(version)s 已部署，新事项将按此版本流转"),
        "department": _("部门"),
        "diffTitle": _("v%(new)s 与 v%(old)s 的差异"),
        "discard": _("有未保存的修改，确定放弃吗？"),
        "dryRunSaved": _("试运行使用已保存的 v%(version)s；请先保存草稿以试运行当前修改"),
        "editForm": _("编辑此表单"),
        "ended": _("已办结"),
        "form": _("表单文件"),
        "formNoFields": _("表单没有字段"),
        "formNone": _("没有表单文件"),
        "formNotObject": _("表单定义应为 JSON 对象"),
        "formsLabel": _("表单"),
        "formsUnchanged": _("表单无变化"),
        "importWarnings": _("导入时的提示"),
        "jsonError": _("JSON 语法错误"),
        "laneRole": _("泳道角色"),
        "laneRoleHelp": _("泳道名称即角色；该泳道中的步骤由此角色办理"),
        "migrated": _("已迁移"),
        "migratedCount": _("已迁移 %(n)s / %(total)s 件"),
        "migrationMore": _("共 %(total)s 件，先列出前 %(n)s 件；迁移后再查询可看到其余事项"),
        "missing": _("不存在"),
        "name": _("名称"),
        "no": _("否"),
        "noForm": _("（无表单）"),
        "noLane": _("（不在泳道中）"),
        "noProblems": _("没有问题，可以部署"),
        "noRole": _("（未对应角色）"),
        "noSuchElement": _("该问题不对应图中的元素"),
        "notMigrated": _("未迁移"),
        "open": _("打开"),
        "path": _("经过的步骤"),
        "processId": _("流程 id"),
        "processIdHelp": _("版本按流程 id 保存，应与本页的流程一致"),
        "executable": _("可执行（isExecutable）"),
        "problemCount": _("%(n)s 个问题"),
        "results": _("迁移结果"),
        "sampleText": _("示例文字"),
        "saved": _("已保存草稿 v%(version)s"),
        "saveFirst": _("有未保存的修改，请先保存草稿再部署"),
        "selectHint": _("在图中选择泳道、用户任务、网关出口连线或定时事件以编辑其属性"),
        "submit": _("提交"),
        "timeCycle": _("循环 (timeCycle)"),
        "timeDate": _("日期 (timeDate)"),
        "timeDuration": _("时长 (timeDuration)"),
        "timeHelp": _("期限按工作日计；留空表示不设"),
        "timerExpression": _("定时表达式"),
        "timerHelp": _('表达式，例如 "P3D" 或 "2026-01-05T09:00:00"（字符串需加引号）'),
        "timerKind": _("定时类型"),
        "tooLarge": _("文件超过 2 MiB，未上传"),
        "uploaded": _("已载入 %(name)s（尚未保存）"),
        "uploadRefused": _("文件被拒绝"),
        "otherKey": _(
            "已载入，但其流程 id 为 %(found)s：保存到 %(key)s 之前请把流程 id 改为 %(key)s"
        ),
        "validateOk": _("校验通过，可以部署"),
        "validateProblems": _("校验发现问题，请逐条修改"),
        "waiting": _("等待中的步骤"),
        "timers": _("等待中的定时事件"),
        "yes": _("是"),
        "due_working_days": _("办理期限（工作日）"),
        "remind_working_days": _("提前提醒（工作日）"),
        "supervise_after_working_days": _("超期后列入督办（工作日）"),
        "status": {"draft": _("草稿"), "deployed": _("已部署"), "retired": _("已停用")},
        "types": {
            "bpmn:Lane": _("泳道"),
            "bpmn:Participant": _("池"),
            "bpmn:UserTask": _("用户任务"),
            "bpmn:ScriptTask": _("脚本任务"),
            "bpmn:ServiceTask": _("服务任务"),
            "bpmn:Task": _("任务"),
            "bpmn:SequenceFlow": _("连线"),
            "bpmn:ExclusiveGateway": _("排他网关"),
            "bpmn:ParallelGateway": _("并行网关"),
            "bpmn:InclusiveGateway": _("包容网关"),
            "bpmn:StartEvent": _("开始事件"),
            "bpmn:EndEvent": _("结束事件"),
            "bpmn:IntermediateCatchEvent": _("中间事件"),
            "bpmn:BoundaryEvent": _("边界事件"),
            "bpmn:SubProcess": _("子流程"),
            "bpmn:CallActivity": _("调用活动"),
        },
    }
