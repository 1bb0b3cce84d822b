"""Grading rules: weighted and trimmed scores, ranks, quotas, the bottom 5%, deductions, warnings, notices."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import select

# Load the API package first: services.photos imports api.validation, whose package imports
# services that need services.photos complete (the app factory loads them in this order too).
import server.api  # noqa: F401, I001
from server.db import db
from server.errors import ApiError
from server.models import AuditEntry, GradingEntry, GradingSession, PointDeduction, Project, User
from server.services import grading, projects, users
from server.services.grading import Placed

CRITERIA = [{"key": "c1", "name": "推进", "weight": 60}, {"key": "c2", "name": "成效", "weight": 40}]


# ---- pure rules -------------------------------------------------------------------------------


def test_criteria_weights_must_sum_to_100():
    """Weights that do not add up to 100 are refused with the sum in the message."""
    with pytest.raises(ApiError) as exc:
        grading.parse_criteria([{"name": "推进", "weight": 60}, {"name": "成效", "weight": 30}])
    assert "90" in exc.value.message


def test_criteria_get_stable_keys_and_whole_weights():
    """Criteria are keyed c1..cn in order and typed weights become integers."""
    assert grading.parse_criteria([{"name": "推进", "weight": "60"}, {"name": "成效", "weight": 40}]) == CRITERIA


def test_criteria_names_must_differ():
    """Two criteria of the same name would be indistinguishable on the scoring form."""
    with pytest.raises(ApiError):
        grading.parse_criteria([{"name": "推进", "weight": 50}, {"name": "推进", "weight": 50}])


@pytest.mark.parametrize("raw,tenths", [("85.5", 855), ("100", 1000), ("0", 0), (" 7 ", 70), ("", None)])
def test_scores_are_kept_in_tenths(raw, tenths):
    """Scores from 0 to 100 with one decimal are stored exactly as tenths; blank means not scored."""
    assert grading.parse_score(raw) == tenths


@pytest.mark.parametrize("raw", ["85.55", "100.1", "-1", "abc", "NaN"])
def test_bad_scores_are_refused(raw):
    """Two decimals, out-of-range and non-numbers are refused."""
    with pytest.raises(ApiError):
        grading.parse_score(raw)


def test_expert_total_is_weighted():
    """90 × 60% + 80 × 40% = 86.000 (in thousandths)."""
    assert grading.expert_total_milli({"c1": 900, "c2": 800}, CRITERIA) == 86000


def test_final_score_is_the_mean_rounded_half_up():
    """(85.125 + 85.125 + 85.130) / 3 = 85.12666… → 85.13; 85.125 alone → 85.13 (half up)."""
    assert grading.final_centi([85125, 85125, 85130], False) == 8513
    assert grading.final_centi([85125, 85125, 85125], False) == 8513


def test_dropping_leaves_out_one_highest_and_one_lowest():
    """With dropping, 100 and 10 are left out of 100/80/70/60/10: (80+70+60)/3 = 70."""
    assert grading.final_centi([100000, 80000, 70000, 60000, 10000], True) == 7000


def test_dropping_needs_five_totals():
    """Dropping from four totals would leave two: the rule needs five."""
    with pytest.raises(ValueError):
        grading.final_centi([100000, 80000, 70000, 60000], True)


def test_equal_scores_share_a_rank():
    """Ranks run 1, 2, 2, 4 and the tied pair spans positions 1–2."""
    ranking = grading.rank({1: 9000, 2: 8000, 3: 8000, 4: 7000})
    assert [(p.key, p.rank, p.first, p.last) for p in ranking] == [
        (1, 1, 0, 0),
        (2, 2, 1, 2),
        (3, 2, 1, 2),
        (4, 4, 3, 3),
    ]


def test_percent_quotas_reproduce_the_seeds_split():
    """64 projects at 2/18/50/30% give 1/12/32/19 places, as 黔江 graded its 64 projects."""
    cutoffs = grading.grade_cutoffs(64, "percent", {"特等": 2, "一等": 18, "二等": 50, "三等": 30})
    sizes = [b - a for a, b in zip([0, *cutoffs], cutoffs, strict=False)]
    assert sizes == [1, 12, 32, 19]


def test_percentages_round_half_up_on_the_cumulative_share():
    """25% of 10 is 2.5 places → 3; the next 25% brings the total to 5, so it gets only 2."""
    assert grading.grade_cutoffs(10, "percent", {"特等": 25, "一等": 25, "二等": 0, "三等": 0}) == [3, 5, 5, 5]


def test_count_quotas_never_exceed_the_projects():
    """Counts add up down the grades and stop at the number of projects."""
    assert grading.grade_cutoffs(5, "count", {"特等": 1, "一等": 2, "二等": 5, "三等": 5}) == [1, 3, 5, 5]


def test_a_tie_at_a_cutoff_takes_the_better_grade():
    """One 特等 place and two tied at the top: both are 特等 and 一等 shrinks by one."""
    ranking = grading.rank({1: 9000, 2: 9000, 3: 8000, 4: 7000})
    grades = grading.allocate(ranking, "count", {"特等": 1, "一等": 2, "二等": 1, "三等": 0})
    assert grades == {1: "特等", 2: "特等", 3: "一等", 4: "二等"}


def test_projects_beyond_the_quotas_get_no_grade():
    """Quotas covering two of three projects leave the last one without a grade."""
    grades = grading.allocate(
        grading.rank({1: 9000, 2: 8000, 3: 7000}), "count", {"特等": 0, "一等": 1, "二等": 1, "三等": 0}
    )
    assert grades == {1: "一等", 2: "二等", 3: None}


@pytest.mark.parametrize("n,size", [(0, 0), (1, 1), (20, 1), (21, 2), (64, 4)])
def test_bottom_five_percent_rounds_up(n, size):
    """The bottom 5% of n projects is ceil(n × 5%) places."""
    assert grading.bottom_size(n) == size


def test_the_last_project_is_flagged():
    """Of 20 projects, the one in last place is in the bottom 5%."""
    ranking = grading.rank({k: 10000 - k for k in range(1, 21)})
    assert grading.bottom_keys(ranking) == {20}


def test_a_tie_across_the_bottom_line_is_not_flagged():
    """Two of 20 tied for last straddle the single bottom place: neither is flagged."""
    scores = {k: 10000 - k for k in range(1, 19)} | {19: 5000, 20: 5000}
    assert grading.bottom_keys(grading.rank(scores)) == set()
    assert Placed(19, 5000, 19, 18, 19) in grading.rank(scores)


# ---- the service on both databases ------------------------------------------------------------


def _user(username: str, roles: list[str]) -> User:
    admin = db.session.scalar(select(User).where(User.username == "admin"))
    return users.create_user(
        db.session, admin, {"username": username, "name": username, "roles": roles, "password": f"{username}-password"}
    )[0]


def _admin() -> User:
    return db.session.scalar(select(User).where(User.username == "admin"))


def _session(
    world, *, year: int = 2026, drop: bool = False, experts: int = 3, quotas: dict | None = None
) -> tuple[int, list[int], dict[int, int]]:
    """An opened session of `year` with `experts` experts seated on every project.

    Returns the session id, the expert ids and the entry id of each project id.
    """
    admin = _admin()
    gs = grading.create_session(
        db.session,
        admin,
        {
            "year": year,
            "criteria": CRITERIA,
            "drop_extremes": drop,
            "quota_mode": "count",
            "quotas": quotas or {"特等": 1, "一等": 1, "二等": 1, "三等": 10},
        },
    )
    grading.open_session(db.session, admin, gs.id)
    experts_ = [
        db.session.scalar(select(User).where(User.username == f"expert{i}")) or _user(f"expert{i}", ["expert"])
        for i in range(experts)
    ]
    entries = {e.project_id: e.id for e in grading.entries_of(db.session, gs)}
    for entry_id in entries.values():
        for expert in experts_:
            grading.assign_expert(db.session, admin, gs.id, entry_id, expert.id)
    return gs.id, [e.id for e in experts_], entries


def _seat(entry_id: int, expert_id: int) -> int:
    from server.models import PanelSeat

    return db.session.scalar(
        select(PanelSeat.id).where(PanelSeat.entry_id == entry_id, PanelSeat.expert_id == expert_id)
    )


def _score_all(entries: dict[int, int], expert_ids: list[int], by_project: dict[int, str]) -> None:
    """Every expert gives every criterion of each project the same score."""
    for project_id, entry_id in entries.items():
        for expert_id in expert_ids:
            expert = db.session.get(User, expert_id)
            value = by_project.get(project_id, "80")
            grading.save_scores(db.session, expert, _seat(entry_id, expert_id), {"c1": value, "c2": value}, "")


def _organizations(world, year: int) -> dict[int, int]:
    """An organization for each world project; with year ≠ 2026 the projects are copied into it."""
    admin = _admin()
    out = {}
    for pid in (world.p1, world.p2, world.p3):
        project = db.session.get(Project, pid)
        org = projects.create_organization(db.session, admin, {"name": f"{project.title}党支部"})
        if year == 2026:
            project.organization_id = org.id
            db.session.commit()
            out[pid] = org.id
        else:
            copy = projects.create_project(
                db.session,
                admin,
                {"title": project.title, "year": year, "village_ids": [world.v1], "organization_id": org.id},
            )
            out[copy.id] = org.id
    return out


def test_finalizing_needs_three_complete_expert_scores(app, world):
    """With two of three experts done on one project, finalizing is refused (409) and nothing changes."""
    with app.app_context():
        sid, experts_, entries = _session(world)
        _score_all(entries, experts_[:2], {})
        _score_all({world.p1: entries[world.p1], world.p2: entries[world.p2]}, experts_[2:], {})
        with pytest.raises(ApiError) as exc:
            grading.finalize(db.session, _admin(), sid)
        assert exc.value.status == 409
        assert "不足 3 人" in exc.value.message and "非公企业党建" in exc.value.message
        assert db.session.get(GradingSession, sid).status == "scoring"


def test_a_partly_scored_sheet_does_not_count(app, world):
    """An expert who left a criterion blank has not finished: the project still lacks a score."""
    with app.app_context():
        sid, experts_, entries = _session(world)
        _score_all(entries, experts_[:2], {})
        expert = db.session.get(User, experts_[2])
        for entry_id in entries.values():
            grading.save_scores(db.session, expert, _seat(entry_id, expert.id), {"c1": "90", "c2": ""}, "")
        rows = grading.progress(db.session, db.session.get(GradingSession, sid))
        assert [(r.complete, r.missing) for r in rows] == [(2, ["expert2"])] * 3


def test_dropping_sessions_need_five_complete_scores(app, world):
    """With drop-high-low, four complete scores per project are not enough to finalize."""
    with app.app_context():
        sid, experts_, entries = _session(world, drop=True, experts=4)
        _score_all(entries, experts_, {})
        with pytest.raises(ApiError) as exc:
            grading.finalize(db.session, _admin(), sid)
        assert exc.value.status == 409 and "不足 5 人" in exc.value.message


def test_finalizing_grades_ranks_and_flags(app, world):
    """Scores 90/80/70 with one place per grade give 特等/一等/二等, ranks 1–3, the last flagged."""
    with app.app_context():
        sid, experts_, entries = _session(world)
        _score_all(entries, experts_, {world.p1: "90", world.p2: "80", world.p3: "70"})
        grading.finalize(db.session, _admin(), sid)
        got = {
            e.project_id: (e.final_centi, e.rank, e.grade, e.bottom, e.expert_count)
            for e in db.session.scalars(select(GradingEntry))
        }
        assert got == {
            world.p1: (9000, 1, "特等", False, 3),
            world.p2: (8000, 2, "一等", False, 3),
            world.p3: (7000, 3, "二等", True, 3),
        }


def test_finalizing_writes_an_audit_checkpoint(app, world):
    """Right after grades are finalized a signed checkpoint of the chain's head, finalization included, is in storage."""
    from server.services import checkpoints

    with app.app_context():
        sid, experts_, entries = _session(world)
        _score_all(entries, experts_, {})
        grading.finalize(db.session, _admin(), sid)
        seq = db.session.scalar(select(AuditEntry.seq).where(AuditEntry.action == "grading.finalize"))
    stored, problems = checkpoints.read_all(app.extensions["storage"], app.config["AUDIT_KEY"])
    assert problems == [] and [(cp.reason, cp.seq) for _, cp in stored] == [("grading.finalize", seq)]


def test_finalizing_is_audited_and_freezes_the_session(app, world):
    """After finalizing, the audit log has the entry and experts can no longer change scores (409)."""
    with app.app_context():
        sid, experts_, entries = _session(world)
        _score_all(entries, experts_, {})
        grading.finalize(db.session, _admin(), sid)
        assert db.session.scalar(select(AuditEntry).where(AuditEntry.action == "grading.finalize")) is not None
        expert = db.session.get(User, experts_[0])
        with pytest.raises(ApiError) as exc:
            grading.save_scores(db.session, expert, _seat(entries[world.p1], expert.id), {"c1": "1", "c2": "1"}, "")
        assert exc.value.status == 409
        db.session.rollback()
        with pytest.raises(ApiError) as again:
            grading.finalize(db.session, _admin(), sid)
        assert again.value.status == 409


def test_configuration_is_frozen_once_scoring_opens(app, world):
    """Criteria cannot change under experts' feet: editing an opened session is a 409."""
    with app.app_context():
        sid, _, _ = _session(world, experts=0)
        with pytest.raises(ApiError) as exc:
            grading.update_session(db.session, _admin(), sid, {"criteria": [{"name": "推进", "weight": 100}]})
        assert exc.value.status == 409


def test_closed_projects_are_not_graded(app, world):
    """Opening takes in running and accepted projects of the year, not closed ones."""
    with app.app_context():
        db.session.get(Project, world.p2).status = "accepted"
        db.session.get(Project, world.p3).status = "closed"
        db.session.commit()
        sid, _, entries = _session(world, experts=0)
        assert set(entries) == {world.p1, world.p2}


def test_a_secretary_cannot_grade_their_own_project(app, world):
    """An expert who is the project's secretary is refused a seat on its panel."""
    with app.app_context():
        sid, _, entries = _session(world, experts=0)
        expert = _user("expert-sec", ["expert", "secretary"])
        db.session.get(Project, world.p1).secretary_id = expert.id
        db.session.commit()
        with pytest.raises(ApiError) as exc:
            grading.assign_expert(db.session, _admin(), sid, entries[world.p1], expert.id)
        assert exc.value.status == 400 and "回避" in exc.value.message


def test_bottom_two_years_running_deducts_points(app, world):
    """An organization last in 2025 and in 2026 gets one deduction for 2026 with the session's points."""
    with app.app_context():
        orgs_2026 = _organizations(world, 2026)
        sid, experts_, entries = _session(world)
        _score_all(entries, experts_, {world.p1: "90", world.p2: "80", world.p3: "70"})
        last_org = orgs_2026[world.p3]
        copy = projects.create_project(
            db.session,
            _admin(),
            {"title": "去年项目", "year": 2025, "village_ids": [world.v1], "organization_id": last_org},
        )
        other = projects.create_project(
            db.session, _admin(), {"title": "去年另一项目", "year": 2025, "village_ids": [world.v1]}
        )
        sid25, experts25, entries25 = _session(world, year=2025)
        _score_all(entries25, experts25, {copy.id: "60", other.id: "95"})
        grading.finalize(db.session, _admin(), sid25)
        assert db.session.scalar(select(PointDeduction)) is None
        grading.finalize(db.session, _admin(), sid)
        deductions = db.session.scalars(select(PointDeduction)).all()
        assert [(d.organization_id, d.year, d.points) for d in deductions] == [(last_org, 2026, 2)]


def test_one_bottom_year_deducts_nothing(app, world):
    """Last in 2026 but not in 2025: no deduction."""
    with app.app_context():
        orgs_2026 = _organizations(world, 2026)
        copy = projects.create_project(
            db.session,
            _admin(),
            {"title": "去年项目", "year": 2025, "village_ids": [world.v1], "organization_id": orgs_2026[world.p3]},
        )
        other = projects.create_project(
            db.session, _admin(), {"title": "去年另一项目", "year": 2025, "village_ids": [world.v1]}
        )
        sid25, experts25, entries25 = _session(world, year=2025)
        _score_all(entries25, experts25, {copy.id: "95", other.id: "60"})
        grading.finalize(db.session, _admin(), sid25)
        sid, experts_, entries = _session(world)
        _score_all(entries, experts_, {world.p1: "90", world.p2: "80", world.p3: "70"})
        grading.finalize(db.session, _admin(), sid)
        assert db.session.scalar(select(PointDeduction)) is None


def test_a_warning_gives_three_months_and_one_at_a_time(app, world):
    """软弱涣散: the deadline is three months on (clamped to month end); a second open one is a 409."""
    with app.app_context():
        org = projects.create_organization(db.session, _admin(), {"name": "江南村党支部"})
        warning = grading.create_warning(
            db.session, _admin(), {"organization_id": org.id, "reason": "推进不力", "listed_on": date(2026, 11, 30)}
        )
        assert warning.deadline == date(2027, 2, 28)
        with pytest.raises(ApiError) as exc:
            grading.create_warning(db.session, _admin(), {"organization_id": org.id, "reason": "再次"})
        assert exc.value.status == 409


def test_a_lifted_warning_cannot_be_lifted_again(app, world):
    """rectifying → lifted once; lifting again is a 409."""
    with app.app_context():
        org = projects.create_organization(db.session, _admin(), {"name": "江南村党支部"})
        warning = grading.create_warning(db.session, _admin(), {"organization_id": org.id, "reason": "推进不力"})
        grading.lift_warning(db.session, _admin(), warning.id, "整顿到位")
        with pytest.raises(ApiError) as exc:
            grading.lift_warning(db.session, _admin(), warning.id, "整顿到位")
        assert exc.value.status == 409


def test_each_notice_deducts_200_yuan_in_the_assessment(app, world):
    """Two 通报 of an organization show as 2 notices and 400 yuan on its row of the annual table."""
    with app.app_context():
        orgs = _organizations(world, 2026)
        for reason in ("推进不力", "弄虚作假"):
            grading.create_notice(
                db.session,
                _admin(),
                {"organization_id": orgs[world.p1], "reason": reason, "issued_on": date(2026, 6, 1)},
            )
        sid, experts_, entries = _session(world)
        _score_all(entries, experts_, {world.p1: "90"})
        gs = grading.finalize(db.session, _admin(), sid)
        rows = {r[1]: r for r in grading.assessment_rows(db.session, gs)}
        assert rows["蜜柚产业项目"][9:11] == [2, 400]
        assert rows["旱厕改造"][9:11] == [0, 0]


def test_only_admins_run_grading(app, world):
    """Leaders read but cannot create a session."""
    with app.app_context():
        leader = db.session.get(User, world.ids["leader"])
        with pytest.raises(ApiError) as exc:
            grading.create_session(db.session, leader, {"year": 2026})
        assert exc.value.status == 403
