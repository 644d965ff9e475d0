"""Workflow designers: versions, validation, diff, dry run and migration of running items.

Each public function is one unit of work in the caller's session and checks that the
caller is a designer or an administrator (others: Forbidden); records of another court
are NotFound. The web layer only parses requests and renders what these return.
"""

from __future__ import annotations

from engine.errors import Forbidden
from engine.models import User

DESIGNER_ROLES = frozenset({"designer", "admin"})


def require_designer(actor: User) -> User:
    if actor.role not in DESIGNER_ROLES:
        raise Forbidden(
            "流程设计仅限流程设计员和管理员 / workflow designers and administrators only"
        )
    return actor
