"""Administrators' per-kind deadline rules (the defaults live in engine.deadlines)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session

from engine.deadlines import DEFAULT_DUE_SOON, DEFAULT_KIND_LIMITS, DEFAULT_SUPERVISE_AFTER
from engine.errors import Forbidden, InvalidData
from engine.models import ITEM_KINDS, KindSetting, User
from engine.services.rehandling import DEFAULT_REHANDLE_MONTHS

MAX_REHANDLE_MONTHS = 6  # 不满意重新办理: local rules allow 15 days to 2 months; keep it short


@dataclass(frozen=True)
class KindRule:
    kind: str
    limit_months: int | None
    limit_working_days: int | None
    due_soon_working_days: int
    supervise_after_working_days: int
    rehandle_months: int | None = DEFAULT_REHANDLE_MONTHS  # None: the default


def rules(session: Session, court_id: int) -> list[KindRule]:
    result = []
    for kind in ITEM_KINDS:
        setting = session.get(KindSetting, (court_id, kind))
        if setting is None:
            months, days = DEFAULT_KIND_LIMITS[kind]
            result.append(KindRule(kind, months, days, DEFAULT_DUE_SOON, DEFAULT_SUPERVISE_AFTER))
        else:
            result.append(
                KindRule(
                    kind,
                    setting.limit_months,
                    setting.limit_working_days,
                    setting.due_soon_working_days,
                    setting.supervise_after_working_days,
                    setting.rehandle_months or DEFAULT_REHANDLE_MONTHS,
                )
            )
    return result


def save_rule(session: Session, actor: User, rule: KindRule) -> None:
    """Applies to items assigned from now on; running deadlines are not rewritten."""
    if actor.role != "admin":
        raise Forbidden("only administrators change deadline rules")
    fields = {}
    if rule.kind not in ITEM_KINDS:
        fields["kind"] = "unknown kind"
    if (rule.limit_months is None) == (rule.limit_working_days is None):
        fields["limit"] = "give either months or working days / 月数与工作日二选一"
    for name in ("limit_months", "limit_working_days"):
        value = getattr(rule, name)
        if value is not None and not 1 <= value <= 24 * (1 if name == "limit_months" else 22):
            fields[name] = "out of range"
    for name in ("due_soon_working_days", "supervise_after_working_days"):
        if not 0 <= getattr(rule, name) <= 60:
            fields[name] = "0–60"
    if rule.rehandle_months is not None and not 1 <= rule.rehandle_months <= MAX_REHANDLE_MONTHS:
        fields["rehandle_months"] = f"1–{MAX_REHANDLE_MONTHS}"
    if fields:
        raise InvalidData("deadline rule is invalid: " + ", ".join(sorted(fields)), fields)
    setting = session.get(KindSetting, (actor.court_id, rule.kind)) or KindSetting(
        court_id=actor.court_id, kind=rule.kind
    )
    setting.limit_months = rule.limit_months
    setting.limit_working_days = rule.limit_working_days
    setting.due_soon_working_days = rule.due_soon_working_days
    setting.supervise_after_working_days = rule.supervise_after_working_days
    setting.rehandle_months = rule.rehandle_months
    session.add(setting)
