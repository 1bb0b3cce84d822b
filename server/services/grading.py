"""Annual grading of 书记项目 by expert panels, and the rewards and penalties that follow.

A session per year runs draft → scoring → finalized. In draft, staff set the criteria (weights
summing to 100), whether one highest and one lowest expert total are dropped, the grade quotas
(counts or percentages) and the points deducted for two bottom years running. Opening takes
every gradable project of the year in and freezes the configuration; staff then seat experts
on each project's panel and experts score each criterion from 0 to 100 (one decimal).
Finalizing computes results and freezes everything.

The rules, in the order they are applied:
- An expert's total is Σ score × weight / 100. A project's final score is the mean of its
  experts' totals, rounded half up to two decimals. With dropping enabled, one highest and one
  lowest total are left out, so at least three still count; such a session needs five complete
  scores per project (three otherwise), and finalizing is refused while any project has fewer.
- Rank: by final score, best first; equal scores share a rank (1, 2, 2, 4).
- Grades: quotas are cumulative cut-offs down the ranking. A percentage becomes a count of
  round-half-up(cumulative % × N / 100), so rounding never hands out more places than there
  are projects. A tie that straddles a cut-off is resolved in the projects' favour: the
  whole tied group takes the better grade and the next grade's places shrink by as much.
  Projects beyond every quota are left without a grade (不列等次).
- Bottom 5%: the last ceil(5% × N) places. Ties again go in the projects' favour: a tied
  group is flagged only when its best place is inside the bottom zone.
- Bottom two years running (the seeds: 连续2年位于后5%的党组织予以扣分): an organization with a
  flagged project in year Y and in year Y-1 gets one point deduction for year Y, made when the
  later of the two sessions is finalized. Projects without an organization cannot be matched.

软弱涣散 warnings are listed by staff with a deadline three months on, and lifted once the
organization has been put right; 通报 each cost the secretary 200 yuan of performance pay.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

from openpyxl import Workbook
from sqlalchemy import select
from sqlalchemy.orm import Session

from server.clock import add_months
from server.clock import today as today_china
from server.errors import ApiError
from server.models import (
    GRADES,
    GRADING_STATUSES,
    QUOTA_MODES,
    WARNING_STATUSES,
    GradingEntry,
    GradingScore,
    GradingSession,
    Organization,
    PanelSeat,
    PointDeduction,
    Project,
    PublicNotice,
    User,
    WeakOrgWarning,
    utcnow,
)
from server.services import audit, checkpoints
from server.services.common import for_update

GRADABLE_STATUSES = ("in_progress", "accepted")
MIN_EXPERTS = 3
MIN_EXPERTS_DROPPING = 5
BOTTOM_PERCENT = 5
NOTICE_DEDUCTION_YUAN = 200
WARNING_MONTHS = 3
MAX_CRITERIA = 12
MAX_TEXT = 2000
DEFAULT_CRITERIA = [
    {"name": "项目推进情况", "weight": 30},
    {"name": "特色与辨识度", "weight": 20},
    {"name": "破解党建难题成效", "weight": 30},
    {"name": "群众评价", "weight": 20},
]
# Close to the seeds' 64 projects graded 1 / 12 / 32 / 19.
DEFAULT_QUOTAS = {"特等": 2, "一等": 18, "二等": 50, "三等": 30}


def _conflict(message: str, **details: Any) -> ApiError:
    return ApiError("conflict", message, details)


def _invalid(message: str, field_name: str) -> ApiError:
    return ApiError("validation_failed", message, {"field": field_name})


# ---- pure rules -------------------------------------------------------------------------------

def parse_criteria(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Validated criteria with keys c1..cn: non-empty distinct names, whole positive weights summing to 100."""
    cleaned = []
    for n, row in enumerate(rows, start=1):
        name = str(row.get("name") or "").strip()
        weight = row.get("weight")
        if not name:
            raise _invalid(f"第 {n} 项评分指标缺少名称", "criteria")
        if len(name) > 50:
            raise _invalid(f"评分指标“{name}”超过 50 个字", "criteria")
        if isinstance(weight, str) and weight.strip().isdigit():
            weight = int(weight.strip())
        if not isinstance(weight, int) or isinstance(weight, bool) or not 1 <= weight <= 100:
            raise _invalid(f"评分指标“{name}”的权重应为 1 到 100 的整数", "criteria")
        cleaned.append({"key": f"c{n}", "name": name, "weight": weight})
    if not cleaned:
        raise _invalid("请至少设置一项评分指标", "criteria")
    if len(cleaned) > MAX_CRITERIA:
        raise _invalid(f"评分指标最多 {MAX_CRITERIA} 项", "criteria")
    if len({c["name"] for c in cleaned}) != len(cleaned):
        raise _invalid("评分指标名称不能重复", "criteria")
    total = sum(c["weight"] for c in cleaned)
    if total != 100:
        raise _invalid(f"各项权重之和应为 100,现为 {total}", "criteria")
    return cleaned


def parse_quotas(mode: str, values: dict[str, Any]) -> dict[str, int]:
    """Validated quotas per grade: whole numbers ≥ 0; percentages may not add up to more than 100."""
    if mode not in QUOTA_MODES:
        raise _invalid("等次名额方式应为按比例或按名额", "quota_mode")
    out = {}
    for grade in GRADES:
        raw = values.get(grade, 0)
        raw = raw.strip() if isinstance(raw, str) else raw
        if raw in ("", None):
            raw = 0
        if isinstance(raw, str) and raw.isdigit():
            raw = int(raw)
        if not isinstance(raw, int) or isinstance(raw, bool) or raw < 0:
            raise _invalid(f"{grade}名额应为不小于 0 的整数", "quotas")
        out[grade] = raw
    if mode == "percent" and sum(out.values()) > 100:
        raise _invalid(f"各等次比例之和不能超过 100%,现为 {sum(out.values())}%", "quotas")
    return out


def parse_score(raw: Any) -> int | None:
    """A typed score as tenths of a point: 0–100 with at most one decimal; None when left empty."""
    text = str(raw if raw is not None else "").strip()
    if not text:
        return None
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise _invalid(f"分数“{text}”不是数字", "scores") from None
    if not value.is_finite() or not 0 <= value <= 100:
        raise _invalid(f"分数“{text}”应在 0 到 100 之间", "scores")
    tenths = value * 10
    if tenths != tenths.to_integral_value():
        raise _invalid(f"分数“{text}”最多保留一位小数", "scores")
    return int(tenths)


def expert_total_milli(tenths: dict[str, int], criteria: list[dict[str, Any]]) -> int:
    """An expert's weighted total in thousandths of a point: Σ (tenths / 10) × weight / 100 × 1000."""
    return sum(tenths[c["key"]] * c["weight"] for c in criteria)


def required_experts(drop_extremes: bool) -> int:
    """Complete expert scores a project needs before the session may be finalized."""
    return MIN_EXPERTS_DROPPING if drop_extremes else MIN_EXPERTS


def final_centi(totals_milli: list[int], drop_extremes: bool) -> int:
    """The final score in hundredths: the (trimmed) mean of expert totals, rounded half up."""
    counted = sorted(totals_milli)
    if drop_extremes:
        if len(counted) < MIN_EXPERTS_DROPPING:
            raise ValueError("dropping the extremes needs five totals")
        counted = counted[1:-1]
    if not counted:
        raise ValueError("no totals")
    # mean in thousandths = Σ / k; in hundredths = Σ / (10k), rounded half up in integers.
    num, den = sum(counted), 10 * len(counted)
    return (2 * num + den) // (2 * den)


@dataclass(frozen=True)
class Placed:
    """A project's place in the ranking: its rank and the 0-based positions its tied group spans."""

    key: int
    score: int
    rank: int
    first: int
    last: int


def rank(scores: dict[int, int]) -> list[Placed]:
    """Best first; equal scores share a rank and a span of positions (listed by key within a tie)."""
    ordered = sorted(scores.items(), key=lambda kv: (-kv[1], kv[0]))
    out, i = [], 0
    while i < len(ordered):
        j = i
        while j + 1 < len(ordered) and ordered[j + 1][1] == ordered[i][1]:
            j += 1
        out.extend(Placed(key, score, i + 1, i, j) for key, score in ordered[i:j + 1])
        i = j + 1
    return out


def grade_cutoffs(n: int, mode: str, quotas: dict[str, int]) -> list[int]:
    """For each grade in GRADES, how many places the grades down to it cover in total (≤ n)."""
    out, cumulative = [], 0
    for grade in GRADES:
        cumulative += quotas.get(grade, 0)
        places = cumulative if mode == "count" else (2 * cumulative * n + 100) // 200
        out.append(min(n, places))
    return out


def allocate(ranking: list[Placed], mode: str, quotas: dict[str, int]) -> dict[int, str | None]:
    """The grade of each ranked key; a tied group takes the grade of its best place."""
    cutoffs = grade_cutoffs(len(ranking), mode, quotas)
    return {p.key: next((g for g, cut in zip(GRADES, cutoffs, strict=True) if p.first < cut), None)
            for p in ranking}


def bottom_size(n: int) -> int:
    """How many places the bottom 5% of n projects covers (rounded up)."""
    return -(-n * BOTTOM_PERCENT // 100)


def bottom_keys(ranking: list[Placed]) -> set[int]:
    """Keys in the bottom 5%; a tied group is flagged only if its best place is in it."""
    n = len(ranking)
    start = n - bottom_size(n)
    return {p.key for p in ranking if p.first >= start}


def format_score(centi_or_milli: int | None, scale: int = 100) -> str:
    """A stored score as text with two decimals ("" when missing)."""
    if centi_or_milli is None:
        return ""
    return f"{Decimal(centi_or_milli) / scale:.2f}"


# ---- sessions ---------------------------------------------------------------------------------

def list_sessions(session: Session) -> list[GradingSession]:
    """Every session, newest year first."""
    return list(session.scalars(select(GradingSession).order_by(GradingSession.year.desc())))


def get_session(session: Session, session_id: int) -> GradingSession:
    """One session by id, or not_found."""
    gs = session.get(GradingSession, session_id)
    if gs is None:
        raise ApiError("not_found", "找不到该年度评分", {"id": session_id})
    return gs


def _locked_session(session: Session, session_id: int) -> GradingSession:
    gs = session.execute(for_update(select(GradingSession).where(GradingSession.id == session_id))
                         ).scalar_one_or_none()
    if gs is None:
        raise ApiError("not_found", "找不到该年度评分", {"id": session_id})
    return gs


def _require_admin(user: User) -> None:
    if not user.has_role("admin"):
        raise ApiError("forbidden", "只有管理员可以管理评分与考核")


def _config(data: dict[str, Any], base: GradingSession | None = None) -> dict[str, Any]:
    """Validated configuration fields from `data`, falling back to `base` (or the defaults)."""
    title = str(data.get("title") if data.get("title") is not None else (base.title if base else "")).strip()
    if not title:
        raise _invalid("请填写评分名称", "title")
    if len(title) > 100:
        raise _invalid("评分名称最多 100 个字", "title")
    criteria = parse_criteria(data["criteria"]) if "criteria" in data else \
        (base.criteria if base else parse_criteria(DEFAULT_CRITERIA))
    mode = data.get("quota_mode") or (base.quota_mode if base else "percent")
    quotas = parse_quotas(mode, data["quotas"]) if "quotas" in data else \
        parse_quotas(mode, base.quotas if base else DEFAULT_QUOTAS)
    points = data.get("deduction_points", base.deduction_points if base else 2)
    if isinstance(points, str) and points.strip().isdigit():
        points = int(points.strip())
    if not isinstance(points, int) or isinstance(points, bool) or not 0 <= points <= 100:
        raise _invalid("扣分应为 0 到 100 的整数", "deduction_points")
    drop = bool(data.get("drop_extremes", base.drop_extremes if base else False))
    return {"title": title, "criteria": criteria, "quota_mode": mode, "quotas": quotas,
            "deduction_points": points, "drop_extremes": drop}


def create_session(session: Session, actor: User, data: dict[str, Any]) -> GradingSession:
    """Start a year's grading in draft; one session per year."""
    _require_admin(actor)
    year = data.get("year")
    if isinstance(year, str) and year.strip().isdigit():
        year = int(year.strip())
    if not isinstance(year, int) or isinstance(year, bool) or not 2000 <= year <= 2100:
        raise _invalid("请填写正确的年度", "year")
    if session.scalar(select(GradingSession.id).where(GradingSession.year == year)) is not None:
        raise _conflict(f"{year} 年度的评分已经建立", year=year)
    gs = GradingSession(year=year, status="draft", created_by_id=actor.id,
                        **_config({**data, "title": data.get("title") or f"{year} 年度书记项目评审"}))
    session.add(gs)
    session.flush()
    audit.append(session, actor, "grading.create", "grading_session", gs.id, {"year": year})
    session.commit()
    return gs


def update_session(session: Session, actor: User, session_id: int, data: dict[str, Any]) -> GradingSession:
    """Change the configuration of a session still in draft."""
    _require_admin(actor)
    gs = _locked_session(session, session_id)
    if gs.status != "draft":
        session.rollback()
        raise _conflict(f"该评分{GRADING_STATUSES[gs.status]},不能再修改评分规则", status=gs.status)
    for key, value in _config(data, gs).items():
        setattr(gs, key, value)
    audit.append(session, actor, "grading.update", "grading_session", gs.id, {"fields": sorted(data)})
    session.commit()
    return gs


def gradable_projects(session: Session, year: int) -> list[Project]:
    """Projects of the year that are graded: running or accepted, not closed."""
    return list(session.scalars(select(Project).where(Project.year == year,
                                                      Project.status.in_(GRADABLE_STATUSES))
                                .order_by(Project.id)))


def open_session(session: Session, actor: User, session_id: int) -> GradingSession:
    """draft → scoring: take in the year's gradable projects and freeze the configuration."""
    _require_admin(actor)
    gs = _locked_session(session, session_id)
    if gs.status != "draft":
        session.rollback()
        raise _conflict(f"该评分{GRADING_STATUSES[gs.status]},不能再开始评分", status=gs.status)
    projects = gradable_projects(session, gs.year)
    if not projects:
        session.rollback()
        raise _conflict(f"{gs.year} 年度没有实施中或已验收的项目,无法开始评分", year=gs.year)
    for p in projects:
        session.add(GradingEntry(session_id=gs.id, project_id=p.id, organization_id=p.organization_id))
    gs.status, gs.opened_at = "scoring", utcnow()
    audit.append(session, actor, "grading.open", "grading_session", gs.id, {"projects": len(projects)})
    session.commit()
    return gs


def entries_of(session: Session, gs: GradingSession) -> list[GradingEntry]:
    """A session's projects: by rank once finalized, else in the order they were taken in."""
    stmt = select(GradingEntry).where(GradingEntry.session_id == gs.id)
    if gs.status == "finalized":
        stmt = stmt.order_by(GradingEntry.rank, GradingEntry.project_id)
    else:
        stmt = stmt.order_by(GradingEntry.project_id)
    return list(session.scalars(stmt))


# ---- panels -----------------------------------------------------------------------------------

def experts(session: Session) -> list[User]:
    """Active accounts holding the expert role, by name."""
    return list(session.scalars(select(User).where(User.active.is_(True), User.role_rows.any(role="expert"))
                                .order_by(User.name, User.id)))


def _entry_in(session: Session, gs: GradingSession, entry_id: int) -> GradingEntry:
    entry = session.get(GradingEntry, entry_id)
    if entry is None or entry.session_id != gs.id:
        raise ApiError("not_found", "找不到该评分项目", {"entry_id": entry_id})
    return entry


def assign_expert(session: Session, actor: User, session_id: int, entry_id: int, expert_id: int) -> PanelSeat:
    """Seat an expert on a project's panel while scoring is open; an expert never grades their own project."""
    _require_admin(actor)
    gs = _locked_session(session, session_id)
    if gs.status != "scoring":
        session.rollback()
        raise _conflict(f"该评分{GRADING_STATUSES[gs.status]},不能调整评审专家", status=gs.status)
    entry = _entry_in(session, gs, entry_id)
    expert = session.get(User, expert_id)
    if expert is None or not expert.active or not expert.has_role("expert"):
        raise ApiError("not_found", "找不到该评审专家", {"expert_id": expert_id})
    if entry.project.secretary_id == expert.id:
        raise _invalid("评审专家是该项目的书记,应当回避", "expert_id")
    if session.scalar(select(PanelSeat.id).where(PanelSeat.entry_id == entry.id,
                                                 PanelSeat.expert_id == expert.id)) is not None:
        raise _conflict(f"{expert.name}已是该项目的评审专家", expert_id=expert.id)
    seat = PanelSeat(entry_id=entry.id, expert_id=expert.id, comment="", assigned_by_id=actor.id)
    session.add(seat)
    session.flush()
    audit.append(session, actor, "grading.assign", "grading_seat", seat.id,
                 {"session_id": gs.id, "project_id": entry.project_id, "expert_id": expert.id})
    session.commit()
    return seat


def unassign_expert(session: Session, actor: User, session_id: int, seat_id: int) -> None:
    """Take an expert off a panel while scoring is open; their scores of that project go with them."""
    _require_admin(actor)
    gs = _locked_session(session, session_id)
    if gs.status != "scoring":
        session.rollback()
        raise _conflict(f"该评分{GRADING_STATUSES[gs.status]},不能调整评审专家", status=gs.status)
    seat = session.get(PanelSeat, seat_id)
    entry = session.get(GradingEntry, seat.entry_id) if seat else None
    if entry is None or entry.session_id != gs.id:
        raise ApiError("not_found", "找不到该评审安排", {"seat_id": seat_id})
    audit.append(session, actor, "grading.unassign", "grading_seat", seat.id,
                 {"session_id": gs.id, "entry_id": seat.entry_id, "expert_id": seat.expert_id,
                  "scores_removed": len(seat.scores)})
    session.delete(seat)
    session.commit()


def seats_of(session: Session, entries: list[GradingEntry]) -> dict[int, list[PanelSeat]]:
    """The panel seats of many entries, by entry id (expert order)."""
    out: dict[int, list[PanelSeat]] = defaultdict(list)
    if entries:
        for seat in session.scalars(select(PanelSeat).where(PanelSeat.entry_id.in_([e.id for e in entries]))
                                    .order_by(PanelSeat.id)):
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
        out.append(Progress(entry, own, len(done), required_experts(gs.drop_extremes),
                            [names.get(s.expert_id, "") for s in own if s not in done],
                            {s.id for s in own if s not in done}))
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
        .order_by(GradingSession.year.desc(), GradingEntry.project_id))
    return [tuple(r) for r in rows]


def seat_for_expert(session: Session, expert: User, seat_id: int) -> tuple[PanelSeat, GradingEntry, GradingSession]:
    """One of the expert's own seats; anything else (someone else's, a draft) is not_found."""
    seat = session.get(PanelSeat, seat_id)
    entry = session.get(GradingEntry, seat.entry_id) if seat else None
    gs = session.get(GradingSession, entry.session_id) if entry else None
    if seat is None or seat.expert_id != expert.id or gs is None or gs.status == "draft":
        raise ApiError("not_found", "找不到该评审项目", {"id": seat_id})
    return seat, entry, gs


def save_scores(session: Session, expert: User, seat_id: int, scores: dict[str, Any],
                comment: str) -> PanelSeat:
    """Save the expert's scores (blank ones are left unscored) and comment, while scoring is open."""
    seat, entry, gs = seat_for_expert(session, expert, seat_id)
    gs = _locked_session(session, gs.id)
    if gs.status != "scoring":
        session.rollback()
        raise _conflict(f"该评分{GRADING_STATUSES[gs.status]},不能再修改评分", status=gs.status)
    comment = (comment or "").strip()
    if len(comment) > MAX_TEXT:
        raise _invalid(f"评审意见最多 {MAX_TEXT} 个字", "comment")
    parsed = {}
    for c in gs.criteria:
        try:
            parsed[c["key"]] = parse_score(scores.get(c["key"]))
        except ApiError as exc:
            raise _invalid(f"{c['name']}:{exc.message}", c["key"]) from None
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
    audit.append(session, expert, "grading.score", "grading_seat", seat.id,
                 {"session_id": gs.id, "project_id": entry.project_id, "scores": kept})
    session.commit()
    return seat


def seat_scores(seat: PanelSeat) -> dict[str, int]:
    """The seat's scores in tenths, by criterion key."""
    return {s.criterion: s.tenths for s in seat.scores}


def panel_totals(session: Session, gs: GradingSession, entry: GradingEntry) -> list[int]:
    """The complete experts' totals of one project in thousandths, best first (names left out)."""
    seats = seats_of(session, [entry])[entry.id]
    return sorted((expert_total_milli(seat_scores(s), gs.criteria) for s in seats if is_complete(s, gs.criteria)),
                  reverse=True)


# ---- finalizing -------------------------------------------------------------------------------

def finalize(session: Session, actor: User, session_id: int) -> GradingSession:
    """scoring → finalized: compute scores, ranks, grades, the bottom 5% and two-year deductions."""
    _require_admin(actor)
    gs = _locked_session(session, session_id)
    if gs.status != "scoring":
        session.rollback()
        raise _conflict(f"该评分{GRADING_STATUSES[gs.status]},不能定等", status=gs.status)
    rows = progress(session, gs)
    short = [r for r in rows if not r.ready]
    if short:
        session.rollback()
        titles = "、".join(r.entry.project.title for r in short[:5]) + (" 等" if len(short) > 5 else "")
        raise _conflict(f"有 {len(short)} 个项目完成评分的专家不足 {required_experts(gs.drop_extremes)} 人:{titles}",
                        project_ids=[r.entry.project_id for r in short])
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
    audit.append(session, actor, "grading.finalize", "grading_session", gs.id, {
        "projects": len(rows), "grades": {g: sum(1 for v in grades.values() if v == g) for g in GRADES},
        "bottom_project_ids": sorted(by_id[k].project_id for k in bottom),
        "deductions": [{"organization_id": d.organization_id, "year": d.year, "points": d.points}
                       for d in deductions]})
    session.commit()
    checkpoints.after(session, "grading.finalize")
    return gs


def _bottom_orgs(session: Session, year: int) -> tuple[GradingSession | None, set[int]]:
    """A year's finalized session and the organizations with a project in its bottom 5%."""
    gs = session.scalar(select(GradingSession).where(GradingSession.year == year,
                                                     GradingSession.status == "finalized"))
    if gs is None:
        return None, set()
    orgs = session.scalars(select(GradingEntry.organization_id).where(
        GradingEntry.session_id == gs.id, GradingEntry.bottom.is_(True),
        GradingEntry.organization_id.is_not(None))).all()
    return gs, set(orgs)


def _two_year_deductions(session: Session, gs: GradingSession) -> list[PointDeduction]:
    """Deductions for organizations in the bottom 5% of this year and of the year before (or after)."""
    made = []
    for earlier, later in ((gs.year - 1, gs.year), (gs.year, gs.year + 1)):
        _, first = _bottom_orgs(session, earlier)
        later_session, second = _bottom_orgs(session, later)
        for org_id in sorted(first & second):
            exists = session.scalar(select(PointDeduction.id).where(
                PointDeduction.organization_id == org_id, PointDeduction.year == later))
            if exists is None:
                deduction = PointDeduction(
                    organization_id=org_id, year=later, session_id=later_session.id,
                    points=later_session.deduction_points,
                    reason=f"{earlier}、{later} 年度书记项目评审连续两年位于后 {BOTTOM_PERCENT}%")
                session.add(deduction)
                made.append(deduction)
    session.flush()
    return made


def deductions_of(session: Session, year: int) -> dict[int, PointDeduction]:
    """The year's point deductions by organization."""
    return {d.organization_id: d for d in session.scalars(select(PointDeduction).where(PointDeduction.year == year))}


# ---- 软弱涣散 warnings ------------------------------------------------------------------------

def _organization(session: Session, org_id: Any) -> Organization:
    org = session.get(Organization, org_id) if isinstance(org_id, int) else None
    if org is None:
        raise ApiError("not_found", "找不到该党组织", {"organization_id": org_id})
    return org


def _reason(text: Any) -> str:
    reason = str(text or "").strip()
    if not reason:
        raise _invalid("请填写事由", "reason")
    if len(reason) > MAX_TEXT:
        raise _invalid(f"事由最多 {MAX_TEXT} 个字", "reason")
    return reason


def list_warnings(session: Session) -> list[WeakOrgWarning]:
    """Warnings still being rectified first (earliest deadline first), then lifted ones, newest first."""
    rows = session.scalars(select(WeakOrgWarning).order_by(WeakOrgWarning.id.desc())).all()
    return sorted(rows, key=lambda w: (w.status != "rectifying",
                                       w.deadline.toordinal() if w.status == "rectifying" else 0))


def is_warning_overdue(warning: WeakOrgWarning, today: date | None = None) -> bool:
    """True when a warning is still being rectified after its deadline."""
    return warning.status == "rectifying" and warning.deadline < (today or today_china())


def create_warning(session: Session, actor: User, data: dict[str, Any]) -> WeakOrgWarning:
    """List an organization as 软弱涣散 with three months to rectify; one open warning per organization."""
    _require_admin(actor)
    org = _organization(session, data.get("organization_id"))
    reason = _reason(data.get("reason"))
    listed_on = data.get("listed_on") or today_china()
    if session.scalar(select(WeakOrgWarning.id).where(WeakOrgWarning.organization_id == org.id,
                                                      WeakOrgWarning.status == "rectifying")) is not None:
        raise _conflict(f"{org.name}已在软弱涣散预警名单中,正在整顿", organization_id=org.id)
    warning = WeakOrgWarning(organization_id=org.id, reason=reason, listed_on=listed_on,
                             deadline=add_months(listed_on, WARNING_MONTHS), status="rectifying",
                             listed_by_id=actor.id)
    session.add(warning)
    session.flush()
    audit.append(session, actor, "grading.warning", "weak_org_warning", warning.id, {
        "organization_id": org.id, "deadline": warning.deadline.isoformat()})
    session.commit()
    return warning


def lift_warning(session: Session, actor: User, warning_id: int, note: str) -> WeakOrgWarning:
    """Lift (销号) a warning once the organization has been put right."""
    _require_admin(actor)
    warning = session.execute(for_update(select(WeakOrgWarning).where(WeakOrgWarning.id == warning_id))
                              ).scalar_one_or_none()
    if warning is None:
        raise ApiError("not_found", "找不到该预警", {"id": warning_id})
    if warning.status != "rectifying":
        session.rollback()
        raise _conflict(f"该预警{WARNING_STATUSES[warning.status]}", status=warning.status)
    warning.status, warning.lifted_at, warning.lifted_by_id = "lifted", utcnow(), actor.id
    warning.lift_note = _reason(note)
    audit.append(session, actor, "grading.warning_lift", "weak_org_warning", warning.id, {})
    session.commit()
    return warning


def warning_candidates(session: Session) -> list[Organization]:
    """Organizations with a two-year deduction and no open warning: the ones to consider listing."""
    open_ids = select(WeakOrgWarning.organization_id).where(WeakOrgWarning.status == "rectifying")
    return list(session.scalars(select(Organization).where(
        Organization.id.in_(select(PointDeduction.organization_id)), Organization.id.not_in(open_ids))
        .order_by(Organization.name)))


# ---- 通报 -------------------------------------------------------------------------------------

def list_notices(session: Session, year: int | None = None) -> list[PublicNotice]:
    """Notices, newest first, of one year or all."""
    stmt = select(PublicNotice).order_by(PublicNotice.issued_on.desc(), PublicNotice.id.desc())
    if year is not None:
        stmt = stmt.where(PublicNotice.year == year)
    return list(session.scalars(stmt))


def create_notice(session: Session, actor: User, data: dict[str, Any]) -> PublicNotice:
    """通报 an organization (and its secretary); each notice deducts 200 yuan of performance pay."""
    _require_admin(actor)
    org = _organization(session, data.get("organization_id"))
    reason = _reason(data.get("reason"))
    secretary_id = data.get("secretary_id")
    if secretary_id is not None:
        secretary = session.get(User, secretary_id) if isinstance(secretary_id, int) else None
        if secretary is None:
            raise ApiError("not_found", "找不到该书记", {"secretary_id": secretary_id})
    issued_on = data.get("issued_on") or today_china()
    if issued_on > today_china():
        raise _invalid("通报日期不能晚于今天", "issued_on")
    notice = PublicNotice(organization_id=org.id, secretary_id=secretary_id, year=issued_on.year,
                          issued_on=issued_on, reason=reason, deduction_yuan=NOTICE_DEDUCTION_YUAN,
                          issued_by_id=actor.id)
    session.add(notice)
    session.flush()
    audit.append(session, actor, "grading.notice", "public_notice", notice.id, {
        "organization_id": org.id, "secretary_id": secretary_id, "deduction_yuan": notice.deduction_yuan})
    session.commit()
    return notice


def secretaries(session: Session) -> list[User]:
    """Accounts holding the secretary role, by name, for the notice form."""
    return list(session.scalars(select(User).where(User.role_rows.any(role="secretary"))
                                .order_by(User.name, User.id)))


def organizations(session: Session) -> list[Organization]:
    """Every organization by name, for the warning and notice forms."""
    return list(session.scalars(select(Organization).order_by(Organization.name, Organization.id)))


# ---- the annual assessment --------------------------------------------------------------------

ASSESSMENT_COLUMNS = [
    ("排名", 6), ("项目", 30), ("党组织", 24), ("项目书记", 10), ("有效评分专家数", 8), ("最终得分", 9), ("等次", 8),
    ("后5%", 6), ("连续两年后5%扣分", 10), ("通报次数", 8), ("扣除绩效(元)", 10), ("软弱涣散预警", 16),
]


def assessment_rows(session: Session, gs: GradingSession) -> list[list[Any]]:
    """One row per graded project of a finalized session, with its organization's penalties of the year."""
    entries = entries_of(session, gs)
    deductions = deductions_of(session, gs.year)
    org_ids = {e.organization_id for e in entries if e.organization_id}
    notices: dict[int, list[int]] = defaultdict(list)
    warnings: dict[int, WeakOrgWarning] = {}
    if org_ids:
        for n in session.scalars(select(PublicNotice).where(PublicNotice.year == gs.year,
                                                            PublicNotice.organization_id.in_(org_ids))):
            notices[n.organization_id].append(n.deduction_yuan)
        # The latest warning of each organization counts.
        for w in session.scalars(select(WeakOrgWarning).where(WeakOrgWarning.organization_id.in_(org_ids))
                                 .order_by(WeakOrgWarning.id)):
            warnings[w.organization_id] = w
    secretaries = user_names(session, {e.project.secretary_id for e in entries if e.project.secretary_id})
    orgs = {o.id: o.name for o in session.scalars(select(Organization).where(Organization.id.in_(org_ids)))} \
        if org_ids else {}
    rows = []
    for e in entries:
        org = e.organization_id
        warning = warnings.get(org) if org else None
        warning_text = ""
        if warning is not None:
            warning_text = WARNING_STATUSES[warning.status]
            if warning.status == "rectifying":
                warning_text += f"(期限 {warning.deadline.isoformat()}"
                warning_text += ",已逾期)" if is_warning_overdue(warning) else ")"
        rows.append([
            e.rank, e.project.title, orgs.get(org, ""), secretaries.get(e.project.secretary_id, ""),
            e.expert_count, format_score(e.final_centi), e.grade or "不列等次", "是" if e.bottom else "",
            deductions[org].points if org in deductions else "", len(notices.get(org, [])) if org else "",
            sum(notices.get(org, [])) if org else "", warning_text,
        ])
    return rows


def assessment_workbook(session: Session, user: User, gs: GradingSession):
    """The annual assessment table of a finalized session as XLSX (audited like every export)."""
    # Imported here: services.exports loads the console package, whose pages import this module.
    from server.services import exports

    if gs.status != "finalized":
        raise _conflict("评分定等后才能导出年度考核表", status=gs.status)
    wb = Workbook(write_only=True)
    sheet = exports.Sheet(wb, f"{gs.year}年度考核", ASSESSMENT_COLUMNS)
    for row in assessment_rows(session, gs):
        sheet.add(row)
    note = (f"最终得分为各专家加权总分的平均分{'(去掉一个最高分和一个最低分)' if gs.drop_extremes else ''};"
            f"通报每次扣除绩效 {NOTICE_DEDUCTION_YUAN} 元;通报次数与扣除绩效按党组织统计。")
    body = exports.finish_workbook(session, user, wb, f"{gs.year} 年度书记项目考核表", {"年度": gs.year}, sheet.rows,
                           "export.grading", note)
    return exports.xlsx_download(f"{gs.year}年度书记项目考核表", f"assessment-{gs.year}", body)
