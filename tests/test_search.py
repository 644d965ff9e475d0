"""Search across items (number, title, content, 案号, deputy) on SQLite FTS5 and pg_trgm."""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import timedelta

import pytest
from alembic import command
from sqlalchemy import Engine, column, select, table, update

from engine import clock
from engine.db import make_engine, unit_of_work
from engine.migrate import alembic_config
from engine.models import Court, Deputy, Item, ItemDeputy, Task, User
from engine.services import items, search, tasks
from tests.conftest import _drop_postgres, _fresh_postgres
from tests.helpers import complete

TITLE = "关于加强诉前调解工作的建议"
CONTENT = "建议在基层法庭设立巡回审判点，方便偏远山区群众诉讼。"


def _register(factory, registrar, title, content, deputies) -> int:
    with unit_of_work(factory) as session:
        item = items.register(
            session,
            registrar,
            items.NewItem(kind="suggestion", title=title, content=content, deputies=deputies),
        )
        return item.id


def _find(factory, user, q: str, **options) -> tuple[list[int], int]:
    with unit_of_work(factory, read_only=True) as session:
        rows, total = items.search(session, user, items.ItemQuery(q=q, **options))
        return [item.id for item in rows], total


@pytest.fixture
def corpus(factory, people) -> dict[str, int]:
    """Three items: two handled by 民一庭, one still waiting to be registered."""
    registrar = people["registrar"]
    ids = {
        "mediation": _register(factory, registrar, TITLE, CONTENT, ["王芳", "欧阳建国"]),
        "traffic": _register(
            factory, registrar, "交通事故赔偿案件审理周期过长", "群众反映执行难。", ["李明"]
        ),
        "other": _register(factory, registrar, "关于法治宣传的意见", "加强普法。", ["赵四"]),
    }
    complete(factory, registrar, ids["mediation"], "register")  # to 民一庭
    complete(factory, registrar, ids["traffic"], "register")
    return ids


def _number(factory, item_id: int) -> str:
    with unit_of_work(factory) as session:
        return session.get(Item, item_id).number


def test_finds_by_number_exact_match_first(factory, people, corpus):
    registrar = people["registrar"]
    number = _number(factory, corpus["traffic"])
    found, total = _find(factory, registrar, number)
    assert found[0] == corpus["traffic"]
    assert total == len(found) >= 1
    # a number fragment (the year) matches every item, newest first
    year = number.split("-")[0]
    found, total = _find(factory, registrar, year)
    assert total == 3
    assert found == sorted(corpus.values(), reverse=True)


@pytest.mark.parametrize(
    ("q", "expected"),
    [
        ("调解", "mediation"),  # 2 characters of the title: LIKE
        ("诉前调解", "mediation"),  # 4 characters of the title: trigram index
        ("巡回", "mediation"),  # 2 characters of the content
        ("偏远山区", "mediation"),  # 4 characters of the content
        ("王芳", "mediation"),  # a two-character deputy name
        ("欧阳建国", "mediation"),  # a four-character deputy name
        ("李明", "traffic"),
        ("执行难", "traffic"),
        ("普法", "other"),
    ],
)
def test_finds_by_fragment_and_deputy(factory, people, corpus, q, expected):
    found, total = _find(factory, people["registrar"], q)
    assert found == [corpus[expected]]
    assert total == 1


def test_search_stays_within_visibility(factory, people, corpus):
    assert _find(factory, people["drafter"], "诉前调解") == ([corpus["mediation"]], 1)
    assert _find(factory, people["drafter"], "王芳") == ([corpus["mediation"]], 1)
    # 刑一庭's drafter sees none of 民一庭's items, and not the unassigned one
    for q in ("诉前调解", "调解", "王芳", "普法", "建议", _number(factory, corpus["mediation"])):
        assert _find(factory, people["drafter_other"], q) == ([], 0)
    # the unassigned item is the registrar's only
    assert _find(factory, people["drafter"], "普法") == ([], 0)


HOSTILE = [
    '"',
    '""',
    "'",
    "诉前' OR 1=1 --",
    '"诉前调解"',
    "%",
    "%%%",
    "_",
    "___",
    "\\",
    "\\%",
    "调解 AND 建议",
    "调解 OR 执行",
    "NOT 调解",
    "NEAR(调解 建议)",
    "调解*",
    "*",
    "^调解",
    "title:调解",
    "number : 2026",
    "{title content}: 调解",
    "(调解",
    "调解)",
    "-调解",
    "+",
    "a\x00b",
]


@pytest.mark.parametrize("q", HOSTILE)
def test_hostile_input_is_literal_and_never_errors(factory, people, corpus, q):
    found, total = _find(factory, people["registrar"], q)
    assert (found, total) == ([], 0)


def test_like_wildcards_are_literal_when_present(factory, people):
    registrar = people["registrar"]
    literal = _register(factory, registrar, "费用100%_承担问题", "内容", ["钱七"])
    _register(factory, registrar, "费用1000承担问题", "内容", ["钱七"])
    for q in ("%_", "100%_", "0%_承"):
        assert _find(factory, registrar, q) == ([literal], 1)
    quoted = _register(factory, registrar, '关于"一站式"诉讼服务', "内容", ["钱七"])
    assert _find(factory, registrar, '"一站式"') == ([quoted], 1)
    assert _find(factory, registrar, '"一') == ([quoted], 1)


def test_title_change_is_found_after_the_change(factory, people, corpus):
    registrar = people["registrar"]
    with unit_of_work(factory) as session:
        session.get(Item, corpus["other"]).title = "关于知识产权保护的意见"
    assert _find(factory, registrar, "知识产权") == ([corpus["other"]], 1)
    assert _find(factory, registrar, "法治宣传") == ([], 0)


def test_deputy_changes_are_found(factory, people, corpus):
    registrar = people["registrar"]
    with unit_of_work(factory) as session:
        session.execute(update(Deputy).where(Deputy.name == "赵四").values(name="赵四海"))
    assert _find(factory, registrar, "赵四海") == ([corpus["other"]], 1)
    with unit_of_work(factory) as session:
        session.execute(
            ItemDeputy.__table__.delete().where(ItemDeputy.item_id == corpus["mediation"])
        )
    assert _find(factory, registrar, "欧阳建国") == ([], 0)


def test_paging_keeps_the_total(factory, people):
    registrar = people["registrar"]
    ids = [_register(factory, registrar, f"执行款发放问题 {k}", "内容", ["孙八"]) for k in range(5)]
    first, total = _find(factory, registrar, "执行款", per_page=2)
    second, _ = _find(factory, registrar, "执行款", per_page=2, page=2)
    assert total == 5
    assert first + second == sorted(ids, reverse=True)[:4]


CASE_NUMBER = "（2026）京0105民初1234号"


def _concern_case(factory, people, case_number: str) -> int:
    """A concern case whose 案号 is set when the register step completes (an UPDATE)."""
    registrar = people["registrar"]
    with unit_of_work(factory) as session:
        item_id = items.register(
            session,
            registrar,
            items.NewItem(
                kind="concern_case",
                title="代表关注的合同纠纷案件",
                content="请关注。",
                deputies=["吴代表"],
            ),
        ).id
    data = {
        "case_number": case_number,
        "case_stage": "trial",
        "department": "民一庭",
        "opinion": "请民一庭关注审理进展",
    }
    with unit_of_work(factory) as session:
        task = session.scalar(select(Task).where(Task.item_id == item_id, Task.status == "open"))
        tasks.complete(session, registrar, task.id, data)
    return item_id


def test_finds_by_case_number_whole_and_by_fragment(factory, people, corpus):
    case = _concern_case(factory, people, CASE_NUMBER)
    other = _concern_case(factory, people, "（2025）京0105刑初88号")
    registrar = people["registrar"]
    assert _find(factory, registrar, CASE_NUMBER) == ([case], 1)
    for fragment in ("民初1234", "京0105民初", "1234号", "民初"):  # 民初: the 2-character LIKE
        assert _find(factory, registrar, fragment) == ([case], 1), fragment
    assert _find(factory, registrar, "京0105") == ([other, case], 2)
    assert _find(factory, registrar, "刑初88") == ([other], 1)
    # the 2-character fallback still finds titles and deputies
    assert _find(factory, registrar, "调解") == ([corpus["mediation"]], 1)
    assert _find(factory, registrar, "王芳") == ([corpus["mediation"]], 1)
    # within visibility: 民一庭 sees the case, 刑一庭 does not
    assert _find(factory, people["drafter"], "民初1234") == ([case], 1)
    assert _find(factory, people["drafter_other"], "民初1234") == ([], 0)
    assert _find(factory, people["drafter_other"], "民初") == ([], 0)


def test_exact_case_number_comes_first_and_a_changed_number_is_found(factory, people):
    registrar = people["registrar"]
    case = _concern_case(factory, people, CASE_NUMBER)
    # an older item that mentions the case number in its text is found too, after it
    mention = _register(factory, registrar, "关于案件的来信", f"涉及{CASE_NUMBER}的审理", ["钱七"])
    assert _find(factory, registrar, CASE_NUMBER) == ([case, mention], 2)
    with unit_of_work(factory) as session:
        session.get(Item, case).case_number = "（2026）京0105民终77号"
    assert _find(factory, registrar, "民终77") == ([case], 1)
    assert _find(factory, registrar, "民初1234") == ([mention], 1)


# ---------------------------------------------------------------------------
# The migration backfills items that existed before it, on a database of its own
# ---------------------------------------------------------------------------


def _backends() -> list[str]:
    return ["sqlite"] + (["postgresql"] if os.environ.get("LIAISON_TEST_DATABASE_URL") else [])


@pytest.fixture(params=_backends())
def fresh_engine(request, tmp_path, pg_admin_url) -> Iterator[Engine]:
    if request.param == "sqlite":
        engine = make_engine(f"sqlite:///{tmp_path / 'fresh.db'}")
        yield engine
        engine.dispose()
        return
    url, name = _fresh_postgres(pg_admin_url)
    engine = make_engine(url)
    yield engine
    engine.dispose()
    _drop_postgres(pg_admin_url, name)


def _migrate(engine: Engine, direction: str, revision: str) -> None:
    config = alembic_config(engine)
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        getattr(command, direction)(config, revision)


def _search_as_registrar(engine: Engine, q: str) -> tuple[list[str], int]:
    with engine.connect() as connection:
        court_id, user_id = connection.execute(select(User.court_id, User.id)).one()
    registrar = User(id=user_id, court_id=court_id, role="registrar", department_id=None)
    with unit_of_work(items_factory(engine), read_only=True) as session:
        rows, total = items.search(session, registrar, items.ItemQuery(q=q))
        return [item.number for item in rows], total


def items_factory(engine: Engine):
    from engine.db import make_session_factory

    return make_session_factory(engine)


# The items table as revision 0007 has it (the models describe the head revision).
ITEMS_0007 = table(
    "items",
    *(
        column(name)
        for name in (
            "id",
            "court_id",
            "number",
            "kind",
            "title",
            "content",
            "received_at",
            "status",
            "due_fallback",
            "escalation_level",
            "supervised",
            "created_by_id",
            "created_at",
        )
    ),
)


def _search_objects(engine: Engine) -> list[str]:
    with engine.connect() as connection:
        if engine.dialect.name == "sqlite":
            return sorted(
                connection.exec_driver_sql(
                    "SELECT name FROM sqlite_master WHERE name LIKE 'item_search%'"
                ).scalars()
            )
        return sorted(
            connection.exec_driver_sql(
                "SELECT indexname FROM pg_indexes WHERE right(indexname, 5) = '_trgm'"
            ).scalars()
        )


def test_migration_backfills_existing_items(fresh_engine):
    _migrate(fresh_engine, "upgrade", "0007")
    now = clock.now().replace(tzinfo=None)  # naive UTC, as the models store it
    with fresh_engine.begin() as connection:
        court_id = connection.execute(
            Court.__table__.insert().values(name="某法院")
        ).inserted_primary_key[0]
        user_id = connection.execute(
            User.__table__.insert().values(
                court_id=court_id,
                username="r",
                display_name="r",
                role="registrar",
                active=True,
                daily_digest=False,
            )
        ).inserted_primary_key[0]
        deputy_id = connection.execute(
            Deputy.__table__.insert().values(court_id=court_id, name="周代表", active=True)
        ).inserted_primary_key[0]
        for k, title in enumerate(["关于优化立案流程的建议", "关于执行联动机制的建议"]):
            item_id = connection.execute(
                ITEMS_0007.insert()
                .values(
                    court_id=court_id,
                    number=f"2026-建-{k + 1:04d}",
                    kind="suggestion",
                    title=title,
                    content="早已存在的内容",
                    received_at=now - timedelta(days=k),
                    status="open",
                    due_fallback=False,
                    escalation_level=0,
                    supervised=False,
                    created_by_id=user_id,
                    created_at=now,
                )
                .returning(ITEMS_0007.c.id)
            ).scalar_one()
            if k == 0:
                linked = item_id
    # 0008 builds the index objects from the rows; down to 0007 drops them again
    _migrate(fresh_engine, "upgrade", "0008")
    assert _search_objects(fresh_engine)
    _migrate(fresh_engine, "downgrade", "0007")
    assert _search_objects(fresh_engine) == []
    # 0009 adds items.case_number. On SQLite it rebuilds `items` (batch mode), which fails
    # while other rows reference items (foreign keys are on), so the deputy link and the
    # case number are written after it, before 0010.
    _migrate(fresh_engine, "upgrade", "0009")
    with fresh_engine.begin() as connection:
        connection.execute(
            ItemDeputy.__table__.insert().values(item_id=linked, deputy_id=deputy_id)
        )
        connection.execute(
            update(Item.__table__)
            .where(Item.__table__.c.number == "2026-建-0002")
            .values(case_number="（2026）京0105民初1234号")
        )
    _migrate(fresh_engine, "upgrade", "head")
    assert _search_as_registrar(fresh_engine, "立案流程") == (["2026-建-0001"], 1)
    assert _search_as_registrar(fresh_engine, "周代表") == (["2026-建-0001"], 1)
    assert _search_as_registrar(fresh_engine, "早已存在") == (["2026-建-0002", "2026-建-0001"], 2)
    assert _search_as_registrar(fresh_engine, "2026-建-0002")[0][0] == "2026-建-0002"
    assert _search_as_registrar(fresh_engine, "民初1234") == (["2026-建-0002"], 1)  # backfilled

    # down to 0009 takes the case number out of the index objects; up again puts it back
    _migrate(fresh_engine, "downgrade", "0009")
    if fresh_engine.dialect.name == "sqlite":
        with fresh_engine.connect() as connection:
            columns = connection.exec_driver_sql("SELECT * FROM item_search LIMIT 0").keys()
        assert list(columns) == ["number", "title", "content", "deputies"]
        assert _search_as_registrar(fresh_engine, "执行联动") == (["2026-建-0002"], 1)
    else:
        assert "ix_items_case_number_trgm" not in _search_objects(fresh_engine)
        assert "ix_items_title_trgm" in _search_objects(fresh_engine)
    _migrate(fresh_engine, "upgrade", "head")
    assert _search_as_registrar(fresh_engine, "民初1234") == (["2026-建-0002"], 1)
    assert _search_as_registrar(fresh_engine, "周代表") == (["2026-建-0001"], 1)


def test_fts5_strings_and_like_patterns_quote_everything():
    assert search.fts5_string('a"b') == '"a""b"'
    assert search.escape_like("50%_\\") == "50\\%\\_\\\\"
    assert search.normalize("  x  ") == "x"
    assert len(search.normalize("长" * 1000)) == search.MAX_QUERY
