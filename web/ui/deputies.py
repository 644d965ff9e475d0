"""The deputy registry pages: list and search, a deputy's page, editing, pairing, import."""

from __future__ import annotations

from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import login_required
from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from wtforms import BooleanField, SelectField, SelectMultipleField, StringField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length, Optional, Regexp

from engine.errors import DomainError, Forbidden, InvalidData
from engine.services import deputies
from web.db import actor, work
from web.ui import page_arg, ui
from web.uploads import upload_limit

PER_PAGE = 50


class DeputyForm(FlaskForm):
    name = StringField(_l("姓名"), validators=[DataRequired(), Length(max=100)])
    level = SelectField(
        _l("层级"),
        choices=[SelectChoice("", "—")] + [SelectChoice(level, level) for level in deputies.LEVELS],
        validators=[Optional()],
    )
    delegation = StringField(_l("代表团"), validators=[Length(max=200)])
    work_unit = StringField(_l("工作单位"), validators=[Length(max=200)])
    phone = StringField(_l("电话"), validators=[Length(max=50)])
    address = StringField(_l("地址"), validators=[Length(max=300)])
    email = StringField(
        _l("邮箱"),
        validators=[
            Optional(),
            Length(max=200),
            Regexp(r"^[^@\s]+@[^@\s]+\.[^@\s.]+$", message=_l("邮箱格式不正确")),
        ],
    )
    term = StringField(_l("届次"), validators=[Length(max=50)], description=_l("如 第十四届"))
    active = BooleanField(_l("在任"), default=True)


class PairingForm(FlaskForm):
    users = SelectMultipleField(_l("结对人员"), coerce=int, validate_choice=True)


class ImportForm(FlaskForm):
    file = FileField(_l("文件"), validators=[FileRequired(_l("请选择文件"))])


def _require_editor(session) -> None:
    if not deputies.can_edit(actor(session)):
        raise Forbidden(_("只有联络员和管理员可以修改代表登记簿"))


@ui.get("/deputies")
@login_required
def deputy_list():
    q = (request.args.get("q") or "").strip()[:100] or None
    paired = request.args.get("paired") == "me"
    include_inactive = request.args.get("inactive") == "1"
    page = page_arg()
    with work() as session:
        user = actor(session)
        query = deputies.DeputyQuery(
            q=q,
            paired_user_id=user.id if paired else None,
            include_inactive=include_inactive,
            page=page,
            per_page=PER_PAGE,
        )
        rows, total = deputies.search(session, user, query)
        return render_template(
            "deputies.html",
            rows=rows,
            total=total,
            query=query,
            paired=paired,
            can_edit=deputies.can_edit(user),
        )


@ui.get("/deputies/<int:deputy_id>")
@login_required
def deputy_page(deputy_id: int):
    with work() as session:
        user = actor(session)
        detail = deputies.detail(session, user, deputy_id)
        pairing_form = None
        if deputies.can_edit(user):
            pairing_form = _pairing_form(session, user)
            pairing_form.users.data = [u.id for u in detail.paired]
        return render_template(
            "deputies_detail.html",
            detail=detail,
            deputy=detail.deputy,
            can_edit=deputies.can_edit(user),
            pairing_form=pairing_form,
        )


def _pairing_form(session, user) -> PairingForm:
    form = PairingForm()
    form.users.choices = [
        SelectChoice(u.id, f"{u.display_name}（{u.department.name if u.department else '—'}）")
        for u in deputies.pairable_users(session, user)
    ]
    return form


@ui.post("/deputies/<int:deputy_id>/pairings")
@login_required
def deputy_pairings(deputy_id: int):
    with work() as session:
        user = actor(session)
        _require_editor(session)
        deputies.get(session, user, deputy_id)  # 404 before anything else
        form = _pairing_form(session, user)
        if form.validate_on_submit():
            try:
                deputies.set_pairings(session, user, deputy_id, form.users.data or [])
                flash(_("已保存结对人员"), "success")
                return redirect(url_for("ui.deputy_page", deputy_id=deputy_id))
            except InvalidData as exc:
                form.users.errors = [*form.users.errors, *(exc.fields or {}).values()]
    with work() as session:
        user = actor(session)
        detail = deputies.detail(session, user, deputy_id)
        return render_template(
            "deputies_detail.html",
            detail=detail,
            deputy=detail.deputy,
            can_edit=True,
            pairing_form=form,
        ), 422


@ui.route("/deputies/new", methods=["GET", "POST"])
@login_required
def deputy_new():
    return _edit(None)


@ui.route("/deputies/<int:deputy_id>/edit", methods=["GET", "POST"])
@login_required
def deputy_edit(deputy_id: int):
    return _edit(deputy_id)


def _edit(deputy_id: int | None):
    with work() as session:
        _require_editor(session)
        deputy = None if deputy_id is None else deputies.get(session, actor(session), deputy_id)
    form = DeputyForm(obj=deputy) if request.method == "GET" else DeputyForm()
    if form.validate_on_submit():
        fields = deputies.DeputyFields(
            **{name: getattr(form, name).data for name in deputies.FIELDS},
            active=bool(form.active.data),
        )
        try:
            with work() as session:
                saved = deputies.save(session, actor(session), deputy_id, fields)
                flash(_("已保存 %(name)s", name=saved.name), "success")
                target = url_for("ui.deputy_page", deputy_id=saved.id)
            return redirect(target)
        except InvalidData as exc:
            for name, message in (exc.fields or {}).items():
                getattr(form, name, form.name).errors.append(message)
        except DomainError as exc:
            flash(exc.message, "danger")
    status = 422 if request.method == "POST" else 200
    return render_template("deputies_form.html", form=form, deputy=deputy), status


@ui.route("/deputies/import", methods=["GET", "POST"])
@upload_limit(deputies.MAX_IMPORT_BYTES)
@login_required
def deputies_import():
    with work() as session:
        _require_editor(session)
    form = ImportForm()
    errors: dict[str, str] | None = None
    message = None
    if form.validate_on_submit():
        upload = form.file.data
        data = upload.read(deputies.MAX_IMPORT_BYTES + 1)
        try:
            with work() as session:
                summary = deputies.import_file(session, actor(session), upload.filename, data)
            flash(
                _(
                    "已导入 %(total)s 位代表：新增 %(created)s，更新 %(updated)s，未变 %(same)s",
                    total=summary.total,
                    created=summary.created,
                    updated=summary.updated,
                    same=summary.unchanged,
                ),
                "success",
            )
            return redirect(url_for("ui.deputy_list"))
        except DomainError as exc:
            message, errors = exc.message, exc.fields or {}
    status = 422 if request.method == "POST" else 200
    return render_template(
        "deputies_import.html",
        form=form,
        errors=errors,
        message=message,
        max_rows=deputies.MAX_IMPORT_ROWS,
        max_mib=deputies.MAX_IMPORT_BYTES // (1024 * 1024),
    ), status
