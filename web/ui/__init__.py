"""Server-rendered pages: login, inbox, register, task forms, item pages."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime, time

from flask import Blueprint, Response, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required, login_user, logout_user
from sqlalchemy.orm import Session

from engine import clock
from engine.errors import DomainError, Forbidden, InvalidData, NotFound
from engine.forms import coerce_form_input
from engine.models import ITEM_KINDS, User
from engine.roles import ROLE_LABELS
from engine.services import accounts, extensions, items, process_models, tasks
from web.auth import signed_in
from web.db import actor, work
from web.ui.forms import LoginForm, RegisterItemForm
from web.ui.labels import ACTION_LABELS, CASE_STAGE_LABELS, CONTACT_LABELS, KIND_LABELS

ui = Blueprint("ui", __name__, template_folder="../templates/ui")
INBOX_TABS = ("mine", "candidate", "all", "done")
MAX_PAGE = 100_000


def page_arg() -> int:
    """?page= clamped to a sane range (a huge value would overflow the database OFFSET)."""
    return min(max(request.args.get("page", 1, type=int) or 1, 1), MAX_PAGE)


@ui.app_context_processor
def _labels() -> dict:
    return {
        "role_labels": ROLE_LABELS,
        "tz": clock.business_timezone(),
        "now": clock.now,
        "action_labels": ACTION_LABELS,
        "kind_labels": KIND_LABELS,
        "case_stage_labels": CASE_STAGE_LABELS,
        "contact_labels": CONTACT_LABELS,
    }


@ui.app_errorhandler(NotFound)
@ui.app_errorhandler(Forbidden)
def _refused(exc: NotFound | Forbidden):
    return render_template("error.html", message=exc.message, status=exc.status), exc.status


@ui.route("/login", methods=["GET", "POST"])
def login():
    form = LoginForm()
    if form.validate_on_submit():
        with work() as session:
            user = accounts.authenticate(session, form.username.data, form.password.data)
            if user is not None:
                login_user(signed_in(user))
                return redirect(url_for("ui.inbox"))
        flash(_("用户名或密码错误"), "danger")
    return render_template("login.html", form=form), 200 if request.method == "GET" else 401


@ui.post("/logout")
@login_required
def logout():
    logout_user()
    return redirect(url_for("ui.login"))


@ui.get("/")
@login_required
def home():
    return redirect(url_for("ui.inbox"))


@ui.get("/inbox")
@login_required
def inbox():
    tab = request.args.get("tab", "mine")
    if tab not in INBOX_TABS:
        tab = "mine"
    page = page_arg()
    with work() as session:
        user = actor(session)
        if tab == "done":
            rows, total = tasks.done(session, user), None
        else:
            sort = "due" if request.args.get("sort") == "due" else "created"
            rows, total = tasks.inbox(session, user, tasks.TaskQuery(tab, page, 50, sort))
        counts = {
            scope: tasks.inbox(session, user, tasks.TaskQuery(scope, 1, 1))[1]
            for scope in ("mine", "candidate")
        }
        claimable = {t.id for t in rows if t.assignee_id is None and tasks.can_claim(user, t)}
        return render_template(
            "inbox.html",
            tab=tab,
            rows=rows,
            total=total,
            counts=counts,
            page=page,
            claimable=claimable,
            pending_extensions=extensions.pending(session, user),
        )


@ui.route("/items/new", methods=["GET", "POST"])
@login_required
def register_item():
    form = RegisterItemForm()
    if request.method == "GET":
        form.received_at.data = clock.local_now().date()
    if form.validate_on_submit():
        received = datetime.combine(form.received_at.data, time(9, 0), clock.business_timezone())
        new = items.NewItem(
            kind=form.kind.data,
            title=form.title.data,
            content=form.content.data,
            deputies=[d.strip() for d in re.split(r"[,，、;；]", form.deputies.data) if d.strip()],
            received_at=min(received, clock.now()),
        )
        try:
            with work() as session:
                item = items.register(session, actor(session), new)
                first = items.detail(session, actor(session), item.id).open_tasks
                flash(_("已登记 %(number)s", number=item.number), "success")
                target = (
                    url_for("ui.task_page", task_id=first[0].id)
                    if first
                    else url_for("ui.item_page", item_id=item.id)
                )
            return redirect(target)
        except InvalidData as exc:
            for name, message in (exc.fields or {}).items():
                getattr(form, name, form.title).errors.append(message)
        except DomainError as exc:
            flash(exc.message, "danger")
    return render_template("item_new.html", form=form), 422 if form.errors else 200


@ui.get("/items")
@login_required
def item_list():
    kind = request.args.get("kind") or None
    due = request.args.get("due")
    query = items.ItemQuery(
        kind=kind if kind in ITEM_KINDS else None,
        status=request.args.get("status") or None,
        q=request.args.get("q") or None,
        overdue=True if due == "overdue" else None,
        due_soon=True if due == "soon" else None,
        sort="due" if request.args.get("sort") == "due" else "newest",
        page=page_arg(),
        per_page=50,
    )
    with work() as session:
        rows, total = items.search(session, actor(session), query)
        return render_template("items.html", rows=rows, total=total, query=query)


@ui.get("/items/<int:item_id>")
@login_required
def item_page(item_id: int):
    with work() as session:
        return render_item_page(session, actor(session), item_id)


def render_item_page(session, user, item_id: int, **context) -> str:
    """The item page: summary, panels, its diagram and the shared ones it calls, the trail."""
    detail = items.detail(session, user, item_id)
    shared = process_models.linked_keys(session, detail.process)
    return render_template("item.html", detail=detail, item=detail.item, shared=shared, **context)


def submit_item_form(
    item_id: int,
    form: str,
    anchor: str,
    action: Callable[[Session, User], tuple[str, str]],
    *,
    keyed_by: int | None = None,
):
    """Run one of the item page's forms: `action` does the work in one unit of work and
    returns the flash message and its category. Invalid input re-renders the page (422)
    with `{form}_errors` and `{form}_values` for the form (under `keyed_by` when the page
    has one such form per row); any other refusal is flashed. Back at the card's `anchor`."""
    try:
        with work() as session:
            message, category = action(session, actor(session))
        flash(message, category)
    except (NotFound, Forbidden):
        raise
    except InvalidData as exc:
        flash(_("请修改标出的字段"), "danger")
        errors, values = exc.fields or {}, request.form.to_dict()
        if keyed_by is not None:
            errors, values = {keyed_by: errors}, {keyed_by: values}
        context = {f"{form}_errors": errors, f"{form}_values": values}
        with work() as session:
            return render_item_page(session, actor(session), item_id, **context), 422
    except DomainError as exc:
        flash(exc.message, "danger")
    return redirect(url_for("ui.item_page", item_id=item_id, _anchor=anchor), 303)


@ui.post("/items/<int:item_id>/corrections")
@login_required
def add_correction(item_id: int):
    def correct(session: Session, user: User) -> tuple[str, str]:
        items.add_correction(session, user, item_id, request.form.get("comment"))
        return _("已添加更正说明"), "success"

    return submit_item_form(item_id, "correction", "correction-form", correct)


@ui.get("/items/<int:item_id>/diagram.bpmn")
@login_required
def item_diagram(item_id: int):
    """The item's diagram, or with ?process= one of the shared subprocesses it calls."""
    with work() as session:
        diagrams = items.diagrams(session, actor(session), item_id)
    key = request.args.get("process") or next(iter(diagrams))
    if key not in diagrams:
        raise NotFound(f"流程图不存在 / no diagram {key!r} for this item")
    return Response(diagrams[key], mimetype="application/xml")


@ui.route("/tasks/<int:task_id>", methods=["GET", "POST"])
@login_required
def task_page(task_id: int):
    errors: dict[str, str] = {}
    values: dict = {}
    if request.method == "POST":
        try:
            with work() as session:
                task = tasks.get(session, actor(session), task_id)
                values = coerce_form_input(tasks.form_schema(session, task), request.form)
                item = tasks.complete(session, actor(session), task_id, values)
                flash(_("已完成：%(title)s", title=task.title), "success")
                if item.status == "filed":
                    return redirect(url_for("ui.item_page", item_id=item.id))
                return redirect(url_for("ui.inbox"))
        except InvalidData as exc:
            errors = exc.fields or {}
            flash(_("请修改标出的字段"), "danger")
        except NotFound:
            raise
        except DomainError as exc:
            flash(exc.message, "danger")
    with work() as session:
        user = actor(session)
        task = tasks.get(session, user, task_id)
        if task.status != "open":
            return redirect(url_for("ui.item_page", item_id=task.item_id))
        return render_task_page(session, user, task, errors=errors, values=values), (
            422 if errors else 200
        )


def render_task_page(session, user, task, **context) -> str:
    """The task form beside the item's summary and earlier opinions."""
    detail = items.detail(session, user, task.item_id)
    context.setdefault("errors", {})
    context.setdefault("values", {})
    return render_template(
        "task.html",
        task=task,
        schema=tasks.form_schema(session, task),
        detail=detail,
        item=detail.item,
        user=user,
        **context,
    )


@ui.post("/tasks/<int:task_id>/<any(claim, release):action>")
@login_required
def task_action(task_id: int, action: str):
    with work() as session:
        operation = tasks.claim if action == "claim" else tasks.release
        try:
            operation(session, actor(session), task_id)
        except NotFound:
            raise
        except DomainError as exc:
            flash(exc.message, "danger")
    if action == "release":
        return redirect(url_for("ui.inbox", tab="candidate"))
    return redirect(url_for("ui.task_page", task_id=task_id))


@ui.get("/lang/<code>")
def set_language(code: str):
    return redirect(
        url_for("ui.inbox", lang=code)
        if current_user.is_authenticated
        else url_for("ui.login", lang=code)
    )


# Route modules register on the blueprint above.
from web.ui import admin, designer, escalation  # noqa: E402, F401
from web.ui import attachments as _attachments  # noqa: E402, F401 - files and reply letters
from web.ui import deputies as _deputies  # noqa: E402, F401 - registry pages
from web.ui import feedback as _feedback  # noqa: E402, F401 - deputy feedback and ratings
from web.ui import office_rules as _office_rules  # noqa: E402, F401 - meetings, extensions
from web.ui import stats as _stats  # noqa: E402, F401 - statistics page
