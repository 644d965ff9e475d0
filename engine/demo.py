"""Demo court: departments, one user per role, deputies, and items at different steps.

Idempotent: a second run finds the demo users and adds nothing.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from engine import clock
from engine.db import unit_of_work
from engine.models import Deputy, Pairing, Task, User
from engine.scheduler import run_sweep
from engine.services import accounts, items, meetings, tasks

DEMO_PASSWORD = "demo1234"
DEPARTMENTS = ["办公室", "立案庭", "民一庭", "刑一庭", "执行局"]
USERS = [  # username, role, department, display name
    ("registrar", "registrar", "办公室", "王联络"),
    ("drafter", "drafter", "民一庭", "李承办"),
    ("drafter2", "drafter", "刑一庭", "赵承办"),
    ("drafter3", "drafter", "执行局", "钱承办"),
    ("depthead", "dept_head", "民一庭", "周庭长"),
    ("leader", "leader", None, "陈院长"),
    ("president", "president", None, "刘院长"),
    ("designer", "designer", None, "孙设计"),
    ("admin", "admin", None, "管理员"),
]
DEPUTIES = [  # name, level, delegation, work unit, phone, address, e-mail, term
    (
        "张建国",
        "市",
        "城关区代表团",
        "城关区建国社区居委会",
        "13907310001",
        "城关区建国路18号",
        "zhangjg@example.cn",
        "第十七届",
    ),
    (
        "李秀英",
        "省",
        "河西市代表团",
        "河西市第一中学",
        "13907310002",
        "河西市文化路6号",
        "lixy@example.cn",
        "第十四届",
    ),
    (
        "王志强",
        "县",
        "新桥镇代表团",
        "新桥镇农业合作社",
        "13907310003",
        "新桥镇人民路2号",
        None,
        "第十九届",
    ),
    (
        "陈丽华",
        "市",
        "高新区代表团",
        "高新区律师协会",
        "13907310004",
        "高新区创业大道99号",
        "chenlh@example.cn",
        "第十七届",
    ),
    (
        "刘德明",
        "全国",
        "省代表团",
        "某某装备制造集团",
        "010-66000005",
        "省城工业园区1号",
        None,
        "第十四届",
    ),
]
PAIRINGS = [("registrar", "张建国"), ("registrar", "陈丽华"), ("leader", "李秀英")]
REGISTER = {"department": "民一庭", "opinion": "请民一庭研究办理，按期答复代表。"}
DRAFT = {"draft": "经研究，我院已采取以下措施：一是……二是……，下一步将继续改进。"}
APPROVE = {"approved": True, "comment": "同意。"}
REJECT = {"approved": False, "comment": "请补充具体措施和时间表。"}
MEETING = {"method": "in_person", "notes": "承办庭与代表当面沟通办理情况，代表表示理解。"}
REPLY = {"reply_class": "A", "reply": "代表您好：您提出的建议已办理完毕，具体情况如下……"}
FILE = {"comment": "材料齐全，归档。"}
# kind, title, deputies, days ago it arrived (and was worked on), steps: (step, user, data);
# the step `meeting` records a meeting with the deputies instead of completing a task.
ITEMS = [
    ("suggestion", "关于加快执行案件款项发放的建议", ["张建国"], 0, []),
    (
        "suggestion",
        "关于在乡镇设立巡回审判点的建议",
        ["李秀英", "王志强"],
        24,
        [("register", "registrar", {**REGISTER, "co_departments": ["刑一庭"]})],
    ),
    (
        "suggestion",
        "关于加强涉农纠纷诉前调解的建议",
        ["陈丽华"],
        5,
        [("register", "registrar", REGISTER), ("draft", "drafter", DRAFT)],
    ),
    (
        "suggestion",
        "关于规范诉讼费退费流程的建议",
        ["刘德明"],
        12,
        [
            ("register", "registrar", REGISTER),
            ("draft", "drafter", DRAFT),
            ("leader_approve", "leader", REJECT),
        ],
    ),
    (
        "suggestion",
        "关于完善人民陪审员选任的建议",
        ["张建国", "陈丽华"],
        30,
        [
            ("register", "registrar", REGISTER),
            ("draft", "drafter", DRAFT),
            ("leader_approve", "leader", APPROVE),
            ("meeting", "registrar", MEETING),
            ("reply", "registrar", REPLY),
            ("file", "registrar", FILE),
        ],
    ),
    (
        "letter",
        "关于某物业纠纷案件久拖不决的来信",
        ["王志强"],
        3,
        [("register", "registrar", REGISTER)],
    ),
    (
        "concern_case",
        "关于张某诉某公司劳动争议案的关注",
        ["陈丽华"],
        8,
        [
            (
                "register",
                "registrar",
                {
                    "case_number": "（2026）示0102民初1234号",
                    "case_stage": "trial",
                    "department": "民一庭",
                    "opinion": "请民一庭关注审理进展，及时向代表反馈。",
                },
            ),
            ("draft", "drafter", {"draft": "该案已于本月开庭审理，合议庭正在评议，预计月底宣判。"}),
        ],
    ),
    (
        "petition",
        "市人大常委会转办：关于执行款长期未到位的信访件",
        [],
        2,
        [
            (
                "register",
                "registrar",
                {
                    "source_org": "市人大常委会信访室",
                    "source_reference": "示人访转〔2026〕27号",
                    "department": "民一庭",
                    "opinion": "请民一庭核查，5日内报告。",
                },
            )
        ],
    ),
    ("supervision", "上级法院督办：关于某执行案件的督办函", [], 1, []),
]


def load_demo(factory: sessionmaker[Session], court_name: str) -> list[tuple[str, str, str | None]]:
    """Create the demo records unless present; return (username, role, department) logins."""
    with unit_of_work(factory) as session:
        if session.scalar(select(User.id).where(User.username == "registrar")) is None:
            court = accounts.get_or_create_court(session, court_name)
            accounts.create_departments(session, court, DEPARTMENTS)
            for username, role, department, display_name in USERS:
                accounts.create_user(
                    session,
                    court,
                    username,
                    role,
                    department=department,
                    password=DEMO_PASSWORD,
                    display_name=display_name,
                )
            session.flush()
            _demo_deputies(session, court.id)
            _demo_items(session)
            created = True
        else:
            created = False
    if created:  # escalate what the demo's past left overdue, so alerts and 督办 show at once
        run_sweep(factory, smtp_url=None)
    return [(u, r, d) for u, r, d, _ in USERS]


def _demo_deputies(session: Session, court_id: int) -> None:
    """The registry as if imported from the congress's spreadsheet, and a few pairings."""
    keys = ("name", "level", "delegation", "work_unit", "phone", "address", "email", "term")
    registry = {}
    for row in DEPUTIES:
        deputy = Deputy(court_id=court_id, active=True, **dict(zip(keys, row, strict=True)))
        session.add(deputy)
        registry[deputy.name] = deputy
    session.flush()
    users = {u.username: u for u in session.scalars(select(User))}
    for username, name in PAIRINGS:
        session.add(
            Pairing(
                deputy_id=registry[name].id,
                user_id=users[username].id,
                court_id=court_id,
                created_by_id=users["admin"].id,
            )
        )


def _demo_items(session: Session) -> None:
    """Each item arrives and is worked on `days_ago`, so deadlines and escalation are real."""
    users = {u.username: u for u in session.scalars(select(User))}
    for kind, title, deputies, days_ago, steps in ITEMS:
        with clock.travelling(clock.now() - timedelta(days=days_ago)):
            _demo_item(session, users, kind, title, deputies, steps)


def _demo_item(
    session: Session, users: dict, kind: str, title: str, deputies: list, steps: list
) -> None:
    item = items.register(
        session,
        users["registrar"],
        items.NewItem(
            kind=kind,
            title=title,
            content=f"{title}。反映群众关切，请法院研究办理并及时答复。",
            deputies=deputies,
            received_at=clock.now(),
        ),
    )
    for step, username, data in steps:
        if step == "meeting":
            met_on = clock.local_now().date().isoformat()
            meetings.record(
                session, users[username], item.id, met_on, data["method"], data["notes"]
            )
            continue
        task = session.scalar(
            select(Task).where(Task.item_id == item.id, Task.status == "open", Task.bpmn_id == step)
        )
        tasks.complete(session, users[username], task.id, data)
