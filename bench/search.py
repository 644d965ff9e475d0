"""`python -m bench.search`: item search (`items.search` with `q`) on 100,000 items.

Bulk-loads items with bench.inbox's loader, then gives them varied Chinese titles and
contents and one to three deputies each (from ~2,000 names), and times
`engine.services.items.search` for the demo registrar (court-wide) and the demo drafter
(民一庭) over queries of every shape: an exact number, 2-character fragments (LIKE),
3- and 4-character fragments of title and content (trigram index), a case number (案号,
set on every fifth item) whole and by fragment, deputy names, and a phrase that matches
nothing.

  --items N           items to load (default 100000)
  --reps N            calls per user and query (default 30)
  --database-url URL  a PostgreSQL database to use (default: a temporary SQLite file)

Target: p95 <= 50 ms per user over all queries on SQLite.
"""

from __future__ import annotations

import argparse
import random
import shutil
import tempfile
import time
from pathlib import Path

from sqlalchemy import bindparam, select, update

from bench import database, inbox
from bench.stats import Summary
from engine.db import refresh_statistics, unit_of_work
from engine.models import Deputy, Item, ItemDeputy, User
from engine.services import items

TARGET_MS = 50.0
USERS = ("registrar", "drafter")
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾萧田董潘袁蔡蒋余于杜叶程魏苏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤欧阳"  # noqa: E501
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华建国红梅志文斌玉兰海燕鹏飞宇辉"
TOPICS = [
    "诉前调解",
    "巡回审判",
    "执行难",
    "立案登记",
    "诉讼服务",
    "司法公开",
    "知识产权保护",
    "未成年人保护",
    "环境资源审判",
    "劳动争议",
    "交通事故赔偿",
    "家事审判",
    "涉企案件",
    "小额诉讼",
    "网上立案",
    "司法救助",
    "法治宣传",
    "审判质效",
    "执行款发放",
    "多元解纷",
]
CASE_TYPES = ["民初", "民终", "刑初", "行初", "执"]
PLACES = ["偏远山区", "城乡结合部", "工业园区", "少数民族聚居区", "老旧小区", "农村地区"]
VERBS = ["加强", "改进", "完善", "规范", "推进", "优化"]


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.search", description=__doc__)
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--reps", type=int, default=30)
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    return parser.parse_args(argv)


def vary_texts(engine, seed: int = 7) -> dict[str, int]:
    """Realistic titles, contents and deputies for the bulk-loaded items."""
    rng = random.Random(seed)
    t0 = time.perf_counter()
    with engine.begin() as connection:
        court_id, first_item = connection.execute(
            select(Item.court_id, Item.id).order_by(Item.id).limit(1)
        ).one()
        names: set[str] = set()
        while len(names) < 2_000:
            given = "".join(rng.choice(GIVEN) for _ in range(rng.choice((1, 2, 2))))
            names.add(rng.choice(SURNAMES[:-2]) + given)
        taken = set(
            connection.execute(select(Deputy.name).where(Deputy.court_id == court_id)).scalars()
        )
        inbox._insert(
            connection,
            Deputy.__table__,
            [{"court_id": court_id, "name": n, "active": True} for n in sorted(names - taken)],
        )
        deputy_ids = list(
            connection.execute(select(Deputy.id).where(Deputy.court_id == court_id)).scalars()
        )
        item_ids = list(
            connection.execute(
                select(Item.id).where(Item.number.like("%-建-B%")).order_by(Item.id)
            ).scalars()
        )
        updates, links = [], []
        for k, item_id in enumerate(item_ids):
            topic, place, verb = rng.choice(TOPICS), rng.choice(PLACES), rng.choice(VERBS)
            case_number = None
            if k % 5 == 0:  # one item in five follows a case (案号)
                case_number = (
                    f"（{rng.choice((2024, 2025, 2026))}）京{rng.randint(101, 119):04d}"
                    f"{rng.choice(CASE_TYPES)}{rng.randint(1, 20000)}号"
                )
            updates.append(
                {
                    "b_id": item_id,
                    "case_number": case_number,
                    "title": f"关于{verb}{topic}工作的建议",
                    "content": (
                        f"代表调研发现，{place}群众在{topic}方面反映较多，"
                        f"建议法院{verb}相关机制，并于{rng.randint(1, 12)}月底前答复。"
                    ),
                }
            )
            for deputy_id in rng.sample(deputy_ids, rng.choice((1, 1, 2, 3))):
                links.append({"item_id": item_id, "deputy_id": deputy_id})
        statement = (
            update(Item.__table__)
            .where(Item.__table__.c.id == bindparam("b_id"))
            .values(
                title=bindparam("title"),
                content=bindparam("content"),
                case_number=bindparam("case_number"),
            )
        )
        for start in range(0, len(updates), inbox.BATCH):
            connection.execute(statement, updates[start : start + inbox.BATCH])
        inbox._insert(connection, ItemDeputy.__table__, links)
    if engine.dialect.name == "sqlite":
        refresh_statistics(engine)
    else:
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.exec_driver_sql("ANALYZE")
    return {
        "items": len(item_ids),
        "deputies": len(deputy_ids),
        "links": len(links),
        "seconds": round(time.perf_counter() - t0, 1),
        "first_item": first_item,
    }


def _queries(engine) -> list[tuple[str, str]]:
    with engine.connect() as connection:
        number = connection.execute(
            select(Item.number).where(Item.number.like("%-建-B%")).order_by(Item.id.desc())
        ).first()[0]
        deputy = connection.execute(
            select(Deputy.name).join(ItemDeputy).order_by(Deputy.id.desc()).limit(1)
        ).scalar()
        case_number = connection.execute(
            select(Item.case_number)
            .where(Item.case_number.is_not(None))
            .order_by(Item.id.desc())
            .limit(1)
        ).scalar()
        short_deputy = connection.execute(
            select(Deputy.name)
            .join(ItemDeputy)
            .where(Deputy.name.like("__"))
            .order_by(Deputy.id)
            .limit(1)
        ).scalar()
    return [
        ("exact number", number),
        ("number fragment (3+)", number[-7:]),
        ("title 4 chars", "诉前调解"),
        ("title 6 chars", "知识产权保护"),
        ("title 2 chars (LIKE)", "调解"),
        ("content 4 chars", "偏远山区"),
        ("content 2 chars (LIKE)", "山区"),
        ("case number", case_number),
        ("case number fragment", case_number[11:-1]),  # e.g. 民初1234
        ("deputy name", deputy),
        ("deputy 2 chars (LIKE)", short_deputy or "王芳"),
        ("no match", "不存在的关键词"),
    ]


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    workdir = Path(tempfile.mkdtemp(prefix="liaison-bench-search-"))
    url = args.database_url or f"sqlite:///{workdir / 'bench.db'}"
    try:
        engine, factory = database.prepare(url)
        print(f"database     {engine.url.render_as_string(hide_password=True)}")
        if engine.dialect.name == "sqlite":
            with engine.connect() as connection:
                version = connection.exec_driver_sql("SELECT sqlite_version()").scalar()
            print(f"sqlite       {version}")
        load = inbox.bulk_load(engine, args.items)
        print(f"loaded       {load.items:,} items in {load.seconds:.1f} s")
        varied = vary_texts(engine)
        print(
            f"texts        {varied['items']:,} items re-titled, {varied['deputies']:,} deputies, "
            f"{varied['links']:,} item-deputy links in {varied['seconds']} s"
        )
        with unit_of_work(factory) as session:
            actors = {
                u.username: u for u in session.scalars(select(User).where(User.username.in_(USERS)))
            }
        queries = _queries(engine)
        print(
            f"timed        one read-only unit_of_work around items.search(q=…), page 1 of 20, "
            f"with the total; {args.reps} calls per user and query after 3 warm-ups"
        )
        ok = True
        for username in USERS:
            actor = actors[username]
            every: list[float] = []
            print(f"\n{username} ({actor.role})")
            for label, q in queries:
                query = items.ItemQuery(q=q)
                for _ in range(3):
                    with unit_of_work(factory, read_only=True) as session:
                        _rows, total = items.search(session, actor, query)
                samples = []
                for _ in range(args.reps):
                    t0 = time.perf_counter()
                    with unit_of_work(factory, read_only=True) as session:
                        items.search(session, actor, query)
                    samples.append(time.perf_counter() - t0)
                every.extend(samples)
                summary = Summary.of_seconds(samples)
                print(
                    f"  {label:<24} {q!r:<18} total {total:>6,}   "
                    f"p50 {summary.p50:7.2f} ms   p95 {summary.p95:7.2f} ms"
                )
            overall = Summary.of_seconds(every)
            passed = overall.p95 <= TARGET_MS
            ok = ok and passed
            print(
                f"  {'all queries':<24} {'':<18} {'':>12}   p50 {overall.p50:7.2f} ms   "
                f"p95 {overall.p95:7.2f} ms   target p95 <= {TARGET_MS:.0f} ms: "
                f"{'PASS' if passed else 'MISS'}"
            )
        print(f"\nsearch p95 <= {TARGET_MS:.0f} ms for every user: {'PASS' if ok else 'MISS'}")
        engine.dispose()
        return 0
    finally:
        if args.keep:
            print(f"kept         {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
