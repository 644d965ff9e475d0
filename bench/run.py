"""`python -m bench.run`: completion latency (service layer, HTTP API, bare SpiffWorkflow)
and inbox query latency on a large database, in one run.

  --n N               suggestions per scenario (default 200; each = register + 5 completions)
  --inbox-items N     items bulk-loaded for the inbox part (default 100000; 0 skips it)
  --skip-http         leave out the HTTP part
  --database-url URL  a PostgreSQL database to use (default: a temporary SQLite file)
  --profile           also print a cProfile of the service-layer completions
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

from bench import baseline, database, http_api, inbox, machine, service
from bench.stats import Summary

RATIO_TARGET = 3.0
INBOX_TARGET_MS = 20.0


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=200, help="suggestions per scenario")
    parser.add_argument("--inbox-items", type=int, default=100_000)
    parser.add_argument("--inbox-reps", type=int, default=200, help="inbox calls per user/scope")
    parser.add_argument("--skip-http", action="store_true")
    parser.add_argument(
        "--database-url",
        default=None,
        help="e.g. postgresql+psycopg://postgres@127.0.0.1:5432/bench",
    )
    parser.add_argument("--warmup", type=int, default=3, help="untimed suggestions first")
    parser.add_argument("--profile", action="store_true", help="cProfile the service layer")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    return parser.parse_args(argv)


def _section(title: str) -> None:
    print(f"\n== {title} " + "=" * max(3, 86 - len(title)), flush=True)


def _verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    started = time.perf_counter()
    workdir = Path(tempfile.mkdtemp(prefix="liaison-bench-"))
    url = args.database_url or f"sqlite:///{workdir / 'bench.db'}"
    http_database_url: str | None = None
    try:
        engine, factory = database.prepare(url)
        postgres = engine.dialect.name == "postgresql"
        _section("Liaison Desk benchmark")
        for line in machine.describe(engine):
            print(line)
        print(
            f"settings     n={args.n} suggestions (+{args.warmup} warm-up), 5 completions "
            f"each, none rejected; inbox items={args.inbox_items:,}, "
            f"{args.inbox_reps} calls per user/scope"
        )
        print(f"database     {engine.url.render_as_string(hide_password=True)}")

        # (c) -------------------------------------------------------------------
        _section("(c) bare SpiffWorkflow 3.2 (JSON in -> run -> engine steps -> JSON out)")
        bare = baseline.run(args.n, args.warmup)
        print(f"completion   {bare.summary.line()}")
        count = len(bare.completions)
        print(
            "phases       "
            + ", ".join(
                f"{name} {seconds * 1000 / count:.3f} ms" for name, seconds in bare.phases.items()
            )
        )
        print(
            f"state JSON   {bare.json_bytes:,} bytes (library serializer, spec embedded); "
            f"CPU share {bare.cpu_share:.0%}"
        )

        # (a) -------------------------------------------------------------------
        _section("(a) service layer (unit_of_work + engine.services.tasks.complete + commit)")
        svc = service.run(factory, args.n, args.warmup)
        print(f"completion   {svc.summary.line()}")
        print(f"register     {Summary.of_seconds(svc.registrations).line()}")
        print(
            f"CPU share    {svc.cpu_share:.0%} of wall time (well below 100% = waiting on "
            "I/O or on a busy CPU)"
        )
        for bpmn_id, samples in svc.by_step.items():
            print(f"  {bpmn_id:<14} {Summary.of_seconds(samples).line()}")
        extra = max(10, args.n // 4)
        split = service.breakdown(engine, factory, extra)
        print(
            f"where the time goes (instrumented extra pass, {split.completions} completions; "
            "exclusive mean per completion):"
        )
        for line in split.lines():
            print(line)
        if args.profile:
            print(service.profile(factory, extra))

        # (b) -------------------------------------------------------------------
        api: http_api.HttpResult | None = None
        if not args.skip_http:
            _section("(b) REST API (liaison serve --no-scheduler, waitress, keep-alive)")
            instance_dir = workdir / "http-instance"
            instance_dir.mkdir()
            if postgres:
                http_database_url = database.create_sibling_postgres(url, "http")
                if http_database_url is None:
                    print(
                        "note         could not create a second database: the server shares "
                        "the benchmark database"
                    )
                    http_database_url = url
            api = http_api.run(instance_dir, http_database_url, args.n, args.warmup)
            print(f"completion   {api.summary.line()}")
            print(f"POST /items  {Summary.of_seconds(api.registrations).line()}")
            where = (
                f"PostgreSQL {http_database_url.rsplit('/', 1)[-1]}"
                if http_database_url
                else "SQLite file in the instance dir"
            )
            print(
                f"server       own instance dir, database: {where}; demo+tokens+start "
                f"{api.startup_seconds:.1f} s; {api.requests} requests over "
                f"{api.connections} connection(s)"
            )

        # ratios ----------------------------------------------------------------
        _section(f"ratios against (c), target: service-layer completion <= {RATIO_TARGET:g}x bare")
        ratios = _ratios(svc.summary, api.summary if api else None, bare.summary)
        for line in ratios:
            print(line)

        # (d) -------------------------------------------------------------------
        box: inbox.InboxResult | None = None
        if args.inbox_items > 0:
            _section(f"(d) inbox: engine.services.tasks.inbox with {args.inbox_items:,} items")
            box = inbox.run(engine, factory, args.inbox_items, args.inbox_reps)
            load = box.load
            print(
                f"loaded       {load.items:,} items, {load.instances:,} process instances, "
                f"{load.task_rows:,} task rows ({load.open_tasks:,} open), "
                f"{load.departments} departments, {load.users} users in {load.seconds:.1f} s"
                + ("; ANALYZE run" if load.analyzed else "; no ANALYZE (as the app runs)")
            )
            target = "" if not postgres else " (target is set for SQLite; shown for reference)"
            print(
                f"timed        one unit_of_work around inbox() per call (page 1, 20 rows){target}"
            )
            for timing in box.timings:
                ok = timing.summary.p95 <= INBOX_TARGET_MS
                print(
                    f"  {timing.username:<9} {timing.scope:<9} total={timing.total:<6,} "
                    f"{timing.summary.line()}  {_verdict(ok)}"
                )
            keyword = "EXPLAIN" if postgres else "EXPLAIN QUERY PLAN"
            for title, plan in box.plans:
                print(f"{keyword} [{title}]")
                for line in plan:
                    print(f"    {line}")
            names = sorted({n for _, plan in box.plans for n in inbox.indexes_in(plan)})
            print(
                "candidate query uses an index: "
                + (f"yes ({', '.join(names)})" if box.candidate_uses_index else "NO")
            )

        _section("results")
        _table(svc.summary, api.summary if api else None, bare.summary, box, postgres)
        print(
            f"\ntotal run time {time.perf_counter() - started:.0f} s; "
            f"load avg at end {machine.load_average()}"
        )
        engine.dispose()
        return 0
    finally:
        if http_database_url and http_database_url != url:
            database.drop_postgres(url, http_database_url)
        if args.keep:
            print(f"kept {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)


def _ratio(a: float, c: float) -> float:
    return a / c if c else float("nan")


def _ratios(svc: Summary, api: Summary | None, bare: Summary) -> list[str]:
    lines = []
    for label, s in (("(a)/(c) service / bare", svc), ("(b)/(c) HTTP / bare", api)):
        if s is None:
            continue
        p50, p95 = _ratio(s.p50, bare.p50), _ratio(s.p95, bare.p95)
        line = f"{label:<24} p50 {p50:5.1f}x   p95 {p95:5.1f}x"
        if s is svc:
            line += (
                f"   p50 {_verdict(p50 <= RATIO_TARGET)}, p95 {_verdict(p95 <= RATIO_TARGET)}"
                f" (target <= {RATIO_TARGET:g}x)"
            )
        lines.append(line)
    return lines


def _table(
    svc: Summary, api: Summary | None, bare: Summary, box: inbox.InboxResult | None, postgres: bool
) -> None:
    row = "{:<40} {:>9} {:>9}   {}"
    print(row.format("", "p50", "p95", "verdict"))
    print(
        row.format(
            "(c) bare SpiffWorkflow completion", f"{bare.p50:.2f}ms", f"{bare.p95:.2f}ms", ""
        )
    )
    print(row.format("(a) service-layer completion", f"{svc.p50:.2f}ms", f"{svc.p95:.2f}ms", ""))
    if api is not None:
        print(row.format("(b) HTTP API completion", f"{api.p50:.2f}ms", f"{api.p95:.2f}ms", ""))
    r50, r95 = _ratio(svc.p50, bare.p50), _ratio(svc.p95, bare.p95)
    print(
        row.format(
            "(a)/(c)",
            f"{r50:.1f}x",
            f"{r95:.1f}x",
            f"{_verdict(r50 <= RATIO_TARGET)} / {_verdict(r95 <= RATIO_TARGET)}"
            f"  (target <= {RATIO_TARGET:g}x)",
        )
    )
    if api is not None:
        print(
            row.format(
                "(b)/(c)",
                f"{_ratio(api.p50, bare.p50):.1f}x",
                f"{_ratio(api.p95, bare.p95):.1f}x",
                "(info)",
            )
        )
    if box is None:
        return
    note = " (SQLite target)" if postgres else ""
    for t in box.timings:
        label = f"(d) inbox {t.username}/{t.scope} ({t.total:,} open)"
        print(
            row.format(
                label,
                f"{t.summary.p50:.2f}ms",
                f"{t.summary.p95:.2f}ms",
                f"{_verdict(t.summary.p95 <= INBOX_TARGET_MS)}  "
                f"(p95 <= {INBOX_TARGET_MS:g} ms){note}",
            )
        )
    print(
        row.format(
            "(d) candidate query uses an index", "", "", "yes" if box.candidate_uses_index else "NO"
        )
    )


if __name__ == "__main__":
    sys.exit(main())
