"""Flask-WTF forms for the fixed pages (task forms are generated from JSON Schema)."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    DateField,
    PasswordField,
    SelectField,
    StringField,
    TextAreaField,
)
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length, ValidationError

from engine import clock
from engine.services.items import KINDS_WITHOUT_DEPUTIES
from web.ui.labels import KIND_LABELS


class LoginForm(FlaskForm):
    username = StringField(_l("用户名"), validators=[DataRequired(), Length(max=80)])
    password = PasswordField(_l("密码"), validators=[DataRequired(), Length(max=200)])


class RegisterItemForm(FlaskForm):
    kind = SelectField(
        _l("类别"), choices=[SelectChoice(kind, label) for kind, label in KIND_LABELS.items()]
    )
    title = StringField(_l("标题"), validators=[DataRequired(), Length(max=300)])
    content = TextAreaField(_l("内容"), validators=[DataRequired(), Length(max=50_000)])
    deputies = StringField(
        _l("代表"),
        validators=[Length(max=1000)],  # required per kind: validate_deputies
        description=_l("多位代表以逗号分隔；转办信访件和督办函可不填"),
    )
    received_at = DateField(_l("收件日期"), validators=[DataRequired()])

    def validate_deputies(self, field: StringField) -> None:
        if not (field.data or "").strip() and self.kind.data not in KINDS_WITHOUT_DEPUTIES:
            raise ValidationError(_l("请填写代表（转办信访件和督办函可不填）"))

    def validate_received_at(self, field: DateField) -> None:
        if field.data and field.data > clock.local_now().date():
            raise ValidationError(_l("收件日期不能晚于今天"))


class AlertPreferencesForm(FlaskForm):
    email = StringField(_l("邮箱"), validators=[Length(max=200)])
    daily_digest = BooleanField(_l("每天汇总一封提醒邮件（而非逐条发送）"))
