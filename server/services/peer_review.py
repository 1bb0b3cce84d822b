"""中期互评: a light scoring round in which party organizations score each other's projects.

An admin opens a round for a year with the participating organizations and a few criteria; each
organization's secretary scores every other participating organization's projects of that year
(approved, running or accepted) on each criterion 1–10 with a comment — never their own
organization's; the admin closes the round. Results: the mean total per project, a ranking, and
who has not scored yet (the reminder list). Admins and leaders read everything; a secretary sees
the rounds their organization takes part in and only their own organization's scores.

`results()` is the seam for the year's grading (黔江: 结合…中期党组织互评等情况): the mean per project.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from server.errors import ApiError
from server.models import (
    PEER_REVIEW_STATUSES,
    Organization,
    PeerReviewRound,
    PeerReviewScore,
    Project,
    User,
    peer_review_members,
    user_organizations,
    utcnow,
)
from server.services import audit
from server.services.common import claim, for_update

DEFAULT_CRITERIA = ("推进成效", "特色亮点", "群众认可")
SCORED_STATUSES = ("approved", "in_progress", "accepted")
LOW, HIGH = 1, 10


# ---- rounds -------------------------------------------------------------------------------------


def member_ids(session: Session, round_id: int) -> list[int]:
    """The participating organizations of a round."""
    return list(
        session.scalars(select(peer_review_members.c.organization_id).where(peer_review_members.c.round_id == round_id))
    )


def members_of(session: Session, rnd: PeerReviewRound) -> list[Organization]:
    """The participating organizations, by name."""
    ids = member_ids(session, rnd.id)
    return list(
        session.scalars(select(Organization).where(Organization.id.in_(ids or [-1])).order_by(Organization.name))
    )


def own_members(session: Session, user: User, rnd: PeerReviewRound) -> list[int]:
    """The user's organizations that take part in the round (a secretary scores for one of them)."""
    mine = {o.id for o in user.organizations}
    return [i for i in member_ids(session, rnd.id) if i in mine]


def list_rounds(session: Session, user: User) -> list[PeerReviewRound]:
    """Rounds the user may see: all for admins and leaders, their organizations' for secretaries."""
    stmt = select(PeerReviewRound).order_by(PeerReviewRound.year.desc(), PeerReviewRound.id.desc())
    if user.has_role("admin", "leader"):
        return list(session.scalars(stmt))
    if not user.has_role("secretary"):
        return []
    mine = [o.id for o in user.organizations] or [-1]
    taking_part = select(peer_review_members.c.round_id).where(peer_review_members.c.organization_id.in_(mine))
    return list(session.scalars(stmt.where(PeerReviewRound.id.in_(taking_part))))


def get_round(session: Session, user: User, round_id: int, *, lock: bool = False) -> PeerReviewRound:
    """A round the user may see, or a 404."""
    stmt = select(PeerReviewRound).where(PeerReviewRound.id == round_id)
    if lock:
        claim(session, "peer_review_round", round_id)
    rnd = session.scalars(for_update(stmt) if lock else stmt).first()
    if rnd is None or not (
        user.has_role("admin", "leader") or (user.has_role("secretary") and own_members(session, user, rnd))
    ):
        raise ApiError("not_found", "找不到该互评", {"id": round_id})
    return rnd


def create_round(session: Session, admin: User, data: dict[str, Any]) -> PeerReviewRound:
    """Open a round for a year with at least two participating organizations and its criteria."""
    if not admin.has_role("admin"):
        raise ApiError("forbidden", "只有组织部管理员可以组织互评")
    year = data.get("year")
    if not isinstance(year, int) or not 2000 <= year <= 2100:
        raise ApiError("validation_failed", "请填写正确的年度", {"field": "year"})
    org_ids = list(dict.fromkeys(data.get("organization_ids") or []))
    found = set(session.scalars(select(Organization.id).where(Organization.id.in_(org_ids or [-1]))))
    if missing := [i for i in org_ids if i not in found]:
        raise ApiError("not_found", "找不到参加互评的党组织", {"field": "organization_ids", "ids": missing})
    if len(org_ids) < 2:
        raise ApiError("validation_failed", "互评至少要有两个党组织参加", {"field": "organization_ids"})
    criteria = [c.strip() for c in data.get("criteria") or DEFAULT_CRITERIA if c and c.strip()]
    if not 1 <= len(criteria) <= 8 or len(set(criteria)) != len(criteria) or any(len(c) > 20 for c in criteria):
        raise ApiError("validation_failed", "评分项应为 1–8 个不重复的名称,每个不超过 20 字", {"field": "criteria"})
    title = (data.get("title") or "").strip() or f"{year} 年度书记项目中期互评"
    rnd = PeerReviewRound(year=year, title=title[:200], criteria=criteria, status="open", created_by_id=admin.id)
    session.add(rnd)
    session.flush()
    session.execute(peer_review_members.insert(), [{"round_id": rnd.id, "organization_id": i} for i in org_ids])
    audit.append(
        session, admin, "peer_review.create", "peer_review", rnd.id, {"year": year, "organization_ids": org_ids}
    )
    session.commit()
    return rnd


def close_round(session: Session, admin: User, round_id: int) -> PeerReviewRound:
    """Close an open round: scores are locked. Closing a closed round changes nothing."""
    if not admin.has_role("admin"):
        raise ApiError("forbidden", "只有组织部管理员可以结束互评")
    rnd = get_round(session, admin, round_id, lock=True)
    if rnd.status == "closed":
        session.commit()
        return rnd
    rnd.status, rnd.closed_at = "closed", utcnow()
    audit.append(session, admin, "peer_review.close", "peer_review", rnd.id, {"pending": len(reminders(session, rnd))})
    session.commit()
    return rnd


# ---- projects and scores ------------------------------------------------------------------------


def projects_of(session: Session, rnd: PeerReviewRound) -> list[Project]:
    """The projects scored in the round: the participants' projects of its year, by organization and title."""
    return list(
        session.scalars(
            select(Project)
            .where(
                Project.organization_id.in_(member_ids(session, rnd.id) or [-1]),
                Project.year == rnd.year,
                Project.status.in_(SCORED_STATUSES),
            )
            .order_by(Project.organization_id, Project.title, Project.id)
        )
    )


def scores_of(session: Session, rnd: PeerReviewRound) -> list[PeerReviewScore]:
    """Every score of the round."""
    return list(session.scalars(select(PeerReviewScore).where(PeerReviewScore.round_id == rnd.id)))


def scoring_organization(session: Session, user: User, rnd: PeerReviewRound, organization_id: int | None) -> int:
    """The participating organization the secretary scores for (theirs; named when they have several)."""
    if not user.has_role("secretary"):
        raise ApiError("forbidden", "只有参加互评的党组织书记可以评分")
    own = own_members(session, user, rnd)
    if organization_id is not None:
        if organization_id not in own:
            raise ApiError("forbidden", "只能以本人所在党组织的名义评分", {"field": "organization_id"})
        return organization_id
    if len(own) != 1:
        raise ApiError(
            "validation_failed", "您在多个参加互评的党组织任职,请选择以哪个党组织评分", {"field": "organization_id"}
        )
    return own[0]


def sheet(session: Session, user: User, rnd: PeerReviewRound, organization_id: int | None = None) -> list[dict]:
    """The secretary's sheet: the projects of participants they do not belong to, with this organization's
    score so far."""
    org_id = scoring_organization(session, user, rnd, organization_id)
    mine = {
        s.project_id: s
        for s in session.scalars(
            select(PeerReviewScore).where(PeerReviewScore.round_id == rnd.id, PeerReviewScore.organization_id == org_id)
        )
    }
    own = {o.id for o in user.organizations}
    return [{"project": p, "score": mine.get(p.id)} for p in projects_of(session, rnd) if p.organization_id not in own]


def save_score(session: Session, user: User, round_id: int, project_id: int, data: dict[str, Any]) -> PeerReviewScore:
    """The secretary's organization scores another organization's project (each criterion 1–10, a comment).

    Never their own organization's project: that is refused (403) whatever organization is named.
    """
    rnd = get_round(session, user, round_id, lock=True)
    org_id = scoring_organization(session, user, rnd, data.get("organization_id"))
    project = next((p for p in projects_of(session, rnd) if p.id == project_id), None)
    if project is None:
        raise ApiError("not_found", "该项目不在本次互评范围内", {"id": project_id})
    own_orgs = {o.id for o in user.organizations}
    if project.organization_id in own_orgs or project.organization_id == org_id:
        raise ApiError("forbidden", "不能给本党组织的项目评分", {"project_id": project_id})
    if rnd.status != "open":
        raise ApiError("conflict", "互评已结束,评分不能再修改", {"status": rnd.status})
    given = data.get("scores") or {}
    scores = {}
    for name in rnd.criteria:
        value = given.get(name)
        if not isinstance(value, int) or isinstance(value, bool) or not LOW <= value <= HIGH:
            raise ApiError("validation_failed", f"“{name}”请打 {LOW}–{HIGH} 分", {"field": "scores", "criterion": name})
        scores[name] = value
    if unknown := sorted(set(given) - set(rnd.criteria)):
        raise ApiError("validation_failed", "没有这些评分项:" + "、".join(unknown), {"field": "scores"})
    row = session.scalars(
        select(PeerReviewScore).where(
            PeerReviewScore.round_id == rnd.id,
            PeerReviewScore.project_id == project.id,
            PeerReviewScore.organization_id == org_id,
        )
    ).first()
    if row is None:
        row = PeerReviewScore(round_id=rnd.id, project_id=project.id, organization_id=org_id)
        session.add(row)
    row.scorer_id, row.scores, row.comment = user.id, scores, (data.get("comment") or "").strip()[:2000]
    session.flush()
    audit.append(
        session,
        user,
        "peer_review.score",
        "peer_review",
        rnd.id,
        {"project_id": project.id, "organization_id": org_id, "scores": scores},
    )
    session.commit()
    return row


# ---- results ------------------------------------------------------------------------------------


@dataclass
class Result:
    """One project's standing: the total of each scoring organization and their mean."""

    project: Project
    totals: list[int] = field(default_factory=list)
    rank: int | None = None

    @property
    def mean(self) -> Fraction | None:
        """The exact mean total, or None before anyone scored."""
        return Fraction(sum(self.totals), len(self.totals)) if self.totals else None

    @property
    def mean_text(self) -> str:
        """The mean total to two decimals, or 未评分."""
        m = self.mean
        return "未评分" if m is None else f"{(m * 100 + Fraction(1, 2)) // 1 / 100:.2f}"


TIE_RULE = "平均总分相同时,评分组织多者在前;仍相同的,按项目编号在前者在前。"


def results(session: Session, rnd: PeerReviewRound) -> list[Result]:
    """Projects ranked by their mean total (exact); ties by more scoring organizations, then project id."""
    by_project = {p.id: Result(p) for p in projects_of(session, rnd)}
    for s in scores_of(session, rnd):
        if s.project_id in by_project:
            by_project[s.project_id].totals.append(sum(s.scores.values()))
    scored = sorted((r for r in by_project.values() if r.totals), key=lambda r: (-r.mean, -len(r.totals), r.project.id))
    for n, r in enumerate(scored, start=1):
        r.rank = n
    return scored + [r for r in by_project.values() if not r.totals]


@dataclass
class Pending:
    """A participating organization that has not scored every project it should, and its secretaries."""

    organization: Organization
    missing: list[Project]
    secretaries: list[User]


def reminders(session: Session, rnd: PeerReviewRound) -> list[Pending]:
    """Who has not scored yet: each participant with the other participants' projects it still owes."""
    projects = projects_of(session, rnd)
    done = {(s.organization_id, s.project_id) for s in scores_of(session, rnd)}
    out = []
    for org in members_of(session, rnd):
        missing = [p for p in projects if p.organization_id != org.id and (org.id, p.id) not in done]
        if missing:
            secretaries = [
                u
                for u in session.scalars(
                    select(User)
                    .join(user_organizations, user_organizations.c.user_id == User.id)
                    .where(user_organizations.c.organization_id == org.id)
                    .order_by(User.name)
                )
                if u.has_role("secretary")
            ]
            out.append(Pending(org, missing, secretaries))
    return out


def status_label(rnd: PeerReviewRound) -> str:
    """The round's state in words."""
    return PEER_REVIEW_STATUSES[rnd.status]
