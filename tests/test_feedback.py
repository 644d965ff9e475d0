"""Deputy feedback (代表评价): signed links, the public page, ratings, paper ratings and
re-handling after 不满意 — through the engine, the REST API and the Flask test client."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from engine import clock
from engine.db import unit_of_work
from engine.errors import Conflict, InvalidData
from engine.models import AuditEvent, Deputy, Item, KindSetting, OutboxMail, Rating, Task
from engine.services import accounts, feedback, items
from engine.services.scheduling import calendar
from tests.helpers import complete
from tests.web_client import Browser, text

SECRET = "test-secret"  # the `settings` fixture's key, used by the app under test
BASE = "http://127.0.0.1:5000"
BEIJING = ZoneInfo("Asia/Shanghai")
START = datetime(2026, 3, 2, 10, 0, tzinfo=BEIJING)  # a Monday
API = "/api/v1"


@pytest.fixture(autouse=True)
def _on_a_working_monday(factory):
    clock.travel_to(START)


def register(factory, people, deputies=("张代表",)) -> int:
    with unit_of_work(factory) as session:
        item = items.register(
            session,
            people["registrar"],
            items.NewItem(
                kind="suggestion",
                title="关于加强诉前调解的建议",
                content="建议内容",
                deputies=list(deputies),
            ),
        )
        return item.id


def walk(factory, people, item_id: int, *steps: str) -> None:
    users = {"register": "registrar", "draft": "drafter", "approve": "leader"}
    for step in steps:
        complete(factory, people[users.get(step, "registrar")], item_id, step)


def answered(factory, people, deputies=("张代表",), *, filed: bool = False) -> int:
    item_id = register(factory, people, deputies)
    walk(factory, people, item_id, "register", "draft", "approve", "reply")
    if filed:
        walk(factory, people, item_id, "file")
    return item_id


def item_links(factory, item_id: int) -> list[feedback.FeedbackLink]:
    with unit_of_work(factory) as session:
        return feedback.links(session, session.get(Item, item_id), SECRET, BASE)


def token_of(link: feedback.FeedbackLink) -> str:
    return link.url.rsplit("/", 1)[1]


def form_token(page: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert match, "the page has no form with a CSRF token"
    return match.group(1)


def rate_on_page(app, token: str, rating: str, comment: str = ""):
    """A deputy's phone: open the link, choose, submit (with the form's CSRF token)."""
    client = app.test_client()
    page = client.get(f"/feedback/{token}")
    assert page.status_code == 200, text(page)
    return client, client.post(
        f"/feedback/{token}",
        data={"rating": rating, "comment": comment, "csrf_token": form_token(text(page))},
    )


def ratings(factory, item_id: int) -> list[tuple[str, int, str, str]]:
    with unit_of_work(factory) as session:
        rows = session.scalars(
            select(Rating).where(Rating.item_id == item_id).order_by(Rating.round, Rating.id)
        )
        return [(r.deputy.name, r.round, r.rating, r.source) for r in rows]


def open_steps(factory, item_id: int) -> list[str]:
    with unit_of_work(factory) as session:
        return list(
            session.scalars(
                select(Task.bpmn_id).where(Task.item_id == item_id, Task.status == "open")
            )
        )


# --- links and the public page ----------------------------------------------------------------


def test_each_deputy_gets_a_working_link_to_a_mobile_page(app, factory, people):
    item_id = answered(factory, people, ("张代表", "李代表"))
    links = item_links(factory, item_id)
    assert [link.deputy_name for link in links] == ["张代表", "李代表"]
    assert len({link.url for link in links}) == 2
    assert all(link.url.startswith(f"{BASE}/feedback/") for link in links)

    client = app.test_client()
    for link in links:
        response = client.get(f"/feedback/{token_of(link)}")
        assert response.status_code == 200
        page = text(response)
        assert 'name="viewport"' in page
        assert "navbar" not in page  # not the staff layout
        assert "vendor/bootstrap/bootstrap.min.css" in page
        assert f"{link.deputy_name} 代表" in page
        assert "关于加强诉前调解的建议" in page
        assert "您的建议已办理完毕" in page  # the answer itself
        assert 'data-testid="feedback-form"' in page
        assert response.headers["Referrer-Policy"] == "no-referrer"

    with unit_of_work(factory) as session:
        view = feedback.page(session, token_of(links[0]), SECRET)
        assert (view.number, view.kind, view.stage, view.reply_class) == (
            session.get(Item, item_id).number,
            "suggestion",
            "answered",
            "A",
        )
        assert view.kind_label == "代表建议" and view.can_rate and not view.rated
        event = session.scalar(
            select(AuditEvent).where(
                AuditEvent.item_id == item_id, AuditEvent.action == "feedback_requested"
            )
        )
        assert [d["name"] for d in event.data["deputies"]] == ["张代表", "李代表"]


def test_tampered_or_foreign_token_is_a_friendly_404(app, factory, people):
    item_id = answered(factory, people)
    token = token_of(item_links(factory, item_id)[0])
    tampered = token[:-2] + ("AA" if not token.endswith("AA") else "BB")
    foreign = feedback.make_token("another-secret", item_id, 1, 1)
    client = app.test_client()
    for bad in (tampered, foreign, "nonsense", "x" * 400):
        response = client.get(f"/feedback/{bad}")
        assert response.status_code == 404
        assert "评价链接无效" in text(response) and "navbar" not in text(response)
        assert client.get(f"{API}/feedback/{bad}").status_code == 404
    with unit_of_work(factory) as session, pytest.raises(feedback.LinkInvalid):
        feedback.rate(session, tampered, SECRET, "satisfied", "")
    assert ratings(factory, item_id) == []


def test_expired_link_is_refused_with_a_clear_page(app, factory, people):
    item_id = answered(factory, people)
    token = token_of(item_links(factory, item_id)[0])
    clock.travel_to(START + timedelta(days=feedback.LINK_VALID_DAYS - 1))
    assert app.test_client().get(f"/feedback/{token}").status_code == 200
    clock.travel_to(START + timedelta(days=61))
    client = app.test_client()
    response = client.get(f"/feedback/{token}")
    assert response.status_code == 410
    assert "评价链接已过期" in text(response)
    assert "关于加强诉前调解的建议" not in text(response)
    api = client.post(f"{API}/feedback/{token}", json={"rating": "satisfied"})
    assert api.status_code == 410 and api.get_json()["error"]["code"] == "link_expired"
    assert ratings(factory, item_id) == []


def test_a_link_before_the_answer_shows_progress_but_cannot_rate(app, factory, people):
    item_id = register(factory, people)
    walk(factory, people, item_id, "register")
    token = token_of(item_links(factory, item_id)[0])
    page = text(app.test_client().get(f"/feedback/{token}"))
    assert "本件正在办理" in page and 'data-testid="feedback-form"' not in page
    response = app.test_client().post(f"{API}/feedback/{token}", json={"rating": "satisfied"})
    assert response.status_code == 409
    assert ratings(factory, item_id) == []


# --- rating through the link ------------------------------------------------------------------


def test_satisfied_rating_is_recorded_once(app, factory, people):
    item_id = answered(factory, people)
    token = token_of(item_links(factory, item_id)[0])
    second_tab = app.test_client()  # the same link opened twice, submitted twice
    stale_form = form_token(text(second_tab.get(f"/feedback/{token}")))
    client, response = rate_on_page(app, token, "satisfied", "办理认真")
    assert response.status_code == 303
    thanks = text(client.get(response.headers["Location"]))
    assert "感谢您的评价" in thanks
    assert 'data-rating="satisfied"' in thanks and "办理认真" in thanks
    assert 'data-testid="feedback-form"' not in thanks
    assert ratings(factory, item_id) == [("张代表", 1, "satisfied", "link")]

    again = second_tab.post(
        f"/feedback/{token}",
        data={"rating": "unsatisfied", "comment": "再次提交", "csrf_token": stale_form},
    )
    assert again.status_code == 409
    assert "已对第 1 次答复作出评价" in text(again)
    assert 'data-rating="satisfied"' in text(again)
    api = app.test_client().post(f"{API}/feedback/{token}", json={"rating": "satisfied"})
    assert api.status_code == 409 and api.get_json()["error"]["code"] == "conflict"
    assert ratings(factory, item_id) == [("张代表", 1, "satisfied", "link")]
    with unit_of_work(factory) as session:
        item = session.get(Item, item_id)
        assert (item.status, item.round) == ("open", 1)
        event = session.scalar(
            select(AuditEvent).where(AuditEvent.item_id == item_id, AuditEvent.action == "rated")
        )
        assert event.actor_id is None
        assert event.data["rating"] == "satisfied" and event.data["source"] == "link"


def test_post_without_csrf_token_is_refused(app, factory, people):
    item_id = answered(factory, people)
    token = token_of(item_links(factory, item_id)[0])
    client = app.test_client()
    client.get(f"/feedback/{token}")
    response = client.post(f"/feedback/{token}", data={"rating": "satisfied"})
    assert response.status_code == 400
    assert "页面已失效" in text(response)
    assert ratings(factory, item_id) == []


def test_invalid_rating_or_missing_reason_is_422_with_the_form_again(app, factory, people):
    item_id = answered(factory, people)
    token = token_of(item_links(factory, item_id)[0])
    _client, response = rate_on_page(app, token, "unsatisfied", " ")
    assert response.status_code == 422
    assert 'data-field-error="comment"' in text(response)
    _client, response = rate_on_page(app, token, "great")
    assert response.status_code == 422 and 'data-field-error="rating"' in text(response)
    api = app.test_client().post(f"{API}/feedback/{token}", json={"rating": "unsatisfied"})
    assert api.status_code == 422 and set(api.get_json()["error"]["fields"]) == {"comment"}
    assert ratings(factory, item_id) == []


def test_unsatisfied_reopens_a_filed_item_and_the_second_answer_is_rated_again(
    app, factory, people
):
    item_id = answered(factory, people, filed=True)
    first = token_of(item_links(factory, item_id)[0])
    client, response = rate_on_page(app, first, "unsatisfied", "未解决实际问题")
    assert response.status_code == 303
    after = text(client.get(response.headers["Location"]))
    assert 'data-testid="feedback-rehandling"' in after  # "the item will be handled again"

    with unit_of_work(factory) as session:
        item = session.get(Item, item_id)
        assert (item.status, item.round, item.replied_at) == ("open", 2, None)
        expected = calendar(session).add_months(clock.local_now().date(), 1).day
        assert item.due_at.astimezone(BEIJING).date() == expected
        reason = session.scalar(
            select(AuditEvent.comment).where(
                AuditEvent.item_id == item_id, AuditEvent.action == "rehandling"
            )
        )
        assert "张代表" in reason and "未解决实际问题" in reason
    assert open_steps(factory, item_id) == ["draft"]

    # The old link now shows the first rating and cannot rate round 1 again.
    old = text(app.test_client().get(f"/feedback/{first}"))
    assert 'data-rating="unsatisfied"' in old and 'data-testid="feedback-form"' not in old

    walk(factory, people, item_id, "draft", "approve", "reply")
    second = token_of(item_links(factory, item_id)[0])
    assert second != first
    page = text(app.test_client().get(f"/feedback/{second}"))
    assert "第 2 次答复" in page and 'data-testid="feedback-form"' in page
    _client, response = rate_on_page(app, second, "basically_satisfied")
    assert response.status_code == 303
    assert ratings(factory, item_id) == [
        ("张代表", 1, "unsatisfied", "link"),
        ("张代表", 2, "basically_satisfied", "link"),
    ]
    with unit_of_work(factory) as session:
        assert session.get(Item, item_id).round == 2  # 基本满意 does not reopen


def test_joint_item_two_links_two_ratings_through_the_api(app, factory, people, api_tokens):
    item_id = answered(factory, people, ("张代表", "李代表"))
    client = app.test_client()
    staff = client.get(f"{API}/items/{item_id}/feedback", headers=api_tokens("registrar"))
    body = staff.get_json()
    assert staff.status_code == 200 and (body["round"], body["answered"]) == (1, True)
    links = body["links"]
    assert [link["deputy"] for link in links] == ["张代表", "李代表"]
    for link, rating in zip(links, ("satisfied", "basically_satisfied"), strict=True):
        token = link["url"].rsplit("/", 1)[1]
        view = client.get(f"{API}/feedback/{token}").get_json()
        assert view["deputy"] == link["deputy"] and view["can_rate"] is True
        rated = client.post(f"{API}/feedback/{token}", json={"rating": rating})
        assert rated.status_code == 201 and rated.get_json()["rating"] == rating
    body = client.get(f"{API}/items/{item_id}/feedback", headers=api_tokens("registrar")).get_json()
    assert [(r["deputy"], r["rating"]) for r in body["rounds"][0]["ratings"]] == [
        ("张代表", "satisfied"),
        ("李代表", "basically_satisfied"),
    ]
    assert [link["rated"] for link in body["links"]] == ["satisfied", "basically_satisfied"]
    drafter = client.get(f"{API}/items/{item_id}/feedback", headers=api_tokens("drafter"))
    assert drafter.status_code == 200 and drafter.get_json()["links"] is None
    other = client.get(f"{API}/items/{item_id}/feedback", headers=api_tokens("drafter_other"))
    assert other.status_code == 404
    assert client.get(f"{API}/items/{item_id}/feedback").status_code == 401


def test_one_unsatisfied_deputy_reopens_once_and_a_late_rating_does_not_reopen_again(
    factory, people
):
    item_id = answered(factory, people, ("张代表", "李代表"))
    zhang, li = item_links(factory, item_id)
    with unit_of_work(factory) as session:
        feedback.rate(session, token_of(zhang), SECRET, "unsatisfied", "答复太笼统")
    with unit_of_work(factory) as session:
        feedback.rate(session, token_of(li), SECRET, "unsatisfied", "同样不满意")
    with unit_of_work(factory) as session:
        assert session.get(Item, item_id).round == 2
        assert (
            session.scalar(
                select(func.count())
                .select_from(AuditEvent)
                .where(AuditEvent.item_id == item_id, AuditEvent.action == "rehandling")
            )
            == 1
        )
    assert ratings(factory, item_id) == [
        ("张代表", 1, "unsatisfied", "link"),
        ("李代表", 1, "unsatisfied", "link"),
    ]


def test_a_racing_double_submit_is_a_conflict_not_a_500(factory, people, monkeypatch):
    item_id = answered(factory, people)
    token = token_of(item_links(factory, item_id)[0])
    with unit_of_work(factory) as session:
        feedback.rate(session, token, SECRET, "satisfied", "")
    # The second request passed the friendly check before the first committed.
    monkeypatch.setattr(feedback, "_rating_of", lambda *args: None)
    with unit_of_work(factory) as session, pytest.raises(Conflict):
        feedback.rate(session, token, SECRET, "satisfied", "")
    assert ratings(factory, item_id) == [("张代表", 1, "satisfied", "link")]


# --- paper ratings --------------------------------------------------------------------------


def test_paper_rating_by_registrar_and_not_by_drafter(app, factory, people, api_tokens):
    item_id = answered(factory, people, ("张代表", "李代表"))
    with unit_of_work(factory) as session:
        zhang, li = sorted(session.get(Item, item_id).deputies, key=lambda d: d.id)
        zhang_id, li_id = zhang.id, li.id
        stranger = Deputy(court_id=zhang.court_id, name="王代表")
        session.add(stranger)
        session.flush()
        stranger_id = stranger.id
    client = app.test_client()
    url = f"{API}/items/{item_id}/ratings"
    refused = client.post(
        url, json={"deputy_id": zhang_id, "rating": "satisfied"}, headers=api_tokens("drafter")
    )
    assert refused.status_code == 403
    hidden = client.post(
        url,
        json={"deputy_id": zhang_id, "rating": "satisfied"},
        headers=api_tokens("drafter_other"),
    )
    assert hidden.status_code == 404
    invalid = client.post(
        url, json={"deputy_id": stranger_id, "rating": "fine"}, headers=api_tokens("registrar")
    )
    assert invalid.status_code == 422
    assert set(invalid.get_json()["error"]["fields"]) == {"deputy_id", "rating"}
    recorded = client.post(
        url,
        json={"deputy_id": zhang_id, "rating": "satisfied", "comment": "书面回执"},
        headers=api_tokens("registrar"),
    )
    assert recorded.status_code == 201, text(recorded)
    body = recorded.get_json()
    assert (body["source"], body["recorded_by"], body["round"]) == ("paper", "registrar", 1)
    twice = client.post(
        url, json={"deputy_id": zhang_id, "rating": "satisfied"}, headers=api_tokens("registrar")
    )
    assert twice.status_code == 409

    # The registrar's form on the item page; 不满意 on the current answer reopens the item.
    registrar = Browser(app.test_client())
    assert registrar.login("registrar").status_code == 302
    page = registrar.get(f"/items/{item_id}")
    assert 'data-testid="paper-rating-form"' in page and 'data-testid="feedback-link"' in page
    response = registrar.submit(
        f"/items/{item_id}/ratings", {"deputy_id": str(li_id), "rating": "unsatisfied"}
    )
    assert response.status_code == 422
    assert 'data-field-error="comment"' in text(response)
    response = registrar.submit(
        f"/items/{item_id}/ratings",
        {"deputy_id": str(li_id), "rating": "unsatisfied", "comment": "电话反馈不满意"},
    )
    assert response.status_code == 303
    assert ratings(factory, item_id) == [
        ("张代表", 1, "satisfied", "paper"),
        ("李代表", 1, "unsatisfied", "paper"),
    ]
    with unit_of_work(factory) as session:
        assert session.get(Item, item_id).round == 2
    page = registrar.get(f"/items/{item_id}")
    assert 'data-rating="unsatisfied"' in page and "电话反馈不满意" in page

    drafter = Browser(app.test_client())
    assert drafter.login("drafter").status_code == 302
    page = drafter.get(f"/items/{item_id}")
    assert 'data-rating="unsatisfied"' in page  # the ratings, but neither links nor the form
    assert 'data-testid="feedback-link"' not in page
    assert 'data-testid="paper-rating-form"' not in page
    forbidden = drafter.submit(
        f"/items/{item_id}/ratings",
        {"deputy_id": str(zhang_id), "rating": "satisfied", "round": "1"},
    )
    assert forbidden.status_code == 403


def test_a_late_paper_rating_of_an_earlier_round_does_not_reopen_again(factory, people):
    item_id = answered(factory, people, ("张代表", "李代表"))
    zhang_link, _li_link = item_links(factory, item_id)
    with unit_of_work(factory) as session:
        feedback.rate(session, token_of(zhang_link), SECRET, "unsatisfied", "未答复要点")
        li_id = max(d.id for d in session.get(Item, item_id).deputies)
    with unit_of_work(factory) as session:  # round 2 is being handled; the answer is round 1's
        feedback.record_paper(
            session, people["registrar"], item_id, li_id, "unsatisfied", "信函回执不满意"
        )
    with unit_of_work(factory) as session:
        item = session.get(Item, item_id)
        assert item.round == 2
        with pytest.raises(InvalidData) as refused:
            feedback.record_paper(session, people["registrar"], item_id, li_id, "satisfied", "", 0)
        assert set(refused.value.fields) == {"round"}
        with pytest.raises(Conflict):  # round 2 is not answered yet
            feedback.record_paper(session, people["registrar"], item_id, li_id, "satisfied", "", 2)
    assert ratings(factory, item_id)[-1] == ("李代表", 1, "unsatisfied", "paper")


# --- mail and settings ----------------------------------------------------------------------


def test_the_answer_queues_an_email_with_the_link(app, factory, people, monkeypatch):
    monkeypatch.setenv("LIAISON_SMTP_URL", "smtp://127.0.0.1:2525")
    monkeypatch.setenv("LIAISON_SECRET_KEY", SECRET)
    monkeypatch.setenv("LIAISON_BASE_URL", "https://liaison.example.court/")
    item_id = register(factory, people, ("张代表", "李代表"))
    with unit_of_work(factory) as session:
        zhang = next(d for d in session.get(Item, item_id).deputies if d.name == "张代表")
        zhang.email = "zhang@example.org"
    walk(factory, people, item_id, "register", "draft", "approve", "reply")
    with unit_of_work(factory) as session:
        mails = session.scalars(select(OutboxMail).where(OutboxMail.key.like("feedback:%"))).all()
        assert [m.to_address for m in mails] == ["zhang@example.org"]
        body = mails[0].body
        number = session.get(Item, item_id).number
        assert number in mails[0].subject and "张代表" in body
        event = session.scalar(
            select(AuditEvent).where(
                AuditEvent.item_id == item_id, AuditEvent.action == "feedback_requested"
            )
        )
        assert {d["name"]: d["mailed"] for d in event.data["deputies"]} == {
            "张代表": True,
            "李代表": False,
        }
    link = re.search(r"https://liaison\.example\.court/feedback/(\S+)", body)
    assert link, body
    page = app.test_client().get(f"/feedback/{link.group(1)}")
    assert page.status_code == 200 and "张代表 代表" in text(page)


def test_rehandle_limit_is_an_admin_setting(app, factory, people):
    admin = Browser(app.test_client())
    assert admin.login("admin").status_code == 302
    assert "不满意重新办理期限（月）" in admin.get("/admin/deadlines")
    fields = {
        "kind": "suggestion",
        "limit_months": "3",
        "limit_working_days": "",
        "due_soon_working_days": "3",
        "supervise_after_working_days": "2",
    }
    assert admin.submit("/admin/deadlines", {**fields, "rehandle_months": "7"}).status_code == 422
    assert admin.submit("/admin/deadlines", {**fields, "rehandle_months": "2"}).status_code == 302
    with unit_of_work(factory) as session:
        court_id = accounts.get_or_create_court(session, "测试人民法院").id
        assert session.get(KindSetting, (court_id, "suggestion")).rehandle_months == 2

    item_id = answered(factory, people)
    with unit_of_work(factory) as session:
        feedback.rate(
            session, token_of(item_links(factory, item_id)[0]), SECRET, "unsatisfied", "不够具体"
        )
    with unit_of_work(factory) as session:
        item = session.get(Item, item_id)
        expected = calendar(session).add_months(clock.local_now().date(), 2).day
        assert item.due_at.astimezone(BEIJING).date() == expected


@pytest.fixture
def api_tokens(people, factory):
    with unit_of_work(factory) as session:
        tokens = {
            name: accounts.issue_token(session, name)
            for name in ("registrar", "drafter", "drafter_other", "leader")
        }
    return lambda name: {"Authorization": f"Bearer {tokens[name]}"}


def test_openapi_schemas_describe_the_feedback_responses(app, factory, people, api_tokens):
    from jsonschema import Draft202012Validator

    client = app.test_client()
    document = client.get(f"{API}/openapi.json").get_json()

    def check(name: str, instance) -> None:
        schema = {**document, "$ref": f"#/components/schemas/{name}"}
        errors = list(Draft202012Validator(schema).iter_errors(instance))
        assert not errors, [e.message for e in errors]

    item_id = answered(factory, people, ("张代表", "李代表"))
    staff = client.get(f"{API}/items/{item_id}/feedback", headers=api_tokens("registrar"))
    token = staff.get_json()["links"][0]["url"].rsplit("/", 1)[1]
    check("FeedbackPage", client.get(f"{API}/feedback/{token}").get_json())
    rated = client.post(
        f"{API}/feedback/{token}", json={"rating": "unsatisfied", "comment": "不行"}
    )
    check("FeedbackPage", rated.get_json())
    deputy_id = staff.get_json()["links"][1]["deputy_id"]
    paper = client.post(
        f"{API}/items/{item_id}/ratings",
        json={"deputy_id": deputy_id, "rating": "satisfied", "round": 1},
        headers=api_tokens("registrar"),
    )
    assert paper.status_code == 201 and paper.get_json()["item_round"] == 2
    check("Rating", paper.get_json())
    body = client.get(f"{API}/items/{item_id}/feedback", headers=api_tokens("registrar"))
    check("ItemFeedback", body.get_json())
    check("Error", client.get(f"{API}/feedback/broken").get_json())
