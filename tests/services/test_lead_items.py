"""书记领办事项: the two-year rule that suggests an item for the 软弱涣散 list, and its decisions."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import func, select

# Load the API package first, as the app factory does (see tests/services/test_grading.py).
import server.api  # noqa: F401, I001
from server import clock
from server.db import db
from server.errors import ApiError
from server.models import AuditEntry, LeadItemDecision, User, WeakOrgWarning
from server.services import lead_items, projects

STARTED = date(2024, 3, 1)


@pytest.fixture
def ctx(app, world):
    """An app context with the admin and one organization."""
    with app.app_context():
        admin = db.session.get(User, world.ids["admin"])
        org = projects.create_organization(db.session, admin, {"name": "江南村党支部", "township_id": world.t1})
        yield admin, org


def at(monkeypatch, day: date) -> None:
    """Make `day` today for the services (server.clock.today)."""
    monkeypatch.setattr(clock, "today", lambda: day)


def make_item(admin, org, started_on: date = STARTED, **extra):
    """An item led by a named secretary from `started_on`."""
    return lead_items.create_item(
        db.session,
        admin,
        {
            "title": "深村红叶撂荒地复垦",
            "started_on": started_on,
            "organization_id": org.id,
            "level": "village",
            "leader_name": "胡艺群",
            **extra,
        },
    )


def test_not_suggested_at_one_year_364_days(ctx, monkeypatch):
    """On the last day before two full years (1 year 364 days) an item with no result is not suggested."""
    admin, org = ctx
    at(monkeypatch, STARTED)
    item = make_item(admin, org)
    at(monkeypatch, date(2026, 2, 28))
    assert not lead_items.is_suggested(db.session, item)
    assert lead_items.suggestions(db.session, admin) == []


@pytest.mark.both_databases
def test_suggested_on_the_day_two_years_pass(ctx, monkeypatch):
    """Two full years after the start with no visible result, the item is suggested, with the rule's dates."""
    admin, org = ctx
    at(monkeypatch, STARTED)
    item = make_item(admin, org)
    at(monkeypatch, date(2026, 3, 1))
    assert lead_items.is_suggested(db.session, item)
    [found] = lead_items.suggestions(db.session, admin)
    assert found.item.id == item.id
    assert (found.clock.since, found.clock.last_result, found.clock.due) == (STARTED, None, date(2026, 3, 1))


def test_suggestion_lists_nothing_by_itself(ctx, monkeypatch):
    """A suggestion is only shown: no warning exists until an admin confirms it."""
    admin, org = ctx
    at(monkeypatch, STARTED)
    make_item(admin, org)
    at(monkeypatch, date(2027, 1, 1))
    assert len(lead_items.suggestions(db.session, admin)) == 1
    assert db.session.scalar(select(func.count(WeakOrgWarning.id))) == 0


@pytest.mark.both_databases
def test_a_visible_result_restarts_the_two_years(ctx, monkeypatch):
    """A progress entry marked as a visible result counts the two years again from its date; plain notes do not."""
    admin, org = ctx
    at(monkeypatch, STARTED)
    item = make_item(admin, org)
    at(monkeypatch, date(2025, 6, 1))
    lead_items.add_progress(db.session, admin, item.id, {"text": "召开村民会议", "noted_on": date(2025, 5, 1)})
    lead_items.add_progress(
        db.session, admin, item.id, {"text": "流转撂荒地 120 亩", "noted_on": date(2025, 6, 1), "visible_result": True}
    )
    at(monkeypatch, date(2026, 3, 1))
    assert not lead_items.is_suggested(db.session, item)
    at(monkeypatch, date(2027, 5, 31))
    assert not lead_items.is_suggested(db.session, item)
    at(monkeypatch, date(2027, 6, 1))
    assert lead_items.is_suggested(db.session, item)


def test_plain_progress_notes_do_not_count(ctx, monkeypatch):
    """Notes that are not visible results leave the item suggested two years after its start."""
    admin, org = ctx
    at(monkeypatch, date(2025, 12, 1))
    item = make_item(admin, org)
    lead_items.add_progress(db.session, admin, item.id, {"text": "走访农户", "noted_on": date(2025, 12, 1)})
    at(monkeypatch, date(2027, 12, 1))
    assert lead_items.is_suggested(db.session, item)


def test_finished_items_are_not_suggested(ctx, monkeypatch):
    """An item done or stopped is no longer held to the rule."""
    admin, org = ctx
    at(monkeypatch, STARTED)
    item = make_item(admin, org)
    lead_items.update_item(db.session, admin, item.id, {"status": "done"})
    at(monkeypatch, date(2027, 1, 1))
    assert not lead_items.is_suggested(db.session, item)


@pytest.mark.both_databases
def test_confirm_creates_the_warning_and_the_decision(ctx, monkeypatch):
    """Confirming lists the organization for three months and records the decision with the warning, audited."""
    admin, org = ctx
    at(monkeypatch, STARTED)
    item = make_item(admin, org)
    at(monkeypatch, date(2026, 3, 2))
    decision = lead_items.confirm_suggestion(db.session, admin, item.id, "经县委组织部研究")
    warning = db.session.get(WeakOrgWarning, decision.warning_id)
    assert (warning.organization_id, warning.status, warning.deadline) == (org.id, "rectifying", date(2026, 6, 2))
    assert "连续2年无明显成效" in warning.reason and item.title in warning.reason
    assert warning.reason.endswith("经县委组织部研究") and decision.reason == "经县委组织部研究"
    actions = set(db.session.scalars(select(AuditEntry.action)))
    assert {"lead_item.confirm", "grading.warning"} <= actions
    # Decided: the suggestion is gone, and the two years count again from today.
    assert lead_items.suggestions(db.session, admin) == []
    assert lead_items.result_clock(db.session, item).since == date(2026, 3, 2)


def test_confirm_when_the_organization_is_listed_writes_nothing(ctx, monkeypatch):
    """An organization already being rectified cannot be listed twice: no decision is kept either."""
    admin, org = ctx
    at(monkeypatch, STARTED)
    item = make_item(admin, org)
    at(monkeypatch, date(2026, 3, 2))
    from server.services.grading import penalties

    penalties.create_warning(db.session, admin, {"organization_id": org.id, "reason": "班子不团结"})
    with pytest.raises(ApiError) as exc:
        lead_items.confirm_suggestion(db.session, admin, item.id)
    assert exc.value.status == 409
    assert db.session.scalar(select(func.count(LeadItemDecision.id))) == 0
    assert db.session.scalar(select(func.count(WeakOrgWarning.id))) == 1


def test_dismiss_needs_a_reason_and_restarts_the_clock(ctx, monkeypatch):
    """Dismissing takes a reason, lists nothing, and the item is suggested again only two years later."""
    admin, org = ctx
    at(monkeypatch, STARTED)
    item = make_item(admin, org)
    at(monkeypatch, date(2026, 4, 1))
    with pytest.raises(ApiError):
        lead_items.dismiss_suggestion(db.session, admin, item.id, "  ")
    lead_items.dismiss_suggestion(db.session, admin, item.id, "受疫情影响,土地流转推迟一年")
    assert db.session.scalar(select(func.count(WeakOrgWarning.id))) == 0
    assert not lead_items.is_suggested(db.session, item)
    at(monkeypatch, date(2028, 3, 31))
    assert not lead_items.is_suggested(db.session, item)
    at(monkeypatch, date(2028, 4, 1))
    assert lead_items.is_suggested(db.session, item)


def test_an_item_not_suggested_cannot_be_decided(ctx, monkeypatch):
    """Confirming or dismissing an item that is not suggested is a 409, and nothing is written."""
    admin, org = ctx
    at(monkeypatch, STARTED)
    item = make_item(admin, org)
    at(monkeypatch, date(2026, 2, 28))
    for decide in (lead_items.confirm_suggestion, lead_items.dismiss_suggestion):
        with pytest.raises(ApiError) as exc:
            decide(db.session, admin, item.id, "理由")
        assert exc.value.status == 409
    assert db.session.scalar(select(func.count(WeakOrgWarning.id))) == 0


def test_only_admins_decide_and_leaders_read(ctx, app, world, monkeypatch):
    """A leader sees the suggestions but cannot confirm; a reviewer cannot read the items at all."""
    admin, org = ctx
    at(monkeypatch, STARTED)
    item = make_item(admin, org)
    at(monkeypatch, date(2026, 3, 1))
    leader = db.session.get(User, world.ids["leader"])
    reviewer = db.session.get(User, world.ids["reviewer1"])
    assert len(lead_items.suggestions(db.session, leader)) == 1
    with pytest.raises(ApiError) as exc:
        lead_items.confirm_suggestion(db.session, leader, item.id)
    assert exc.value.status == 403
    with pytest.raises(ApiError) as exc:
        lead_items.list_items(db.session, reviewer)
    assert exc.value.status == 403


@pytest.mark.parametrize(
    "data,field",
    [
        ({"started_on": date(2099, 1, 1)}, "started_on"),
        ({"level": "province"}, "level"),
        ({"leader_name": ""}, "leader_name"),
        ({"organization_id": 9999}, None),
    ],
)
def test_item_fields_are_checked(ctx, monkeypatch, data, field):
    """A start in the future, an unknown level, no leader and an unknown organization are refused."""
    admin, org = ctx
    with pytest.raises(ApiError) as exc:
        make_item(admin, org, **data)
    if field:
        assert exc.value.details["field"] == field
    else:
        assert exc.value.status == 404


def test_progress_cannot_predate_the_item(ctx, monkeypatch):
    """A progress entry dated before the item started (or in the future) is refused."""
    admin, org = ctx
    at(monkeypatch, date(2025, 1, 1))
    item = make_item(admin, org, started_on=date(2024, 6, 1))
    for noted_on in (date(2024, 5, 31), date(2025, 1, 2)):
        with pytest.raises(ApiError):
            lead_items.add_progress(db.session, admin, item.id, {"text": "x", "noted_on": noted_on})


def test_demo_county_shows_one_suggestion_and_levelled_projects(app):
    """The demo data holds three 领办事项, exactly one suggested for the list, and every registered project has a level."""
    from server.models import Project
    from server.services import demo

    with app.app_context():
        demo.load(db.session)
        demo.load(db.session)  # a second run adds nothing
        admin = db.session.scalar(select(User).where(User.username == "admin"))
        assert len(lead_items.list_items(db.session, admin).items) == 3
        [suggested] = lead_items.suggestions(db.session, admin)
        assert suggested.item.title == "许家村撂荒地复垦"
        registered = db.session.scalars(select(Project).where(Project.applicant_id.is_(None))).all()
        assert registered and all(p.level for p in registered)


def test_an_overlong_note_lists_nothing(ctx, monkeypatch):
    """A confirmation note over 1000 characters is refused before anything is written."""
    admin, org = ctx
    at(monkeypatch, STARTED)
    item = make_item(admin, org)
    at(monkeypatch, date(2026, 3, 1))
    with pytest.raises(ApiError) as exc:
        lead_items.confirm_suggestion(db.session, admin, item.id, "说" * 1001)
    assert exc.value.details["field"] == "reason"
    assert db.session.scalar(select(func.count(WeakOrgWarning.id))) == 0
    assert lead_items.confirm_suggestion(db.session, admin, item.id, "说" * 1000).warning_id
