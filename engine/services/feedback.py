"""Deputy feedback on an answer (代表评价: 满意 / 基本满意 / 不满意).

When an item is answered (`on_replied`, called by the reply step's rules in the same
transaction), each of its deputies gets a signed, expiring link: no login, just a token
naming (item, deputy, round). The link opens a page with the item's status and the
answer, where the deputy rates it once per round. Registrars can also record a rating
received on paper. 不满意 on the current round's answer reopens the item for re-handling
(`rehandling.rehandle`, a shorter limit); a rating of an earlier round is recorded but
does not reopen it again. A jointly signed item is answered once and rated by each
deputy separately (one rating per deputy and round, enforced by a unique key).

Tokens are itsdangerous signatures over `[item_id, deputy_id, round]`, timestamped with
the application clock (`engine.clock`, so `LIAISON_NOW` and tests' time travel apply) and
valid for `LINK_VALID_DAYS`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from itsdangerous import BadSignature, SignatureExpired, TimestampSigner, URLSafeTimedSerializer
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from engine import clock, mailer
from engine.config import Settings
from engine.errors import Conflict, DomainError, Forbidden, InvalidData, NotFound
from engine.models import AuditEvent, Court, Deputy, Item, OutboxMail, Rating, User
from engine.roles import COURT_WIDE_ROLES
from engine.services import audit, items, rehandling

LINK_VALID_DAYS = 60
TOKEN_SALT = "liaison-desk.deputy-feedback"
MAX_TOKEN_LENGTH = 300
MAX_COMMENT = 2000
MIN_UNSATISFIED_COMMENT = 2

RATINGS = ("satisfied", "basically_satisfied", "unsatisfied")
RATING_LABELS = {
    "satisfied": "满意",
    "basically_satisfied": "基本满意",
    "unsatisfied": "不满意",
}
SOURCES = ("link", "paper")
KIND_LABELS = {
    "suggestion": "代表建议",
    "letter": "代表来信",
    "concern_case": "代表关注案件",
    "petition": "转办信访件",
    "supervision": "督办函",
}
CLASS_LABELS = {
    "A": "A 已解决或基本解决",
    "B": "B 正在解决或列入计划解决",
    "C": "C 因条件限制需以后解决",
    "D": "D 留作参考",
}
# Who sees and copies the deputies' links, and who records ratings received on paper.
LINK_ROLES = COURT_WIDE_ROLES
PAPER_ROLES = frozenset({"registrar", "admin"})


class LinkInvalid(NotFound):
    """A token that was altered, is not ours, or names nothing this court still has."""


class LinkExpired(DomainError):
    code, status = "link_expired", 410


# --- tokens ---------------------------------------------------------------------------------


class _ClockSigner(TimestampSigner):
    """Timestamps (and ages) from the application clock, not the host's."""

    def get_timestamp(self) -> int:
        return int(clock.now().timestamp())


def _serializer(secret: str) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(secret, salt=TOKEN_SALT, signer=_ClockSigner)


def make_token(secret: str, item_id: int, deputy_id: int, round_: int) -> str:
    return _serializer(secret).dumps([item_id, deputy_id, round_])


@dataclass(frozen=True)
class TokenClaims:
    item_id: int
    deputy_id: int
    round: int
    issued_at: datetime

    @property
    def expires_at(self) -> datetime:
        return self.issued_at + timedelta(days=LINK_VALID_DAYS)


def read_token(secret: str, token: Any) -> TokenClaims:
    """The token's claims; LinkInvalid when tampered or malformed, LinkExpired when too old."""
    if not isinstance(token, str) or not token or len(token) > MAX_TOKEN_LENGTH:
        raise LinkInvalid("评价链接无效 / this feedback link is not valid")
    try:
        payload, issued_at = _serializer(secret).loads(
            token, max_age=LINK_VALID_DAYS * 86400, return_timestamp=True
        )
    except SignatureExpired:
        raise LinkExpired(
            f"评价链接已过期（有效期 {LINK_VALID_DAYS} 天），请与法院联络员联系 / this feedback "
            f"link has expired (valid for {LINK_VALID_DAYS} days); please contact the court"
        ) from None
    except (BadSignature, ValueError, TypeError, OverflowError):
        raise LinkInvalid("评价链接无效 / this feedback link is not valid") from None
    if (
        not isinstance(payload, list)
        or len(payload) != 3
        or not all(type(part) is int and 0 < part < 2**31 for part in payload)
    ):
        raise LinkInvalid("评价链接无效 / this feedback link is not valid")
    return TokenClaims(payload[0], payload[1], payload[2], issued_at)


# --- links and mail -------------------------------------------------------------------------


@dataclass(frozen=True)
class FeedbackLink:
    """One deputy's link for the item's current round, and their rating of it if any."""

    deputy_id: int
    deputy_name: str
    email: str | None
    round: int
    token: str
    url: str
    expires_at: datetime
    rating: Rating | None


def feedback_url(base_url: str, token: str) -> str:
    return f"{base_url.rstrip('/')}/feedback/{token}"


def may_share_links(user: User) -> bool:
    return user.role in LINK_ROLES


def links(session: Session, item: Item, secret: str, base_url: str) -> list[FeedbackLink]:
    """A fresh link per deputy of the item for its current round (valid LINK_VALID_DAYS)."""
    rated = {
        r.deputy_id: r
        for r in session.scalars(
            select(Rating).where(Rating.item_id == item.id, Rating.round == item.round)
        )
    }
    expires_at = clock.now() + timedelta(days=LINK_VALID_DAYS)
    result = []
    for deputy in sorted(item.deputies, key=lambda d: d.id):
        token = make_token(secret, item.id, deputy.id, item.round)
        result.append(
            FeedbackLink(
                deputy_id=deputy.id,
                deputy_name=deputy.name,
                email=deputy.email,
                round=item.round,
                token=token,
                url=feedback_url(base_url, token),
                expires_at=expires_at,
                rating=rated.get(deputy.id),
            )
        )
    return result


def on_replied(session: Session, item: Item, actor: User) -> None:
    """The answer is given: record who is asked for feedback and mail each deputy their link.

    Mail goes to the outbox (sent after commit) when `LIAISON_SMTP_URL` is set, like alerts;
    the links are always on the item page for registrars to pass on.
    """
    deputies = sorted(item.deputies, key=lambda d: d.id)
    if not deputies:
        return
    mailed: list[int] = []
    if mailer.mail_enabled() and any(d.email for d in deputies):
        settings = Settings.from_env()
        court = session.get(Court, item.court_id)
        for link in links(session, item, settings.secret_key, settings.base_url):
            if link.email and _queue_mail(session, item, court, link):
                mailed.append(link.deputy_id)
    audit.record(
        session,
        item,
        actor,
        "feedback_requested",
        comment="、".join(d.name for d in deputies),
        data={
            "round": item.round,
            "deputies": [{"id": d.id, "name": d.name, "mailed": d.id in mailed} for d in deputies],
            "valid_days": LINK_VALID_DAYS,
        },
    )


def _queue_mail(session: Session, item: Item, court: Court | None, link: FeedbackLink) -> bool:
    key = f"feedback:{item.id}:{link.round}:{link.deputy_id}"
    if session.scalar(select(OutboxMail.id).where(OutboxMail.key == key)) is not None:
        return False
    until = link.expires_at.astimezone(clock.business_timezone()).date().isoformat()
    body = (
        f"{link.deputy_name} 代表：您好！\n\n"
        f"您的《{item.title}》（{item.number}）已经答复。请打开下面的链接查看答复内容，"
        f"并作出评价（满意 / 基本满意 / 不满意）：\n\n{link.url}\n\n"
        f"链接无需登录，{LINK_VALID_DAYS} 天内有效（至 {until}）。"
        "如有疑问，请与法院联络员联系。\n\n"
        f"{court.name if court else ''}\n\n"
        f"Your item {item.number} has been answered. Please read the answer and rate it at the "
        f"link above (no login needed; valid until {until})."
    )
    mailer.queue(
        session,
        key,
        link.email,
        f"[联络通] 请评价答复 / please rate the answer {item.number}",
        body,
    )
    return True


# --- the public page ------------------------------------------------------------------------


@dataclass(frozen=True)
class Reply:
    round: int
    text: str
    reply_class: str | None
    at: datetime


@dataclass(frozen=True)
class FeedbackPage:
    """What a deputy's link shows: the item, the answer of the link's round, their rating."""

    item_id: int
    number: str
    title: str
    kind: str
    kind_label: str
    status: str  # the item's: open / filed
    stage: str  # handling / answered / rehandling / filed
    current_round: int
    round: int  # the link's round
    deputy_id: int
    deputy_name: str
    reply: str | None
    reply_class: str | None
    reply_class_label: str | None
    replied_at: datetime | None
    rating: str | None  # this deputy's rating of the link's round
    rating_label: str | None
    comment: str | None
    rated_at: datetime | None
    can_rate: bool
    expires_at: datetime

    @property
    def rated(self) -> bool:
        return self.rating is not None


def replies_by_round(session: Session, item: Item) -> dict[int, Reply]:
    """The latest answer of each round, from the audit trail (rounds advance at re-handling)."""
    result: dict[int, Reply] = {}
    current = 1
    events = session.scalars(
        select(AuditEvent)
        .where(AuditEvent.item_id == item.id, AuditEvent.action.in_(("completed", "rehandling")))
        .order_by(AuditEvent.id)
    )
    for event in events:
        data = event.data or {}
        if event.action == "rehandling":
            current = data["round"] if isinstance(data.get("round"), int) else current + 1
        elif isinstance(data.get("reply"), str):
            reply_class = data.get("reply_class")
            result[current] = Reply(
                current,
                data["reply"],
                reply_class if isinstance(reply_class, str) else None,
                event.at,
            )
    return result


def _answered(item: Item, round_: int) -> bool:
    """Whether the answer of `round_` has been given (earlier rounds always were)."""
    if round_ == item.round:
        return item.replied_at is not None
    return 1 <= round_ < item.round


def _stage(item: Item) -> str:
    if item.status == "filed":
        return "filed"
    if item.replied_at is not None:
        return "answered"
    return "rehandling" if item.round > 1 else "handling"


def _from_token(session: Session, claims: TokenClaims) -> tuple[Item, Deputy]:
    item = session.get(Item, claims.item_id)
    deputy = None
    if item is not None and claims.round <= item.round:
        deputy = next((d for d in item.deputies if d.id == claims.deputy_id), None)
    if item is None or deputy is None:
        raise LinkInvalid("评价链接无效 / this feedback link is not valid")
    return item, deputy


def _rating_of(session: Session, item_id: int, deputy_id: int, round_: int) -> Rating | None:
    return session.scalar(
        select(Rating).where(
            Rating.item_id == item_id, Rating.deputy_id == deputy_id, Rating.round == round_
        )
    )


def page(session: Session, token: str, secret: str) -> FeedbackPage:
    """What the deputy's link shows (read-only)."""
    claims = read_token(secret, token)
    item, deputy = _from_token(session, claims)
    replies = replies_by_round(session, item)
    reply = replies.get(claims.round) if _answered(item, claims.round) else None
    rating = _rating_of(session, item.id, deputy.id, claims.round)
    return FeedbackPage(
        item_id=item.id,
        number=item.number,
        title=item.title,
        kind=item.kind,
        kind_label=KIND_LABELS.get(item.kind, item.kind),
        status=item.status,
        stage=_stage(item),
        current_round=item.round,
        round=claims.round,
        deputy_id=deputy.id,
        deputy_name=deputy.name,
        reply=reply.text if reply else None,
        reply_class=reply.reply_class if reply else None,
        reply_class_label=CLASS_LABELS.get(reply.reply_class or "") if reply else None,
        replied_at=reply.at if reply else None,
        rating=rating.rating if rating else None,
        rating_label=RATING_LABELS.get(rating.rating) if rating else None,
        comment=rating.comment if rating else None,
        rated_at=rating.created_at if rating else None,
        can_rate=rating is None and _answered(item, claims.round),
        expires_at=claims.expires_at,
    )


# --- rating ---------------------------------------------------------------------------------


def _clean(rating: Any, comment: Any) -> str | None:
    fields: dict[str, str] = {}
    if rating not in RATINGS:
        fields["rating"] = (
            "请选择满意、基本满意或不满意 / choose satisfied, basically_satisfied or unsatisfied"
        )
    text = ""
    if comment is not None and not isinstance(comment, str):
        fields["comment"] = "意见应为文字 / comment must be text"
    elif comment is not None:
        text = comment.strip()
        if len(text) > MAX_COMMENT:
            fields["comment"] = f"最多 {MAX_COMMENT} 字 / at most {MAX_COMMENT} characters"
    if "comment" not in fields and rating == "unsatisfied" and len(text) < MIN_UNSATISFIED_COMMENT:
        fields["comment"] = (
            "不满意时请写明意见（至少 2 个字）/ say what is unsatisfactory (at least 2 characters)"
        )
    if fields:
        raise InvalidData("rating is invalid: " + ", ".join(sorted(fields)), fields)
    return text or None


def _lock_item(session: Session, item_id: int) -> Item:
    """The item row, locked on PostgreSQL (SQLite writers are serialised already) and fresh."""
    session.execute(select(Item.id).where(Item.id == item_id).with_for_update())
    item = session.get(Item, item_id, populate_existing=True)
    if item is None:
        raise NotFound(f"item {item_id} not found")
    return item


def _record(
    session: Session,
    item_id: int,
    deputy: Deputy,
    round_: int | None,
    rating: str,
    comment: str | None,
    source: str,
    actor: User | None,
) -> Rating:
    item = _lock_item(session, item_id)
    if round_ is None:  # the latest answered round
        round_ = item.round if item.replied_at is not None else item.round - 1
    if not 1 <= round_ <= item.round or not _answered(item, round_):
        raise Conflict(
            "本件尚未答复，暂不能评价 / the item has not been answered yet, so it cannot be rated"
        )
    if _rating_of(session, item.id, deputy.id, round_) is not None:
        raise Conflict(_already_rated(deputy, round_))
    row = Rating(
        court_id=item.court_id,
        item_id=item.id,
        deputy_id=deputy.id,
        round=round_,
        rating=rating,
        comment=comment,
        source=source,
        recorded_by_id=actor.id if actor else None,
        created_at=clock.now(),
    )
    try:
        with session.begin_nested():
            session.add(row)
            session.flush()
    except IntegrityError:  # a concurrent submit of the same rating won
        raise Conflict(_already_rated(deputy, round_)) from None
    label = RATING_LABELS[rating]
    audit.record(
        session,
        item,
        actor,
        "rated",
        comment=f"{deputy.name}：{label}" + (f"（{comment}）" if comment else ""),
        data={
            "rating": rating,
            "round": round_,
            "deputy_id": deputy.id,
            "deputy": deputy.name,
            "source": source,
            "comment": comment,
        },
    )
    if rating == "unsatisfied" and round_ == item.round:
        reason = f"{deputy.name} 代表评价不满意：{comment}"
        try:
            rehandling.rehandle(session, item, actor, reason)
        except StaleDataError as exc:
            raise Conflict(
                "事项已被他人更新，请刷新后重试 / the item changed meanwhile; reload and retry"
            ) from exc
    session.flush()
    return row


def _already_rated(deputy: Deputy, round_: int) -> str:
    return (
        f"{deputy.name} 代表已对第 {round_} 次答复作出评价，每次答复只能评价一次 / "
        f"{deputy.name} has already rated answer {round_}; each answer is rated once"
    )


def rate(session: Session, token: str, secret: str, rating: Any, comment: Any) -> Rating:
    """The deputy's own rating through their link."""
    claims = read_token(secret, token)
    cleaned = _clean(rating, comment)
    _item, deputy = _from_token(session, claims)
    return _record(session, claims.item_id, deputy, claims.round, rating, cleaned, "link", None)


def record_paper(
    session: Session,
    actor: User,
    item_id: int,
    deputy_id: Any,
    rating: Any,
    comment: Any,
    round_: Any = None,
) -> Rating:
    """A rating received on paper, entered by a registrar (or admin).

    `round_` defaults to the latest answered round; an earlier round is recorded without
    reopening the item again.
    """
    item = items.get(session, actor, item_id)
    if actor.role not in PAPER_ROLES:
        raise Forbidden("只有联络员可以登记代表评价 / only registrars record deputies' ratings")
    fields: dict[str, str] = {}
    deputy = next((d for d in item.deputies if str(d.id) == str(deputy_id)), None)
    if deputy is None:
        fields["deputy_id"] = "不是本件的代表 / not a deputy of this item"
    if round_ in (None, ""):
        round_ = None
    elif isinstance(round_, bool) or not str(round_).isdecimal() or not 1 <= int(round_) <= 999:
        fields["round"] = "应为答复轮次 / must be an answer round (1, 2, …)"
    else:
        round_ = int(round_)
    try:
        cleaned = _clean(rating, comment)
    except InvalidData as exc:
        fields.update(exc.fields or {})
    if fields:
        raise InvalidData("rating is invalid: " + ", ".join(sorted(fields)), fields)
    return _record(session, item.id, deputy, round_, rating, cleaned, "paper", actor)


# --- reading --------------------------------------------------------------------------------


@dataclass(frozen=True)
class RoundRatings:
    round: int
    ratings: list[Rating]


def for_item(session: Session, item: Item) -> list[RoundRatings]:
    """The item's ratings grouped by answer round, oldest round first."""
    grouped: dict[int, list[Rating]] = {}
    for row in session.scalars(
        select(Rating).where(Rating.item_id == item.id).order_by(Rating.round, Rating.id)
    ):
        grouped.setdefault(row.round, []).append(row)
    return [RoundRatings(round_, rows) for round_, rows in grouped.items()]


def answered_rounds(item: Item) -> list[int]:
    """Rounds whose answer may be rated (for the paper form)."""
    last = item.round if item.replied_at is not None else item.round - 1
    return list(range(1, last + 1))
