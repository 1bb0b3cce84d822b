"""Finalizing a session: final scores, ranks, grades, the bottom 5% and the two-year deductions."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from server.models import (
    GRADES,
    GradingEntry,
    GradingSession,
    PointDeduction,
    User,
    utcnow,
)
from server.services import audit, checkpoints
from server.services.grading.panels import is_complete, progress, seat_scores
from server.services.grading.rules import (
    BOTTOM_PERCENT,
    allocate,
    bottom_keys,
    conflict,
    expert_total_milli,
    final_centi,
    rank,
    required_experts,
)
from server.services.grading.sessions import locked_in, require_admin


def finalize(session: Session, actor: User, session_id: int) -> GradingSession:
    """scoring → finalized: compute scores, ranks, grades, the bottom 5% and two-year deductions."""
    require_admin(actor)
    gs = locked_in(session, session_id, "scoring", "不能定等")
    rows = progress(session, gs)
    short = [r for r in rows if not r.ready]
    if short:
        session.rollback()
        titles = "、".join(r.entry.project.title for r in short[:5]) + (" 等" if len(short) > 5 else "")
        raise conflict(
            f"有 {len(short)} 个项目完成评分的专家不足 {required_experts(gs.drop_extremes)} 人:{titles}",
            project_ids=[r.entry.project_id for r in short],
        )
    scores = {}
    for r in rows:
        totals = [expert_total_milli(seat_scores(s), gs.criteria) for s in r.seats if is_complete(s, gs.criteria)]
        scores[r.entry.id] = final_centi(totals, gs.drop_extremes)
        r.entry.expert_count = len(totals)
        r.entry.final_centi = scores[r.entry.id]
    ranking = rank(scores)
    grades = allocate(ranking, gs.quota_mode, gs.quotas)
    bottom = bottom_keys(ranking)
    by_id = {r.entry.id: r.entry for r in rows}
    for placed in ranking:
        entry = by_id[placed.key]
        entry.rank, entry.grade, entry.bottom = placed.rank, grades[placed.key], placed.key in bottom
    gs.status, gs.finalized_at, gs.finalized_by_id = "finalized", utcnow(), actor.id
    session.flush()
    deductions = _two_year_deductions(session, gs)
    audit.append(
        session,
        actor,
        "grading.finalize",
        "grading_session",
        gs.id,
        {
            "projects": len(rows),
            "grades": {g: sum(1 for v in grades.values() if v == g) for g in GRADES},
            "bottom_project_ids": sorted(by_id[k].project_id for k in bottom),
            "deductions": [
                {"organization_id": d.organization_id, "year": d.year, "points": d.points} for d in deductions
            ],
        },
    )
    session.commit()
    checkpoints.after(session, "grading.finalize")
    return gs


def _bottom_orgs(session: Session, year: int) -> tuple[GradingSession | None, set[int]]:
    """A year's finalized session and the organizations with a project in its bottom 5%."""
    gs = session.scalar(select(GradingSession).where(GradingSession.year == year, GradingSession.status == "finalized"))
    if gs is None:
        return None, set()
    orgs = session.scalars(
        select(GradingEntry.organization_id).where(
            GradingEntry.session_id == gs.id, GradingEntry.bottom.is_(True), GradingEntry.organization_id.is_not(None)
        )
    ).all()
    return gs, set(orgs)


def _two_year_deductions(session: Session, gs: GradingSession) -> list[PointDeduction]:
    """Deductions for organizations in the bottom 5% of this year and of the year before (or after)."""
    made = []
    for earlier, later in ((gs.year - 1, gs.year), (gs.year, gs.year + 1)):
        _, first = _bottom_orgs(session, earlier)
        later_session, second = _bottom_orgs(session, later)
        for org_id in sorted(first & second):
            exists = session.scalar(
                select(PointDeduction.id).where(PointDeduction.organization_id == org_id, PointDeduction.year == later)
            )
            if exists is None:
                deduction = PointDeduction(
                    organization_id=org_id,
                    year=later,
                    session_id=later_session.id,
                    points=later_session.deduction_points,
                    reason=f"{earlier}、{later} 年度书记项目评审连续两年位于后 {BOTTOM_PERCENT}%",
                )
                session.add(deduction)
                made.append(deduction)
    session.flush()
    return made


def deductions_of(session: Session, year: int) -> dict[int, PointDeduction]:
    """The year's point deductions by organization."""
    return {d.organization_id: d for d in session.scalars(select(PointDeduction).where(PointDeduction.year == year))}
