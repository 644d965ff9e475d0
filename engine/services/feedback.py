"""Deputy feedback on an answer (满意 / 基本满意 / 不满意)."""

from __future__ import annotations

from sqlalchemy.orm import Session

from engine.models import Item, User


def on_replied(session: Session, item: Item, actor: User) -> None:
    """Called when the item's answer is given (replaced by the feedback-link work)."""
