"""The `liaison` command line (DESIGN.md, part A)."""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import click
from sqlalchemy.orm import Session

from engine.config import Settings
from engine.db import make_engine, make_session_factory, unit_of_work
from engine.errors import DomainError
from engine.models import ROLES
from engine.services import accounts, process_models


def _settings() -> Settings:
    return Settings.from_env()


@contextmanager
def _session() -> Iterator[Session]:
    """One unit of work; a domain error becomes a sentence and exit code 1."""
    factory = make_session_factory(make_engine(_settings().database_url))
    try:
        with unit_of_work(factory) as session:
            yield session
    except DomainError as exc:
        raise click.ClickException(exc.message) from exc


def _court(session: Session):
    return accounts.get_or_create_court(session, _settings().court_name)


@click.group()
def main() -> None:
    """Liaison Desk (联络通): route deputies' items register → draft → approve → reply → file."""


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=int)
@click.option("--no-scheduler", is_flag=True, help="Do not run the escalation scheduler here.")
def serve(host: str, port: int, no_scheduler: bool) -> None:
    """Serve the web app and API (with the escalation scheduler unless told not to)."""
    from waitress import serve as waitress_serve

    from web import create_app

    if host not in ("0.0.0.0", "::"):  # links in deputies' mail point at this server by default
        os.environ.setdefault("LIAISON_BASE_URL", f"http://{host}:{port}")
    app = create_app(_settings())
    if not no_scheduler:
        from engine.scheduler import start_background_scheduler

        start_background_scheduler(app.extensions["liaison"]["sessions"], _settings().smtp_url)
    click.echo(f"Liaison Desk on http://{host}:{port}")
    waitress_serve(app, host=host, port=port, threads=8)


@main.group()
def db() -> None:
    """Database schema."""


@db.command("upgrade")
def db_upgrade() -> None:
    """Create or migrate the schema; load the shipped workflows if none are loaded."""
    from engine.migrate import upgrade

    settings = _settings()
    loaded = upgrade(make_engine(settings.database_url), settings.court_name)
    click.echo(
        "schema is up to date" + (f"; loaded workflows: {', '.join(loaded)}" if loaded else "")
    )


@main.command()
def demo() -> None:
    """`db upgrade` plus a demo court, users, deputies and items (idempotent)."""
    from engine.demo import load_demo
    from engine.migrate import upgrade

    settings = _settings()
    engine = make_engine(settings.database_url)
    upgrade(engine, settings.court_name)
    logins = load_demo(make_session_factory(engine), settings.court_name)
    click.echo("Demo logins (password for all: demo1234):")
    for username, role, department in logins:
        click.echo(f"  {username:<12} {role:<10} {department or ''}")


@main.group()
def departments() -> None:
    """Departments of the court."""


@departments.command("create")
@click.argument("names", nargs=-1, required=True)
def departments_create(names: tuple[str, ...]) -> None:
    """Add departments (idempotent)."""
    with _session() as session:
        created = accounts.create_departments(session, _court(session), list(names))
        click.echo(", ".join(d.name for d in created))


@main.group()
def users() -> None:
    """Users and API tokens."""


@users.command("create")
@click.argument("name")
@click.option("--role", required=True, type=click.Choice(ROLES))
@click.option("--department", default=None, help="Department name (must exist).")
@click.option("--password", default=None, help="Password for the web login.")
@click.option("--display-name", default=None)
@click.option("--email", default=None, help="Where escalation alerts are mailed.")
def users_create(name, role, department, password, display_name, email) -> None:
    """Create a user."""
    with _session() as session:
        user = accounts.create_user(
            session,
            _court(session),
            name,
            role,
            department=department,
            password=password,
            display_name=display_name,
            email=email,
        )
        click.echo(f"created {user.username} ({user.role})")


@users.command("token")
@click.argument("name")
def users_token(name: str) -> None:
    """Print a new API token for NAME on one line."""
    with _session() as session:
        click.echo(accounts.issue_token(session, name))


@main.command()
def sweep() -> None:
    """Run one escalation sweep now and print what it did."""
    from engine.scheduler import run_sweep

    settings = _settings()
    report = run_sweep(make_session_factory(make_engine(settings.database_url)), settings.smtp_url)
    click.echo(report.summary())


@main.command()
def scheduler() -> None:
    """Run the escalation scheduler as its own process (one sweep a minute)."""
    from engine.scheduler import run_blocking_scheduler

    settings = _settings()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    click.echo("escalation scheduler running; Ctrl-C to stop")
    run_blocking_scheduler(
        make_session_factory(make_engine(settings.database_url)), settings.smtp_url
    )


@main.group()
def calendar() -> None:
    """The working-day calendar (holidays and 调休 working days)."""


@calendar.command("import")
@click.argument("file", type=click.File("rb"))
def calendar_import(file) -> None:
    """Replace whole years from a CSV `date,type,name` (type: holiday/workday or 休/班)."""
    from engine.workcalendar import import_csv

    try:
        with _session() as session:
            summary = import_csv(session, file)
    except click.ClickException as exc:
        click.echo(exc.message, err=True)
        for where, why in (getattr(exc.__cause__, "fields", None) or {}).items():
            click.echo(f"  {where}: {why}", err=True)
        sys.exit(1)
    years = ", ".join(map(str, summary.years))
    click.echo(f"imported {years}: {summary.holidays} holidays, {summary.workdays} working days")


@calendar.command("export")
@click.option("--year", "years", type=int, multiple=True, help="Only these years (repeatable).")
@click.option("--output", "-o", type=click.File("w", encoding="utf-8"), default="-")
def calendar_export(years: tuple[int, ...], output) -> None:
    """Write the known years as CSV (to stdout unless --output)."""
    from engine.workcalendar import export_csv

    with _session() as session:
        export_csv(session, output, years or None)


@main.group()
def deputies() -> None:
    """The deputy registry (代表登记簿)."""


@deputies.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def deputies_import(file: Path) -> None:
    """Create or update deputies from an .xlsx or .csv FILE. All or nothing.

    Header row: 姓名/name, 层级/level, 代表团/delegation, 工作单位/work_unit, 电话/phone,
    地址/address, 邮箱/email, 届次/term. A row with the name and delegation of a deputy
    already in the registry updates that deputy. Bad rows are listed and exit code is 1.
    """
    from engine.services.deputies import MAX_IMPORT_BYTES, apply, read_file

    def fail(exc: DomainError) -> None:
        click.echo(exc.message, err=True)
        for where, why in (exc.fields or {}).items():
            click.echo(f"  {where}: {why}", err=True)
        sys.exit(1)

    if file.stat().st_size > MAX_IMPORT_BYTES:
        click.echo(f"{file}: larger than {MAX_IMPORT_BYTES // (1024 * 1024)} MiB", err=True)
        sys.exit(1)
    try:
        plan = read_file(file.name, file.read_bytes())
    except DomainError as exc:
        fail(exc)
    try:
        with (
            _session() as session,
            click.progressbar(length=len(plan.rows), label="importing deputies") as bar,
        ):
            summary = apply(session, _court(session).id, plan, on_row=lambda: bar.update(1))
    except click.ClickException as exc:
        fail(exc.__cause__ if isinstance(exc.__cause__, DomainError) else DomainError(exc.message))
    click.echo(
        f"{summary.total} deputies: {summary.created} created, {summary.updated} updated, "
        f"{summary.unchanged} unchanged"
    )


@main.group()
def workflows() -> None:
    """BPMN workflows."""


@workflows.command("validate")
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False, path_type=Path))
def workflows_validate(files: tuple[Path, ...]) -> None:
    """Exit 0 when every file is deployable; else print each problem and exit 1."""
    from engine.workflow.lint import lint_bpmn

    forms = process_models.shipped_forms()
    # Shared subprocesses: the shipped ones, overridden by any given on the command line.
    library = process_models.shipped_library()
    for path in files:
        if path.exists() and path.stem.startswith("common_"):
            library[path.stem] = path.read_text(encoding="utf-8", errors="replace")
    failed = False
    for path in files:
        if not path.exists():
            click.echo(f"{path}: file not found")
            failed = True
            continue
        problems = lint_bpmn(path.read_bytes(), forms, path.name, library)
        if problems:
            failed = True
            click.echo(f"{path}: {len(problems)} problem(s)")
            for problem in problems:
                click.echo(f"  {problem}")
        else:
            click.echo(f"{path}: deployable")
    sys.exit(1 if failed else 0)


@workflows.command("deploy")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--note", default=None)
def workflows_deploy(file: Path, note: str | None) -> None:
    """Deploy FILE as a new version (forms from workflows/forms)."""
    with _session() as session:
        model = process_models.deploy(
            session,
            _court(session),
            file.read_text(encoding="utf-8"),
            process_models.shipped_forms(),
            note=note or f"deployed {file.name}",
        )
        click.echo(f"deployed {model.key} version {model.version}")


@workflows.command("export")
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
def workflows_export(directory: Path) -> None:
    """Write the deployed version of every workflow to DIRECTORY."""
    with _session() as session:
        for path in process_models.export(session, _court(session).id, directory):
            click.echo(str(path))


if __name__ == "__main__":
    main()
