"""`python -m bench.run`: completion latency (service layer, HTTP API, bare SpiffWorkflow)
and inbox query latency on a large database, in one run.

  --n N               letters per scenario (default 200; each = register + 5 completions)
  --inbox-items N     items bulk-loaded for the inbox part (default 100000; 0 skips it)
  --skip-http         leave out the HTTP part
  --database-url URL  a PostgreSQL database to use (default: a temporary SQLite file)
  --profile           also print a cProfile of the service-layer completions

Latencies are wall-clock (time.perf_counter). Where the work happens in this process, the
CPU time (time.process_time) is shown too: on a shared machine, wall minus CPU is time
spent waiting for a core (or for I/O), not time the code needs.
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
    parser = argparse.ArgumentParser(
        prog="python -m bench.run", description=" ".join(__doc__.split("\n\n")[0].split())
    )
    parser.add_argument("--n", type=int, default=200, help="letters per scenario")
    parser.add_argument("--inbox-items", type=int, default=100_000, help="0 skips part (d)")
    parser.add_argument("--inbox-reps", type=int, default=200, help="inbox calls per user/scope")
    parser.add_argument("--skip-http", action="store_true", help="leave out part (b)")
    parser.add_argument(
        "--database-url", default=None, help="e.g. postgresql+psycopg://postgres@127.0.0.1/bench"
    )
    parser.add_argument("--warmup", type=int, default=3, help="untimed letters first")
    parser.add_argument("--profile", action="store_true", help="cProfile the service layer")
    parser.add_argument(
        "--explain-all", action="store_true", help="query plans of every inbox scope"
    )
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    return parser.parse_args(argv)


def _section(title: str) -> None:
    print(f"\n== {title} " + "=" * max(3, 86 - len(title)), flush=True)


def _verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


def _ratio(a: float, c: float) -> float:
    return a / c if c else float("nan")


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
            f"settings     n={args.n} letters (+{args.warmup} warm-up), 5 completions "
            f"each, none rejected; inbox items={args.inbox_items:,}, "
            f"{args.inbox_reps} calls per user/scope"
        )
        print(f"database     {engine.url.render_as_string(hide_password=True)}")

        _section("(c) bare SpiffWorkflow 3.2 (JSON in -> run -> engine steps -> JSON out)")
        bare = baseline.run(args.n, args.warmup)
        print(f"completion   {bare.summary.line()}")
        print(f"  CPU time   {bare.cpu_summary.line()}")
        count = len(bare.completions)
        phases = ", ".join(f"{k} {v * 1000 / count:.3f} ms" for k, v in bare.phases.items())
        print(f"phases       {phases} (mean)")
        print(f"state JSON   {bare.json_bytes:,} bytes (library serializer, spec embedded)")

        _section("(a) service layer (unit_of_work + engine.services.tasks.complete + commit)")
        svc = service.run(factory, args.n, args.warmup)
        print(f"completion   {svc.summary.line()}")
        print(f"  CPU time   {svc.cpu_summary.line()}")
        for bpmn_id, samples in svc.by_step.items():
            print(f"  {'step ' + bpmn_id:<19} {Summary.of_seconds(samples).line()}")
        print(f"items.register (not a completion) {Summary.of_seconds(svc.registrations).line()}")
        extra = max(10, args.n // 4)
        split = service.breakdown(engine, factory, extra)
        print(
            f"where the time goes (instrumented extra pass, {split.completions} completions, "
            "exclusive mean per completion):"
        )
        for line in split.lines():
            print(line)
        if args.profile:
            print(service.profile(factory, extra))

        api: http_api.HttpResult | None = None
        if not args.skip_http:
            _section("(b) REST API (liaison serve --no-scheduler, waitress, keep-alive)")
            instance_dir = workdir / "http-instance"
            instance_dir.mkdir()
            if postgres:
                http_database_url = database.create_sibling_postgres(url, "http")
                if http_database_url is None:
                    print("note         cannot create a second database: the server shares ours")
                    http_database_url = url
            api = http_api.run(instance_dir, http_database_url, args.n, args.warmup)
            print(f"completion   {api.summary.line()}")
            print(f"POST /items  {Summary.of_seconds(api.registrations).line()}")
            if api.server_cpu_seconds is not None:
                per = api.server_cpu_seconds * 1000 / max(1, api.measured_requests)
                print(
                    f"server CPU   {per:.2f} ms per request (mean over {api.measured_requests} "
                    "measured requests, from /proc; PostgreSQL's own CPU not included)"
                )
            where = (
                f"PostgreSQL database {http_database_url.rsplit('/', 1)[-1]}"
                if http_database_url
                else "SQLite file in that dir"
            )
            print(
                f"server       own instance dir, {where}; demo+tokens+start "
                f"{api.startup_seconds:.1f} s; {api.requests} requests over "
                f"{api.connections} connection(s)"
            )

        _section(f"ratios against (c); target: service-layer completion <= {RATIO_TARGET:g}x bare")
        _ratios(svc, api, bare)

        box: inbox.InboxResult | None = None
        if args.inbox_items > 0:
            _section(f"(d) inbox: engine.services.tasks.inbox with {args.inbox_items:,} items")
            scopes = inbox.SCOPES if args.explain_all else ("candidate",)
            box = inbox.run(engine, factory, args.inbox_items, args.inbox_reps, scopes)
            _print_inbox(box, postgres)

        _section("results (ms; CPU = this process only)")
        _table(svc, api, bare, box, postgres)
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


def _ratios(svc, api, bare) -> None:
    p50, p95 = _ratio(svc.summary.p50, bare.summary.p50), _ratio(svc.summary.p95, bare.summary.p95)
    print(
        f"(a)/(c) service / bare   p50 {p50:5.1f}x   p95 {p95:5.1f}x   "
        f"p50 {_verdict(p50 <= RATIO_TARGET)}, p95 {_verdict(p95 <= RATIO_TARGET)}"
    )
    c50 = _ratio(svc.cpu_summary.p50, bare.cpu_summary.p50)
    c95 = _ratio(svc.cpu_summary.p95, bare.cpu_summary.p95)
    print(f"  on CPU time            p50 {c50:5.1f}x   p95 {c95:5.1f}x   (info)")
    if api is not None:
        h50 = _ratio(api.summary.p50, bare.summary.p50)
        h95 = _ratio(api.summary.p95, bare.summary.p95)
        print(f"(b)/(c) HTTP / bare      p50 {h50:5.1f}x   p95 {h95:5.1f}x   (info)")


def _print_inbox(box: inbox.InboxResult, postgres: bool) -> None:
    load = box.load
    print(
        f"loaded       {load.items:,} items, {load.instances:,} process instances, "
        f"{load.task_rows:,} task rows ({load.open_tasks:,} open), {load.departments} "
        f"departments, {load.users} users in {load.seconds:.1f} s"
        + ("; ANALYZE run" if load.analyzed else "; no ANALYZE")
    )
    target = " (the 20 ms target is set for SQLite)" if postgres else ""
    print(f"timed        one unit_of_work around inbox(), page 1 of 20 rows{target}")
    for t in box.timings:
        print(
            f"  {t.username:<9} {t.scope:<9} total {t.total:>6,}  {t.summary.line()}  "
            f"{_verdict(t.summary.p95 <= INBOX_TARGET_MS)}"
        )
        print(f"  {'':<9} {'':<9} {'CPU':>12}  {t.cpu.line()}")
    keyword = "EXPLAIN" if postgres else "EXPLAIN QUERY PLAN"
    for title, plan in box.plans:
        print(f"{keyword} [{title}]")
        for line in plan:
            print(f"    {line}")
    names = sorted(
        {n for title, plan in box.plans if "/ candidate" in title for n in inbox.indexes_in(plan)}
    )
    print(
        "candidate query uses an index: "
        + (f"yes ({', '.join(names)})" if box.candidate_uses_index else "NO")
    )


def _table(svc, api, bare, box: inbox.InboxResult | None, postgres: bool) -> None:
    row = "{:<42} {:>8} {:>8} {:>8} {:>8}   {}"
    print(row.format("", "p50", "p95", "CPU p50", "CPU p95", "verdict"))

    def ms(value: float) -> str:
        return f"{value:.2f}"

    print(
        row.format(
            "(c) bare SpiffWorkflow completion",
            ms(bare.summary.p50), ms(bare.summary.p95),
            ms(bare.cpu_summary.p50), ms(bare.cpu_summary.p95), "",
        )
    )  # fmt: skip
    print(
        row.format(
            "(a) service-layer completion",
            ms(svc.summary.p50), ms(svc.summary.p95),
            ms(svc.cpu_summary.p50), ms(svc.cpu_summary.p95), "",
        )
    )  # fmt: skip
    if api is not None:
        server = ""
        if api.server_cpu_seconds is not None:
            per = api.server_cpu_seconds * 1000 / max(1, api.measured_requests)
            server = f"server CPU {per:.2f} ms/request"
        print(
            row.format(
                "(b) HTTP API completion",
                ms(api.summary.p50),
                ms(api.summary.p95),
                "-",
                "-",
                server,
            )
        )
    r50 = _ratio(svc.summary.p50, bare.summary.p50)
    r95 = _ratio(svc.summary.p95, bare.summary.p95)
    print(
        row.format(
            "(a)/(c)  target <= 3x",
            f"{r50:.1f}x", f"{r95:.1f}x",
            f"{_ratio(svc.cpu_summary.p50, bare.cpu_summary.p50):.1f}x",
            f"{_ratio(svc.cpu_summary.p95, bare.cpu_summary.p95):.1f}x",
            f"p50 {_verdict(r50 <= RATIO_TARGET)}, p95 {_verdict(r95 <= RATIO_TARGET)}",
        )
    )  # fmt: skip
    if api is not None:
        h50 = _ratio(api.summary.p50, bare.summary.p50)
        h95 = _ratio(api.summary.p95, bare.summary.p95)
        print(row.format("(b)/(c)", f"{h50:.1f}x", f"{h95:.1f}x", "", "", "(info)"))
    if box is None:
        return
    note = " (SQLite target)" if postgres else ""
    for t in box.timings:
        print(
            row.format(
                f"(d) inbox {t.username}/{t.scope} ({t.total:,} open)",
                ms(t.summary.p50), ms(t.summary.p95), ms(t.cpu.p50), ms(t.cpu.p95),
                f"{_verdict(t.summary.p95 <= INBOX_TARGET_MS)} p95 <= 20 ms{note}",
            )
        )  # fmt: skip
    uses = "yes" if box.candidate_uses_index else "NO"
    print(row.format("(d) candidate query uses an index", "", "", "", "", uses))


if __name__ == "__main__":
    sys.exit(main())
