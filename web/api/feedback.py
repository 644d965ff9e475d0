"""REST API v1 for deputy feedback (代表评价).

Staff: `GET /items/{id}/feedback` (links and ratings) and `POST /items/{id}/ratings` (a
rating received on paper). Public, without credentials: `GET/POST /feedback/{token}`, the
JSON twin of the deputy's page — the signed token is the credential.
"""

from __future__ import annotations

from typing import Any

from flask import current_app, jsonify

from engine.models import Rating, User
from engine.services import feedback, items
from web.api import ID, PUBLIC_ENDPOINTS, api, json_body
from web.api.serializers import iso
from web.db import actor, work

PUBLIC_ENDPOINTS.update({"api.feedback_public_page", "api.feedback_public_rate"})


def _settings():
    return current_app.extensions["liaison"]["settings"]


def rating_json(rating: Rating, recorded_by: User | None = None) -> dict[str, Any]:
    return {
        "id": rating.id,
        "item_id": rating.item_id,
        "deputy_id": rating.deputy_id,
        "deputy": rating.deputy.name,
        "round": rating.round,
        "rating": rating.rating,
        "comment": rating.comment,
        "source": rating.source,
        "recorded_by": recorded_by.username if recorded_by else None,
        "created_at": iso(rating.created_at),
    }


def _ratings_json(session, rating_rounds: list[feedback.RoundRatings]) -> list[dict[str, Any]]:
    users: dict[int, User | None] = {}

    def recorder(row: Rating) -> User | None:
        if row.recorded_by_id is None:
            return None
        if row.recorded_by_id not in users:
            users[row.recorded_by_id] = session.get(User, row.recorded_by_id)
        return users[row.recorded_by_id]

    return [
        {"round": group.round, "ratings": [rating_json(r, recorder(r)) for r in group.ratings]}
        for group in rating_rounds
    ]


@api.get(f"/items/<{ID}:item_id>/feedback")
def item_feedback(item_id: int):
    with work() as session:
        user = actor(session)
        item = items.get(session, user, item_id)
        links = None
        if feedback.may_share_links(user):
            settings = _settings()
            links = [
                {
                    "deputy_id": link.deputy_id,
                    "deputy": link.deputy_name,
                    "email": link.email,
                    "round": link.round,
                    "url": link.url,
                    "expires_at": iso(link.expires_at),
                    "rated": link.rating.rating if link.rating else None,
                }
                for link in feedback.links(session, item, settings.secret_key, settings.base_url)
            ]
        return jsonify(
            {
                "item_id": item.id,
                "round": item.round,
                "answered": item.replied_at is not None,
                "links": links,
                "rounds": _ratings_json(session, feedback.for_item(session, item)),
            }
        )


@api.post(f"/items/<{ID}:item_id>/ratings")
def record_paper_rating(item_id: int):
    body = json_body()
    with work() as session:
        user = actor(session)
        rating = feedback.record_paper(
            session,
            user,
            item_id,
            body.get("deputy_id"),
            body.get("rating"),
            body.get("comment"),
            body.get("round"),
        )
        item = items.get(session, user, item_id)
        result = {**rating_json(rating, user), "item_status": item.status, "item_round": item.round}
    return jsonify(result), 201


def _page_json(view: feedback.FeedbackPage) -> dict[str, Any]:
    return {
        "number": view.number,
        "title": view.title,
        "kind": view.kind,
        "kind_label": view.kind_label,
        "status": view.status,
        "stage": view.stage,
        "round": view.round,
        "current_round": view.current_round,
        "deputy": view.deputy_name,
        "reply": view.reply,
        "reply_class": view.reply_class,
        "reply_class_label": view.reply_class_label,
        "replied_at": iso(view.replied_at),
        "rated": view.rated,
        "rating": view.rating,
        "comment": view.comment,
        "rated_at": iso(view.rated_at),
        "can_rate": view.can_rate,
        "expires_at": iso(view.expires_at),
    }


@api.get("/feedback/<token>")
def feedback_public_page(token: str):
    with work() as session:
        return jsonify(_page_json(feedback.page(session, token, _settings().secret_key)))


@api.post("/feedback/<token>")
def feedback_public_rate(token: str):
    body = json_body()
    secret = _settings().secret_key
    with work() as session:
        feedback.rate(session, token, secret, body.get("rating"), body.get("comment"))
    with work() as session:
        return jsonify(_page_json(feedback.page(session, token, secret))), 201
