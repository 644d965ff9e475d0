"""Roles, their labels, and which lanes name them."""

from __future__ import annotations

ROLE_LABELS: dict[str, tuple[str, str]] = {
    "registrar": ("联络员", "Registrar"),
    "drafter": ("承办人", "Drafter"),
    "dept_head": ("部门负责人", "Department head"),
    "leader": ("分管院长", "Leader in charge"),
    "president": ("院长", "President"),
    "designer": ("流程设计员", "Workflow designer"),
    "admin": ("管理员", "Administrator"),
}

# Roles whose tasks belong to one handling department rather than to the whole court.
DEPARTMENT_SCOPED_ROLES = frozenset({"drafter", "dept_head"})
# Roles that see every item of their court.
COURT_WIDE_ROLES = frozenset({"registrar", "leader", "president", "admin"})


def role_for_lane(lane_name: str | None) -> str | None:
    """A lane names its role either by key (`drafter`) or by Chinese label (`承办人`)."""
    if not lane_name:
        return None
    name = lane_name.strip()
    if name in ROLE_LABELS:
        return name
    for key, (zh, en) in ROLE_LABELS.items():
        if name in (zh, en):
            return key
    return None
