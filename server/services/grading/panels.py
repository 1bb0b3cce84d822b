"""Expert panels: seating experts on projects, their progress, and the experts' own scoring."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from server.errors import ApiError
from server.models import (
    GradingEntry,
    GradingScore,
    GradingSession,
    PanelSeat,
    User,
    utcnow,
)
from server.services import audit
from server.services.grading.rules import (
    MAX_TEXT,
    conflict,
    expert_total_milli,
    invalid,
    parse_score,
    required_experts,
)
from server.services.grading.sessions import entries_of, locked_in, require_admin

# ---- panels -----------------------------------------------------------------------------------


def experts(session: Session) -> list[User]:
    """Active accounts holding the expert role, by name."""
    return list(
        session.scalars(
            select(User).where(User.active.is_(True), User.role_rows.any(role="expert")).order_by(User.name, User.id)
        )
    )


def _entry_in(session: Session, gs: GradingSession, entry_id: int) -> GradingEntry:
    entry = session.get(GradingEntry, entry_id)
    if entry is None or entry.session_id != gs.id:
        raise ApiError("not_found", "找不到该评分项目", {"entry_id": entry_id})
    return entry


def assign_expert(session: Session, actor: User, session_id: int, entry_id: int, expert_id: int) -> PanelSeat:
    """Seat an expert on a project's panel while scoring is open; an expert never grades their own project."""
    require_admin(actor)
    gs = locked_in(session, session_id, "scoring", "不能调整评审专家")
    entry = _entry_in(session, gs, entry_id)
    expert = session.get(User, expert_id)
    if expert is None or not expert.active or not expert.has_role("expert"):
        raise ApiError("not_found", "找不到该评审专家", {"expert_id": expert_id})
    if entry.project.secretary_id == expert.id:
        raise invalid("评审专家是该项目的书记,应当回避", "expert_id")
    if (
        session.scalar(select(PanelSeat.id).where(PanelSeat.entry_id == entry.id, PanelSeat.expert_id == expert.id))
        is not None
    ):
        raise conflict(f"{expert.name}已是该项目的评审专家", expert_id=expert.id)
    seat = PanelSeat(entry_id=entry.id, expert_id=expert.id, comment="", assigned_by_id=actor.id)
    session.add(seat)
    session.flush()
    audit.append(
        session,
        actor,
        "grading.assign",
        "grading_seat",
        seat.id,
        {"session_id": gs.id, "project_id": entry.project_id, "expert_id": expert.id},
    )
    session.commit()
    return seat


def unassign_expert(session: Session, actor: User, session_id: int, seat_id: int) -> None:
    """Take an expert off a panel while scoring is open; their scores of that project go with them."""
    require_admin(actor)
    gs = locked_in(session, session_id, "scoring", "不能调整评审专家")
    seat = session.get(PanelSeat, seat_id)
    entry = session.get(GradingEntry, seat.entry_id) if seat else None
    if entry is None or entry.session_id != gs.id:
        raise ApiError("not_found", "找不到该评审安排", {"seat_id": seat_id})
    audit.append(
        session,
        actor,
        "grading.unassign",
        "grading_seat",
        seat.id,
        {
            "session_id": gs.id,
            "entry_id": seat.entry_id,
            "expert_id": seat.expert_id,
            "scores_removed": len(seat.scores),
        },
    )
    session.delete(seat)
    session.commit()


def seats_of(session: Session, entries: list[GradingEntry]) -> dict[int, list[PanelSeat]]:
    """The panel seats of many entries, by entry id (expert order)."""
    out: dict[int, list[PanelSeat]] = defaultdict(list)
    if entries:
        for seat in session.scalars(
            select(PanelSeat).where(PanelSeat.entry_id.in_([e.id for e in entries])).order_by(PanelSeat.id)
        ):
            out[seat.entry_id].append(seat)
    return out


def is_complete(seat: PanelSeat, criteria: list[dict[str, Any]]) -> bool:
    """True when the expert has scored every criterion."""
    return {c["key"] for c in criteria} <= {s.criterion for s in seat.scores}


@dataclass
class Progress:
    """How far one project's panel has got."""

    entry: GradingEntry
    seats: list[PanelSeat]
    complete: int
    required: int
    missing: list[str] = field(default_factory=list)  # names of experts who have not finished
    pending: set[int] = field(default_factory=set)  # their seat ids

    @property
    def ready(self) -> bool:
        """True when enough experts have finished for the project to be finalized."""
        return self.complete >= self.required


def progress(session: Session, gs: GradingSession) -> list[Progress]:
    """Per project: its experts, how many have scored every criterion, and who is still missing."""
    entries = entries_of(session, gs)
    seats = seats_of(session, entries)
    names = user_names(session, {s.expert_id for ss in seats.values() for s in ss})
    out = []
    for entry in entries:
        own = seats[entry.id]
        done = [s for s in own if is_complete(s, gs.criteria)]
        out.append(
            Progress(
                entry,
                own,
                len(done),
                required_experts(gs.drop_extremes),
                [names.get(s.expert_id, "") for s in own if s not in done],
                {s.id for s in own if s not in done},
            )
        )
    return out


def user_names(session: Session, ids: set[int]) -> dict[int, str]:
    """Names of many users by id, in one query."""
    if not ids:
        return {}
    return dict(session.execute(select(User.id, User.name).where(User.id.in_(ids))).all())


# ---- experts scoring --------------------------------------------------------------------------


def seats_for_expert(session: Session, expert: User) -> list[tuple[PanelSeat, GradingEntry, GradingSession]]:
    """The expert's own seats in open or finalized sessions, newest year first."""
    rows = session.execute(
        select(PanelSeat, GradingEntry, GradingSession)
        .join(GradingEntry, GradingEntry.id == PanelSeat.entry_id)
        .join(GradingSession, GradingSession.id == GradingEntry.session_id)
        .where(PanelSeat.expert_id == expert.id, GradingSession.status.in_(("scoring", "finalized")))
        .order_by(GradingSession.year.desc(), GradingEntry.project_id)
    )
    return [tuple(r) for r in rows]


def seat_for_expert(session: Session, expert: User, seat_id: int) -> tuple[PanelSeat, GradingEntry, GradingSession]:
    """One of the expert's own seats; anything else (someone else's, a draft) is not_found."""
    seat = session.get(PanelSeat, seat_id)
    entry = session.get(GradingEntry, seat.entry_id) if seat else None
    gs = session.get(GradingSession, entry.session_id) if entry else None
    if seat is None or seat.expert_id != expert.id or gs is None or gs.status == "draft":
        raise ApiError("not_found", "找不到该评审项目", {"id": seat_id})
    return seat, entry, gs


def save_scores(session: Session, expert: User, seat_id: int, scores: dict[str, Any], comment: str) -> PanelSeat:
    """Save the expert's scores (blank ones are left unscored) and comment, while scoring is open."""
    seat, entry, gs = seat_for_expert(session, expert, seat_id)
    gs = locked_in(session, gs.id, "scoring", "不能再修改评分")
    comment = (comment or "").strip()
    if len(comment) > MAX_TEXT:
        raise invalid(f"评审意见最多 {MAX_TEXT} 个字", "comment")
    parsed = {}
    for c in gs.criteria:
        try:
            parsed[c["key"]] = parse_score(scores.get(c["key"]))
        except ApiError as exc:
            raise invalid(f"{c['name']}:{exc.message}", c["key"]) from None
    kept = {k: v for k, v in parsed.items() if v is not None}
    # Changed in place: replacing the rows would insert a (seat, criterion) key before deleting it.
    existing = {s.criterion: s for s in seat.scores}
    for key, row in existing.items():
        if key not in kept:
            seat.scores.remove(row)
    for key, tenths in kept.items():
        if key in existing:
            existing[key].tenths = tenths
        else:
            seat.scores.append(GradingScore(criterion=key, tenths=tenths))
    seat.comment, seat.scored_at = comment, utcnow()
    session.flush()
    audit.append(
        session,
        expert,
        "grading.score",
        "grading_seat",
        seat.id,
        {"session_id": gs.id, "project_id": entry.project_id, "scores": kept},
    )
    session.commit()
    return seat


def seat_scores(seat: PanelSeat) -> dict[str, int]:
    """The seat's scores in tenths, by criterion key."""
    return {s.criterion: s.tenths for s in seat.scores}


def panel_totals(session: Session, gs: GradingSession, entry: GradingEntry) -> list[int]:
    """The complete experts' totals of one project in thousandths, best first (names left out)."""
    seats = seats_of(session, [entry])[entry.id]
    return sorted(
        (expert_total_milli(seat_scores(s), gs.criteria) for s in seats if is_complete(s, gs.criteria)), reverse=True
    )
