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
from engine.services import accounts, items, tasks

DEMO_PASSWORD = "demo1234"
DEPARTMENTS = ["办公室", "立案庭", "民一庭", "刑一庭", "执行局"]
USERS = [  # username, role, department, display name
    ("registrar", "registrar", "办公室", "王联络"),
    ("drafter", "drafter", "民一庭", "李承办"),
    ("drafter2", "drafter", "刑一庭", "赵承办"),
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
ITEMS = [  # title, deputies, how far it goes, days ago it arrived (and was worked on)
    ("关于加快执行案件款项发放的建议", ["张建国"], "registered", 0),
    ("关于在乡镇设立巡回审判点的建议", ["李秀英", "王志强"], "drafting", 24),
    ("关于加强涉农纠纷诉前调解的建议", ["陈丽华"], "awaiting_approval", 5),
    ("关于规范诉讼费退费流程的建议", ["刘德明"], "sent_back", 12),
    ("关于完善人民陪审员选任的建议", ["张建国", "陈丽华"], "filed", 30),
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
    for title, deputies, stage, days_ago in ITEMS:
        with clock.travelling(clock.now() - timedelta(days=days_ago)):
            _demo_item(session, users, title, deputies, stage)


def _demo_item(session: Session, users: dict, title: str, deputies: list, stage: str) -> None:
    item = items.register(
        session,
        users["registrar"],
        items.NewItem(
            kind="suggestion",
            title=title,
            content=f"{title}。代表反映群众关切，建议法院研究办理并及时答复。",
            deputies=deputies,
            received_at=clock.now(),
        ),
    )
    script = [
        ("registrar", {"department": "民一庭", "opinion": "请民一庭研究办理，按期答复代表。"}),
        ("drafter", {"draft": "经研究，我院已采取以下措施：一是……二是……，下一步将继续改进。"}),
        (
            "leader",
            {
                "approved": stage != "sent_back",
                "comment": "请补充具体措施和时间表。" if stage == "sent_back" else "同意。",
            },
        ),
        (
            "registrar",
            {"reply_class": "A", "reply": "代表您好：您提出的建议已办理完毕，具体情况如下……"},
        ),
        ("registrar", {"comment": "材料齐全，归档。"}),
    ]
    steps = {"registered": 0, "drafting": 1, "awaiting_approval": 2, "sent_back": 3, "filed": 5}
    for username, data in script[: steps[stage]]:
        task = session.scalar(select(Task).where(Task.item_id == item.id, Task.status == "open"))
        tasks.complete(session, users[username], task.id, data)
