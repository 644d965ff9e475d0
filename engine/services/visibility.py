"""Who may see what, expressed as SQL conditions applied inside every query.

Items and tasks a user may not see are filtered out by the query itself, so a
forbidden record is indistinguishable from a missing one (404).
"""

from __future__ import annotations

from sqlalchemy import ColumnElement, and_, false, or_, select, true, union_all

from engine.models import Item, ItemCoDepartment, Task, User
from engine.roles import COURT_WIDE_ROLES, DEPARTMENT_SCOPED_ROLES


def visible_items(user: User) -> ColumnElement[bool]:
    if user.role in COURT_WIDE_ROLES:
        return Item.court_id == user.court_id
    if user.role in DEPARTMENT_SCOPED_ROLES and user.department_id is not None:
        return and_(Item.court_id == user.court_id, _department_items(user))
    return false()


def _department_items(user: User) -> ColumnElement[bool]:
    """Items the user's department leads, or co-handles (协办)."""
    co_handled = select(ItemCoDepartment.item_id).where(
        ItemCoDepartment.department_id == user.department_id
    )
    return or_(Item.department_id == user.department_id, Item.id.in_(co_handled))


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


def visible_tasks(user: User, *, open_items_only: bool = False) -> ColumnElement[bool]:
    """Tasks on items the user may see.

    That covers every task offered or assigned to them too: department-scoped tasks are
    opened for the item's handling department. Each role gets one indexable condition
    rather than an OR, so the `all` inbox stays an index range scan. `open_items_only`
    narrows a department's items to open ones for the open-task inbox.
    """
    if user.role in COURT_WIDE_ROLES:
        return Task.court_id == user.court_id
    if user.role in DEPARTMENT_SCOPED_ROLES and user.department_id is not None:
        led = select(Item.id).where(
            Item.court_id == user.court_id, Item.department_id == user.department_id
        )
        if open_items_only:  # open tasks live on open items: skip the department's archive
            led = led.where(Item.status == "open")
        co_handled = select(ItemCoDepartment.item_id).where(
            ItemCoDepartment.department_id == user.department_id
        )
        # A UNION rather than an OR keeps both halves on their indexes.
        return Task.item_id.in_(union_all(led, co_handled))
    return false()
