"""路演评审: a roadshow of a grading session, scored live by its expert panel, and copied into the panels.

A roadshow runs draft → live → ended. In draft the host (an admin) sets the date and venue,
the speakers (projects of the session, in an order that can be moved or drawn at random) and
the panel. Starting puts the first speaker up; advancing puts the next one up. A speaker who
is up may be scored by every expert of the panel, who saves as often as they like and then
finalizes their sheet, which locks it. A speaker's result appears once every expert has
finalized or the host closes the speaker; it is the session's own rule (rules.final_centi) on
the finalized sheets, so it needs as many finalized sheets as the session needs complete
scores. Copying the ended roadshow into the session seats its experts on the speakers'
panels with the finalized scores, so the session's finalization grades exactly what the hall
was shown.

Every write locks the roadshow's row first: experts finalizing and the host advancing are
serialized on it, so none of them can overwrite another's change.
"""

from __future__ import annotations

import random
import secrets
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from server.errors import ApiError
from server.models import (
    GRADING_STATUSES,
    ROADSHOW_STATUSES,
    SPEAKER_STATUSES,
    GradingEntry,
    GradingScore,
    GradingSession,
    PanelSeat,
    Roadshow,
    RoadshowExpert,
    RoadshowSheet,
    RoadshowSpeaker,
    User,
    utcnow,
)
from server.services import audit
from server.services.common import claim, for_update
from server.services.grading.panels import seats_of, user_names
from server.services.grading.rules import (
    MAX_TEXT,
    Placed,
    conflict,
    expert_total_milli,
    final_centi,
    invalid,
    parse_score,
    rank,
    required_experts,
)
from server.services.grading.sessions import get_session, require_admin

READERS = ("admin", "leader")

# ---- reading, scoped --------------------------------------------------------------------------


def _on_panel(session: Session, roadshow_id: int, user: User) -> bool:
    return (
        session.scalar(
            select(RoadshowExpert.expert_id).where(
                RoadshowExpert.roadshow_id == roadshow_id, RoadshowExpert.expert_id == user.id
            )
        )
        is not None
    )


def list_roadshows(session: Session, user: User) -> list[Roadshow]:
    """Roadshows the user may see, newest first: all for admins and leaders, an expert's own panels."""
    stmt = select(Roadshow).order_by(Roadshow.held_on.desc(), Roadshow.id.desc())
    if not user.has_role(*READERS):
        if not user.has_role("expert"):
            raise ApiError("forbidden", "只有管理员、领导和评审专家可以查看路演评审")
        stmt = stmt.join(RoadshowExpert, RoadshowExpert.roadshow_id == Roadshow.id).where(
            RoadshowExpert.expert_id == user.id
        )
    return list(session.scalars(stmt))


def get_roadshow(session: Session, user: User, roadshow_id: int) -> Roadshow:
    """One roadshow the user may see; one they do not sit on is not_found (its existence is not told)."""
    rs = session.get(Roadshow, roadshow_id)
    if rs is None or not (user.has_role(*READERS) or (user.has_role("expert") and _on_panel(session, rs.id, user))):
        raise ApiError("not_found", "找不到该路演评审", {"id": roadshow_id})
    return rs


def speakers_of(session: Session, rs: Roadshow) -> list[RoadshowSpeaker]:
    """The roadshow's speakers in their order."""
    return list(
        session.scalars(
            select(RoadshowSpeaker).where(RoadshowSpeaker.roadshow_id == rs.id).order_by(RoadshowSpeaker.position)
        )
    )


def panel_of(session: Session, rs: Roadshow) -> list[User]:
    """The roadshow's experts, by name."""
    return list(
        session.scalars(
            select(User)
            .join(RoadshowExpert, RoadshowExpert.expert_id == User.id)
            .where(RoadshowExpert.roadshow_id == rs.id)
            .order_by(User.name, User.id)
        )
    )


def entries_by_id(session: Session, speakers: list[RoadshowSpeaker]) -> dict[int, GradingEntry]:
    """The grading entries (with their projects) of many speakers, by entry id."""
    if not speakers:
        return {}
    ids = [s.entry_id for s in speakers]
    return {e.id: e for e in session.scalars(select(GradingEntry).where(GradingEntry.id.in_(ids)))}


def sheets_of(session: Session, speakers: list[RoadshowSpeaker]) -> dict[int, list[RoadshowSheet]]:
    """Every sheet of many speakers, by speaker id."""
    out: dict[int, list[RoadshowSheet]] = {s.id: [] for s in speakers}
    if speakers:
        for sheet in session.scalars(
            select(RoadshowSheet).where(RoadshowSheet.speaker_id.in_(list(out))).order_by(RoadshowSheet.id)
        ):
            out[sheet.speaker_id].append(sheet)
    return out


def current_speaker(session: Session, rs: Roadshow) -> RoadshowSpeaker | None:
    """The speaker the host has put up last, or None before the start and after the end."""
    return session.get(RoadshowSpeaker, rs.current_speaker_id) if rs.current_speaker_id else None


def own_sheet(session: Session, expert: User, speaker: RoadshowSpeaker) -> RoadshowSheet | None:
    """The expert's own sheet for a speaker, if they have saved one."""
    return session.scalar(
        select(RoadshowSheet).where(RoadshowSheet.speaker_id == speaker.id, RoadshowSheet.expert_id == expert.id)
    )


# ---- the host's configuration -----------------------------------------------------------------


def _locked(session: Session, roadshow_id: int) -> Roadshow:
    claim(session, "roadshow", roadshow_id)
    rs = session.execute(for_update(select(Roadshow).where(Roadshow.id == roadshow_id))).scalar_one_or_none()
    if rs is None:
        raise ApiError("not_found", "找不到该路演评审", {"id": roadshow_id})
    return rs


def _locked_draft(session: Session, actor: User, roadshow_id: int, doing: str) -> Roadshow:
    require_admin(actor)
    rs = _locked(session, roadshow_id)
    if rs.status != "draft":
        session.rollback()
        raise conflict(f"该路演评审{ROADSHOW_STATUSES[rs.status]},不能再{doing}", status=rs.status)
    return rs


def _text(data: dict[str, Any], key: str, label: str, limit: int = 100) -> str:
    value = str(data.get(key) or "").strip()
    if not value:
        raise invalid(f"请填写{label}", key)
    if len(value) > limit:
        raise invalid(f"{label}最多 {limit} 个字", key)
    return value


def _date(raw: Any) -> date:
    if isinstance(raw, date):
        return raw
    try:
        return date.fromisoformat(str(raw or "").strip())
    except ValueError:
        raise invalid("请填写正确的路演日期", "held_on") from None


def create_roadshow(session: Session, actor: User, data: dict[str, Any]) -> Roadshow:
    """A roadshow of a session that is open for scoring (its criteria are then fixed)."""
    require_admin(actor)
    raw_id = data.get("session_id")
    if isinstance(raw_id, str) and raw_id.strip().isdigit():
        raw_id = int(raw_id)
    if not isinstance(raw_id, int):
        raise invalid("请选择年度评分", "session_id")
    gs = get_session(session, raw_id)
    if gs.status != "scoring":
        raise conflict(f"该年度评分{GRADING_STATUSES[gs.status]},只有评分中的年度可以安排路演", status=gs.status)
    rs = Roadshow(
        session_id=gs.id,
        title=_text(data, "title", "路演名称"),
        held_on=_date(data.get("held_on")),
        venue=_text(data, "venue", "路演地点"),
        status="draft",
        created_by_id=actor.id,
    )
    session.add(rs)
    session.flush()
    audit.append(
        session, actor, "roadshow.create", "roadshow", rs.id, {"session_id": gs.id, "held_on": rs.held_on.isoformat()}
    )
    session.commit()
    return rs


def _panel_ids(session: Session, rs: Roadshow) -> set[int]:
    return set(session.scalars(select(RoadshowExpert.expert_id).where(RoadshowExpert.roadshow_id == rs.id)))


def add_speaker(session: Session, actor: User, roadshow_id: int, entry_id: int) -> RoadshowSpeaker:
    """Put a project of the session last in the order; its secretary may not sit on the panel."""
    rs = _locked_draft(session, actor, roadshow_id, "调整路演项目")
    entry = session.get(GradingEntry, entry_id)
    if entry is None or entry.session_id != rs.session_id:
        raise ApiError("not_found", "找不到该评分项目", {"entry_id": entry_id})
    if session.scalar(
        select(RoadshowSpeaker.id).where(RoadshowSpeaker.roadshow_id == rs.id, RoadshowSpeaker.entry_id == entry.id)
    ):
        raise conflict(f"“{entry.project.title}”已在路演名单中", entry_id=entry.id)
    if entry.project.secretary_id in _panel_ids(session, rs):
        raise invalid(f"“{entry.project.title}”的书记是本场评审专家,应当回避", "entry_id")
    last = session.scalar(select(func.max(RoadshowSpeaker.position)).where(RoadshowSpeaker.roadshow_id == rs.id))
    speaker = RoadshowSpeaker(roadshow_id=rs.id, entry_id=entry.id, position=(last or 0) + 1, status="waiting")
    session.add(speaker)
    session.flush()
    audit.append(
        session,
        actor,
        "roadshow.speaker_add",
        "roadshow",
        rs.id,
        {"project_id": entry.project_id, "position": speaker.position},
    )
    session.commit()
    return speaker


def _speaker_in(session: Session, rs: Roadshow, speaker_id: int) -> RoadshowSpeaker:
    speaker = session.get(RoadshowSpeaker, speaker_id)
    if speaker is None or speaker.roadshow_id != rs.id:
        raise ApiError("not_found", "找不到该路演项目", {"speaker_id": speaker_id})
    return speaker


def _renumber(speakers: list[RoadshowSpeaker]) -> list[int]:
    """Give the speakers positions 1..n in list order; returns their entry ids in that order."""
    # Positions carry no unique key, so no intermediate state can collide.
    for n, s in enumerate(speakers, start=1):
        s.position = n
    return [s.entry_id for s in speakers]


def remove_speaker(session: Session, actor: User, roadshow_id: int, speaker_id: int) -> None:
    """Take a speaker off the list; the others close up."""
    rs = _locked_draft(session, actor, roadshow_id, "调整路演项目")
    speaker = _speaker_in(session, rs, speaker_id)
    session.delete(speaker)
    session.flush()
    order = _renumber(speakers_of(session, rs))
    audit.append(
        session, actor, "roadshow.speaker_remove", "roadshow", rs.id, {"entry_id": speaker.entry_id, "order": order}
    )
    session.commit()


def move_speaker(session: Session, actor: User, roadshow_id: int, speaker_id: int, step: int) -> None:
    """Move a speaker one place earlier (step -1) or later (+1) in the order."""
    rs = _locked_draft(session, actor, roadshow_id, "调整出场顺序")
    if step not in (-1, 1):
        raise invalid("只能上移或下移一位", "step")
    speaker = _speaker_in(session, rs, speaker_id)
    speakers = speakers_of(session, rs)
    i = speakers.index(speaker)
    j = i + step
    if not 0 <= j < len(speakers):
        raise conflict("已在第一位" if step < 0 else "已在最后一位")
    speakers[i], speakers[j] = speakers[j], speakers[i]
    order = _renumber(speakers)
    audit.append(session, actor, "roadshow.reorder", "roadshow", rs.id, {"order": order})
    session.commit()


def draw_order(session: Session, actor: User, roadshow_id: int) -> list[RoadshowSpeaker]:
    """Draw the order of speakers at random (抽签); the seed is kept so the draw can be replayed."""
    rs = _locked_draft(session, actor, roadshow_id, "抽签")
    speakers = sorted(speakers_of(session, rs), key=lambda s: s.entry_id)
    if len(speakers) < 2:
        raise conflict("至少需要两个路演项目才能抽签")
    seed = secrets.token_hex(16)
    random.Random(seed).shuffle(speakers)  # noqa: S311 - seeded from secrets and replayable by design
    rs.draw_seed = seed
    order = _renumber(speakers)
    audit.append(session, actor, "roadshow.draw", "roadshow", rs.id, {"seed": seed, "order": order})
    session.commit()
    return speakers


def add_expert(session: Session, actor: User, roadshow_id: int, expert_id: int) -> None:
    """Seat an expert on the roadshow's panel; a speaker's secretary may not sit on it."""
    rs = _locked_draft(session, actor, roadshow_id, "调整评审专家")
    expert = session.get(User, expert_id)
    if expert is None or not expert.active or not expert.has_role("expert"):
        raise ApiError("not_found", "找不到该评审专家", {"expert_id": expert_id})
    if expert.id in _panel_ids(session, rs):
        raise conflict(f"{expert.name}已是本场评审专家", expert_id=expert.id)
    entries = entries_by_id(session, speakers_of(session, rs)).values()
    own = [e.project.title for e in entries if e.project.secretary_id == expert.id]
    if own:
        raise invalid(f"{expert.name}是路演项目“{own[0]}”的书记,应当回避", "expert_id")
    session.add(RoadshowExpert(roadshow_id=rs.id, expert_id=expert.id, added_by_id=actor.id))
    session.flush()
    audit.append(session, actor, "roadshow.expert_add", "roadshow", rs.id, {"expert_id": expert.id})
    session.commit()


def remove_expert(session: Session, actor: User, roadshow_id: int, expert_id: int) -> None:
    """Take an expert off the panel before the roadshow starts."""
    rs = _locked_draft(session, actor, roadshow_id, "调整评审专家")
    seat = session.get(RoadshowExpert, (rs.id, expert_id))
    if seat is None:
        raise ApiError("not_found", "该专家不在本场评审专家中", {"expert_id": expert_id})
    session.delete(seat)
    audit.append(session, actor, "roadshow.expert_remove", "roadshow", rs.id, {"expert_id": expert_id})
    session.commit()


# ---- the host running it ----------------------------------------------------------------------


def _locked_live(session: Session, actor: User, roadshow_id: int) -> Roadshow:
    require_admin(actor)
    rs = _locked(session, roadshow_id)
    if rs.status != "live":
        session.rollback()
        raise conflict(f"该路演评审{ROADSHOW_STATUSES[rs.status]},不能主持", status=rs.status)
    return rs


def start(session: Session, actor: User, roadshow_id: int) -> Roadshow:
    """draft → live: the first speaker goes up; needs speakers and as many experts as a score needs."""
    rs = _locked_draft(session, actor, roadshow_id, "开始")
    gs = session.get(GradingSession, rs.session_id)
    speakers = speakers_of(session, rs)
    if not speakers:
        session.rollback()
        raise conflict("请先添加路演项目")
    need = required_experts(gs.drop_extremes)
    if len(_panel_ids(session, rs)) < need:
        session.rollback()
        raise conflict(f"评审专家不足 {need} 人,无法开始路演" + ("(去掉最高分和最低分)" if gs.drop_extremes else ""))
    first = speakers[0]
    first.status, first.up_at = "up", utcnow()
    rs.status, rs.started_at, rs.current_speaker_id = "live", utcnow(), first.id
    audit.append(session, actor, "roadshow.start", "roadshow", rs.id, {"speaker_id": first.id})
    session.commit()
    return rs


def advance(session: Session, actor: User, roadshow_id: int) -> RoadshowSpeaker:
    """Put the next speaker in the order up; the one before stays open until its experts finish or it is closed."""
    rs = _locked_live(session, actor, roadshow_id)
    nxt = next((s for s in speakers_of(session, rs) if s.status == "waiting"), None)
    if nxt is None:
        session.rollback()
        raise conflict("已是最后一个路演项目,请结束路演")
    nxt.status, nxt.up_at = "up", utcnow()
    rs.current_speaker_id = nxt.id
    audit.append(
        session, actor, "roadshow.advance", "roadshow", rs.id, {"speaker_id": nxt.id, "position": nxt.position}
    )
    session.commit()
    return nxt


def close_speaker(session: Session, actor: User, roadshow_id: int, speaker_id: int) -> RoadshowSpeaker:
    """Close a speaker's scoring: the result shows with the sheets finalized so far; the rest can no longer finalize."""
    rs = _locked_live(session, actor, roadshow_id)
    speaker = _speaker_in(session, rs, speaker_id)
    if speaker.status != "up":
        session.rollback()
        raise conflict("只能结束正在评分的路演项目", status=speaker.status)
    speaker.status, speaker.closed_at = "closed", utcnow()
    audit.append(session, actor, "roadshow.close_speaker", "roadshow", rs.id, {"speaker_id": speaker.id})
    session.commit()
    return speaker


def end(session: Session, actor: User, roadshow_id: int) -> Roadshow:
    """live → ended: every speaker still open is closed."""
    rs = _locked_live(session, actor, roadshow_id)
    now = utcnow()
    closed = []
    for s in speakers_of(session, rs):
        if s.status == "up":
            s.status, s.closed_at = "closed", now
            closed.append(s.id)
    rs.status, rs.ended_at, rs.current_speaker_id = "ended", now, None
    audit.append(session, actor, "roadshow.end", "roadshow", rs.id, {"closed_speaker_ids": closed})
    session.commit()
    return rs


# ---- the experts' sheets ----------------------------------------------------------------------


def _scorable(session: Session, expert: User, roadshow_id: int, speaker_id: int):
    """Lock the roadshow and return (roadshow, session, speaker, own sheet) if the expert may score now."""
    rs = _locked(session, roadshow_id)
    if not (expert.has_role("expert") and _on_panel(session, rs.id, expert)):
        session.rollback()
        raise ApiError("not_found", "找不到该路演评审", {"id": roadshow_id})
    speaker = _speaker_in(session, rs, speaker_id)
    if rs.status != "live":
        session.rollback()
        raise conflict(f"该路演评审{ROADSHOW_STATUSES[rs.status]},不能评分", status=rs.status)
    if speaker.status == "waiting":
        session.rollback()
        raise conflict("该项目还没有开始路演,不能评分", speaker_status=speaker.status)
    if speaker.status == "closed":
        session.rollback()
        raise conflict("主持人已结束该项目的评分,不能再评分", speaker_status=speaker.status)
    sheet = own_sheet(session, expert, speaker)
    if sheet is not None and sheet.finalized_at is not None:
        session.rollback()
        raise conflict("您已提交该项目的最终评分,评分表已锁定,不能修改", sheet_id=sheet.id)
    return rs, session.get(GradingSession, rs.session_id), speaker, sheet


def _parsed(gs: GradingSession, scores: dict[str, Any], comment: str) -> tuple[dict[str, int], str]:
    comment = (comment or "").strip()
    if len(comment) > MAX_TEXT:
        raise invalid(f"评审意见最多 {MAX_TEXT} 个字", "comment")
    parsed = {}
    for c in gs.criteria:
        try:
            value = parse_score(scores.get(c["key"]))
        except ApiError as exc:
            raise invalid(f"{c['name']}:{exc.message}", c["key"]) from None
        if value is not None:
            parsed[c["key"]] = value
    return parsed, comment


def _write(
    session: Session, expert: User, roadshow_id: int, speaker_id: int, scores: dict[str, Any], comment: str, final: bool
) -> RoadshowSheet:
    rs, gs, speaker, sheet = _scorable(session, expert, roadshow_id, speaker_id)
    try:
        parsed, comment = _parsed(gs, scores, comment)
    except ApiError:
        session.rollback()
        raise
    missing = [c["name"] for c in gs.criteria if c["key"] not in parsed]
    if final and missing:
        session.rollback()
        raise invalid(f"请先给每项指标评分后再提交:{'、'.join(missing)}未评分", "scores")
    now = utcnow()
    if sheet is None:
        sheet = RoadshowSheet(speaker_id=speaker.id, expert_id=expert.id, scores=parsed, comment=comment, saved_at=now)
        session.add(sheet)
    else:
        sheet.scores, sheet.comment, sheet.saved_at = parsed, comment, now
    if final:
        sheet.finalized_at = now
    session.flush()
    audit.append(
        session,
        expert,
        "roadshow.finalize_sheet" if final else "roadshow.score",
        "roadshow_sheet",
        sheet.id,
        {"roadshow_id": rs.id, "speaker_id": speaker.id, "scores": parsed},
    )
    session.commit()
    return sheet


def save_sheet(
    session: Session, expert: User, roadshow_id: int, speaker_id: int, scores: dict[str, Any], comment: str = ""
) -> RoadshowSheet:
    """Save the expert's scores of a speaker who is up (blank criteria stay unscored); changeable until finalized."""
    return _write(session, expert, roadshow_id, speaker_id, scores, comment, final=False)


def finalize_sheet(
    session: Session, expert: User, roadshow_id: int, speaker_id: int, scores: dict[str, Any], comment: str = ""
) -> RoadshowSheet:
    """Save every criterion's score and lock the sheet: it counts in the result and can no longer change."""
    return _write(session, expert, roadshow_id, speaker_id, scores, comment, final=True)


# ---- results ----------------------------------------------------------------------------------


@dataclass
class SpeakerResult:
    """A speaker as the hall sees it: how many experts have finalized, and the score once it shows."""

    speaker: RoadshowSpeaker
    entry: GradingEntry
    panel: int
    finalized: int
    totals_milli: list[int] = field(default_factory=list)  # finalized experts' totals, best first
    final_centi: int | None = None
    rank: int | None = None

    @property
    def shown(self) -> bool:
        """The result is out: every expert has finalized, or the host closed the speaker."""
        return self.speaker.status == "closed" or (self.panel > 0 and self.finalized >= self.panel)


def results(session: Session, rs: Roadshow) -> list[SpeakerResult]:
    """Each speaker in order with its result once shown, ranked among the shown results (ties share a rank)."""
    gs = session.get(GradingSession, rs.session_id)
    speakers = speakers_of(session, rs)
    entries = entries_by_id(session, speakers)
    sheets = sheets_of(session, speakers)
    panel = len(_panel_ids(session, rs))
    out = []
    for s in speakers:
        done = [sh for sh in sheets[s.id] if sh.finalized_at is not None]
        row = SpeakerResult(s, entries[s.entry_id], panel, len(done))
        if row.shown:
            row.totals_milli = sorted((expert_total_milli(sh.scores, gs.criteria) for sh in done), reverse=True)
            if len(done) >= required_experts(gs.drop_extremes):
                row.final_centi = final_centi(row.totals_milli, gs.drop_extremes)
        out.append(row)
    placed: list[Placed] = rank({r.speaker.id: r.final_centi for r in out if r.final_centi is not None})
    ranks = {p.key: p.rank for p in placed}
    for r in out:
        r.rank = ranks.get(r.speaker.id)
    return out


# ---- into the year's grading ------------------------------------------------------------------


@dataclass
class CopyReport:
    """What copying a roadshow into its session did."""

    projects: int
    seats_created: int
    seats_changed: int
    skipped: list[str]  # titles of speakers without a result, left out


def copy_to_grading(session: Session, actor: User, roadshow_id: int) -> CopyReport:
    """Seat the panel on each scored speaker's project with its finalized scores; running it again changes nothing.

    A project whose panel already has an expert from outside the roadshow is refused: its grade
    would then differ from the score the hall was shown.
    """
    require_admin(actor)
    rs = _locked(session, roadshow_id)
    if rs.status != "ended":
        session.rollback()
        raise conflict("路演评审结束后才能导入年度评分", status=rs.status)
    claim(session, "grading_session", rs.session_id)
    gs = session.execute(for_update(select(GradingSession).where(GradingSession.id == rs.session_id))).scalar_one()
    if gs.status != "scoring":
        session.rollback()
        raise conflict(f"该年度评分{GRADING_STATUSES[gs.status]},不能再导入路演评分", status=gs.status)
    rows = results(session, rs)
    scored = [r for r in rows if r.final_centi is not None]
    seats = seats_of(session, [r.entry for r in scored])
    panel = _panel_ids(session, rs)
    outsiders = [r for r in scored if any(seat.expert_id not in panel for seat in seats[r.entry.id])]
    if outsiders:
        session.rollback()
        names = user_names(session, {s.expert_id for r in outsiders for s in seats[r.entry.id]} - panel)
        raise conflict(
            f"“{outsiders[0].entry.project.title}”已有路演以外的评审专家({'、'.join(sorted(names.values()))}),"
            "请先在年度评分中撤销其评审安排",
            project_ids=[r.entry.project_id for r in outsiders],
        )
    sheets = sheets_of(session, [r.speaker for r in scored])
    created = changed = 0
    now = utcnow()
    for r in scored:
        by_expert = {seat.expert_id: seat for seat in seats[r.entry.id]}
        for sheet in sheets[r.speaker.id]:
            if sheet.finalized_at is None:
                continue
            seat = by_expert.get(sheet.expert_id)
            if seat is None:
                seat = PanelSeat(entry_id=r.entry.id, expert_id=sheet.expert_id, comment="", assigned_by_id=actor.id)
                session.add(seat)
                created += 1
            wanted = {k: int(v) for k, v in sheet.scores.items()}
            if {s.criterion: s.tenths for s in seat.scores} == wanted and seat.comment == sheet.comment:
                continue
            changed += 1
            existing = {s.criterion: s for s in seat.scores}
            for key, row in existing.items():
                if key not in wanted:
                    seat.scores.remove(row)
            for key, tenths in wanted.items():
                if key in existing:
                    existing[key].tenths = tenths
                else:
                    seat.scores.append(GradingScore(criterion=key, tenths=tenths))
            seat.comment, seat.scored_at = sheet.comment, sheet.finalized_at
    rs.copied_at = now
    session.flush()
    report = CopyReport(len(scored), created, changed, [r.entry.project.title for r in rows if r.final_centi is None])
    audit.append(
        session,
        actor,
        "roadshow.copy_to_grading",
        "roadshow",
        rs.id,
        {
            "session_id": gs.id,
            "project_ids": [r.entry.project_id for r in scored],
            "seats_created": created,
            "seats_changed": changed,
        },
    )
    session.commit()
    return report


def results_payload(session: Session, rs: Roadshow) -> dict[str, Any]:
    """The hall screen's data: the current speaker, each speaker's state and shown score, and the ranking."""
    rows = results(session, rs)
    current = current_speaker(session, rs)

    def score(value: int | None, scale: int) -> str | None:
        return None if value is None else f"{value / scale:.2f}"

    speakers = [
        {
            "id": r.speaker.id,
            "position": r.speaker.position,
            "project_id": r.entry.project_id,
            "title": r.entry.project.title,
            "status": r.speaker.status,
            "status_label": SPEAKER_STATUSES[r.speaker.status],
            "panel": r.panel,
            "finalized": r.finalized,
            "shown": r.shown,
            "score": score(r.final_centi, 100),
            "expert_totals": [score(t, 1000) for t in r.totals_milli] if r.shown else [],
            "rank": r.rank,
        }
        for r in rows
    ]
    return {
        "id": rs.id,
        "title": rs.title,
        "status": rs.status,
        "current_speaker_id": current.id if current else None,
        "speakers": speakers,
        "ranking": sorted((s for s in speakers if s["rank"] is not None), key=lambda s: (s["rank"], s["position"])),
    }
