"""Who may see what, expressed as SQL conditions applied inside every query.

Items and tasks a user may not see are filtered out by the query itself, so a
forbidden record is indistinguishable from a missing one (404).
"""

from __future__ import annotations

from sqlalchemy import ColumnElement, and_, false, or_, true

from engine.models import Item, Task, User
from engine.roles import COURT_WIDE_ROLES, DEPARTMENT_SCOPED_ROLES


def visible_items(user: User) -> ColumnElement[bool]:
    if user.role in COURT_WIDE_ROLES:
        return Item.court_id == user.court_id
    if user.role in DEPARTMENT_SCOPED_ROLES and user.department_id is not None:
        return and_(Item.court_id == user.court_id, Item.department_id == user.department_id)
    return false()


def candidate_tasks(user: User) -> ColumnElement[bool]:
    """Open tasks the user could claim: their role, and their department if it is scoped."""
    department_ok = (
        Task.department_id == user.department_id if user.role in DEPARTMENT_SCOPED_ROLES else true()
    )
    return and_(
        Task.court_id == user.court_id,
        Task.status == "open",
        Task.role == user.role,
        department_ok,
    )


def visible_tasks(user: User) -> ColumnElement[bool]:
    """Tasks on items the user may see, plus any task offered or assigned to them."""
    return or_(
        Task.item.has(visible_items(user)),
        candidate_tasks(user),
        Task.assignee_id == user.id,
    )
