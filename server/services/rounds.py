"""Random inspection rounds (双随机): define, freeze (publish the hash), draw, close, publish.

The draw itself is the pure `server.draw`; this module gathers its inputs from the database,
stores the frozen record, turns the result into drawn assignments and keeps the status
machine draft → frozen → drawn → closed, every step in the audit log. Until a round closes
nothing public names a village: upcoming unannounced visits must not leak.
"""

from __future__ import annotations

import secrets
from datetime import date, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from server import clock, draw
from server.errors import ApiError
from server.models import (
    DEFAULT_MIN_INTERVIEWS,
    DEFAULT_MIN_PHOTOS,
    DOMAINS,
    ROUND_STATUSES,
    Assignment,
    InspectionRound,
    Project,
    Site,
    Township,
    User,
    Village,
    utcnow,
)
from server.services import audit, checkpoints, evidence, teams
from server.services.common import for_update, get_or_404

MAX_GROUPS = 50
MAX_SITES_PER_GROUP = 20
MAX_TEAM = 10
MAX_BANK = 100
MAX_ITEM_CHARS = 200
MAX_PUBLIC_VALUE = 64
MAX_SOURCE_CHARS = 200
# How far ahead the public value's day may be fixed at freeze.
MAX_SOURCE_DAYS = 366
# The transitions each step may start from.
NEXT = {"freeze": "draft", "draw": "frozen", "close": "drawn"}


def _invalid(message: str, field: str) -> ApiError:
    return ApiError("validation_failed", message, {"field": field})


def _int_in(data: dict[str, Any], key: str, label: str, low: int, high: int) -> int:
    value = data.get(key)
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise _invalid(f"{label}应为 {low} 到 {high} 之间的整数", key)
    return value


def _clean(session: Session, data: dict[str, Any]) -> dict[str, Any]:
    """The round's settings, checked; inspectors must be active inspectors."""
    name = (data.get("name") or "").strip()
    if not name or len(name) > 100:
        raise _invalid("请填写轮次名称(不超过 100 字)", "name")
    items = [str(i).strip() for i in data.get("check_items") or [] if str(i).strip()]
    if not items:
        raise _invalid("请填写督查事项库", "check_items")
    if len(items) > MAX_BANK or any(len(i) > MAX_ITEM_CHARS for i in items):
        raise _invalid(f"督查事项库最多 {MAX_BANK} 项,每项不超过 {MAX_ITEM_CHARS} 字", "check_items")
    if len(set(items)) != len(items):
        raise _invalid("督查事项库有重复", "check_items")
    filters = data.get("filters") or {}
    township_ids = sorted({int(t) for t in filters.get("township_ids") or []})
    if township_ids:
        found = set(session.scalars(select(Township.id).where(Township.id.in_(township_ids))))
        if found != set(township_ids):
            raise ApiError("not_found", "找不到指定的乡镇", {"township_ids": sorted(set(township_ids) - found)})
    domain = filters.get("domain") or None
    if domain is not None and domain not in DOMAINS:
        raise _invalid("领域不正确", "domain")
    year = filters.get("year")
    if year is not None and (not isinstance(year, int) or not 2000 <= year <= 2100):
        raise _invalid("年度不正确", "year")
    team_ids = teams.check_round_teams(session, data.get("team_ids") or [])
    # A round sends standing teams or draws loose inspectors, never both.
    inspector_ids = [] if team_ids else sorted({int(i) for i in data.get("inspector_ids") or []})
    people = session.scalars(select(User).where(User.id.in_(inspector_ids))).all() if inspector_ids else []
    bad = sorted(set(inspector_ids) - {u.id for u in people if u.active and u.has_role("inspector")})
    if bad:
        raise ApiError("validation_failed", "所选人员不是有效的督查人员", {"inspector_ids": bad})
    due = data.get("due_date")
    return {
        "name": name,
        "check_items": items,
        "inspector_ids": inspector_ids,
        "team_ids": team_ids,
        "filters": {"township_ids": township_ids, "year": year, "domain": domain},
        # With teams, one group per team; the team size is each team's own.
        "groups": len(team_ids) if team_ids else _int_in(data, "groups", "工作组数", 1, MAX_GROUPS),
        "sites_per_group": _int_in(data, "sites_per_group", "每组点位数", 1, MAX_SITES_PER_GROUP),
        "team_size": 2
        if team_ids and data.get("team_size") is None
        else _int_in(data, "team_size", "每组人数", 2, MAX_TEAM),
        "items_per_visit": _int_in(data, "items_per_visit", "每次抽取的督查事项数", 1, MAX_BANK),
        # The evidence policy of the round's visits; left empty, the defaults.
        "min_photos": DEFAULT_MIN_PHOTOS
        if data.get("min_photos") is None
        else _int_in(data, "min_photos", "每次暗访至少照片数", 0, evidence.MAX_MINIMUM),
        "min_interviews": DEFAULT_MIN_INTERVIEWS
        if data.get("min_interviews") is None
        else _int_in(data, "min_interviews", "每次暗访至少入户走访数", 0, evidence.MAX_MINIMUM),
        "due_date": date.fromisoformat(due) if isinstance(due, str) and due else None,
    }


def create_round(session: Session, actor: User, data: dict[str, Any]) -> InspectionRound:
    """A new round in draft: its settings can still change until it is frozen."""
    r = InspectionRound(**_clean(session, data), status="draft", created_by_id=actor.id)
    session.add(r)
    session.flush()
    audit.append(session, actor, "round.create", "round", r.id, {"name": r.name})
    session.commit()
    return r


def update_round(session: Session, actor: User, round_id: int, data: dict[str, Any]) -> InspectionRound:
    """Change a draft round's settings; a frozen one is fixed by its published hash."""
    r = _locked(session, round_id)
    if r.status != "draft":
        raise _illegal(r, "修改")
    for key, value in _clean(session, data).items():
        setattr(r, key, value)
    audit.append(session, actor, "round.update", "round", r.id, {"fields": sorted(data)})
    session.commit()
    return r


def get_round(session: Session, round_id: int) -> InspectionRound:
    """The round, or 404."""
    return get_or_404(session, InspectionRound, round_id, "抽查轮次")


def list_rounds(session: Session) -> list[InspectionRound]:
    """Every round, newest first."""
    return list(session.scalars(select(InspectionRound).order_by(InspectionRound.id.desc())))


def _locked(session: Session, round_id: int) -> InspectionRound:
    r = session.execute(for_update(select(InspectionRound).where(InspectionRound.id == round_id))).scalar()
    if r is None:
        raise ApiError("not_found", "找不到该抽查轮次", {"id": round_id})
    return r


def _illegal(r: InspectionRound, action: str) -> ApiError:
    return ApiError(
        "conflict",
        f"该轮次当前为「{ROUND_STATUSES[r.status]}」,不能{action}",
        {"status": r.status, "reason": "round_status"},
    )


def _infeasible(exc: draw.DrawError) -> ApiError:
    return ApiError("round_infeasible", exc.message, exc.details)


# ---- candidates and inputs ---------------------------------------------------------------


def candidates(session: Session, filters: dict[str, Any]) -> list[dict[str, Any]]:
    """The places that may be drawn: each village of each matching project in progress, or its unit site."""
    stmt = select(Project).where(Project.status == "in_progress").order_by(Project.id)
    if filters.get("year"):
        stmt = stmt.where(Project.year == filters["year"])
    if filters.get("domain"):
        stmt = stmt.where(Project.domain == filters["domain"])
    towns = set(filters.get("township_ids") or [])
    names = {t_id: name for t_id, name in session.execute(select(Township.id, Township.name))}
    out = []
    for p in session.scalars(stmt):
        places: list[tuple[str, Village | Site]] = [("v", v) for v in sorted(p.villages, key=lambda v: v.id)]
        if not places and p.site is not None:
            places = [("s", p.site)]
        for kind, place in places:
            if towns and place.township_id not in towns:
                continue
            out.append(
                {
                    "key": f"p{p.id}-{kind}{place.id}",
                    "project_id": p.id,
                    "village_id": place.id if kind == "v" else None,
                    "site_id": place.id if kind == "s" else None,
                    "township_id": place.township_id,
                    "township": names.get(place.township_id, ""),
                    "label": f"{p.title} · {place.name}",
                }
            )
    return out


def build_inputs(session: Session, r: InspectionRound, nonce: str) -> dict[str, Any]:
    """The canonical inputs of the draw for the round as it stands now (teams and conflicts as of now)."""
    sent = teams.team_inputs(session, r.team_ids or [])
    ids = sorted({m for t in sent for m in t["member_ids"]}) if sent else r.inspector_ids
    pool = session.scalars(select(User).where(User.id.in_(ids or [-1])).order_by(User.id)).all()
    people = [u for u in pool if u.active and u.has_role("inspector")]
    found = candidates(session, r.filters or {})
    return {
        "format": draw.FORMAT,
        "round": {"id": r.id, "name": r.name},
        "nonce": nonce,
        "candidates": found,
        "groups": r.groups,
        "sites_per_group": r.sites_per_group,
        "team_size": r.team_size,
        "items_per_visit": r.items_per_visit,
        "check_items": list(r.check_items),
        "inspectors": [{"id": u.id, "home_township_id": u.home_township_id} for u in people],
        "teams": sent,
        "recusals": teams.recusals_for(session, found, [u.id for u in people]),
    }


def value_source(data: dict[str, Any], today: date) -> dict[str, str]:
    """Where the public value must come from and the day it is published, checked: that day is after today.

    A value already public at freeze could be chosen among several after trying each offline
    (the admin knows the nonce); one published later cannot.
    """
    description = str(data.get("description") or "").strip()
    if not description or len(description) > MAX_SOURCE_CHARS:
        raise _invalid(
            f"请写明公开随机数的来源(不超过 {MAX_SOURCE_CHARS} 字),如:中国福利彩票双色球第2026141期开奖号码",
            "public_value_source",
        )
    raw = data.get("date")
    try:
        day = date.fromisoformat(raw) if isinstance(raw, str) else None
    except ValueError:
        day = None
    if day is None:
        raise _invalid("请填写公开随机数的公布日期", "public_value_date")
    if day <= today:
        raise _invalid("公开随机数的公布日期须晚于冻结当天:冻结时已公布的数值可以被事先挑选", "public_value_date")
    if day > today + timedelta(days=MAX_SOURCE_DAYS):
        raise _invalid(f"公开随机数的公布日期不能晚于 {MAX_SOURCE_DAYS} 天后", "public_value_date")
    return {"description": description, "date": day.isoformat()}


# ---- the status machine ---------------------------------------------------------------------


def freeze(session: Session, actor: User, round_id: int, source: dict[str, Any]) -> InspectionRound:
    """Fix the inputs, with where the public value will come from and when, and publish their hash."""
    r = _locked(session, round_id)
    if r.status != NEXT["freeze"]:
        raise _illegal(r, "冻结")
    inputs = build_inputs(session, r, secrets.token_hex(16))
    inputs[draw.SOURCE_KEY] = value_source(source, clock.today())
    try:
        draw.validate(inputs)
    except draw.DrawError as exc:
        raise _infeasible(exc) from None
    r.inputs, r.input_hash = inputs, draw.input_hash(inputs)
    r.status, r.frozen_at = "frozen", utcnow()
    audit.append(
        session,
        actor,
        "round.freeze",
        "round",
        r.id,
        {
            "input_hash": r.input_hash,
            "candidates": len(inputs["candidates"]),
            "team_ids": [t["id"] for t in inputs["teams"]],
            "recusals": len(inputs["recusals"]),
            "public_value_source": inputs[draw.SOURCE_KEY],
        },
    )
    session.commit()
    return r


def run_draw(
    session: Session, actor: User, round_id: int, public_value: str, *, today: date | None = None
) -> InspectionRound:
    """Seed from the published hash and the public value, draw, and create the drawn assignments.

    Refused before the day the frozen inputs name for the public value (China time).
    """
    r = _locked(session, round_id)
    if r.status != NEXT["draw"]:
        raise _illegal(r, "抽取")
    source = draw.value_source(r.inputs)
    if source and (today or clock.today()) < date.fromisoformat(source["date"]):
        raise ApiError(
            "conflict",
            f"公开随机数将于 {source['date']} 公布({source['description']}),该日起才能抽取",
            {"reason": "public_value_not_yet_published", "public_value_source": source},
        )
    value = draw.normalize_public_value(public_value or "")
    if not value or len(value) > MAX_PUBLIC_VALUE:
        raise _invalid(f"请填写公开随机数(不超过 {MAX_PUBLIC_VALUE} 字符)", "public_value")
    seed = draw.make_seed(r.input_hash, value)
    try:
        result = draw.run(r.inputs, seed)
    except draw.DrawError as exc:
        raise _infeasible(exc) from None
    by_key = {c["key"]: c for c in r.inputs["candidates"]}
    drawn_ids = {i for g in result["groups"] for i in g["inspector_ids"]}
    members = {u.id: u for u in session.scalars(select(User).where(User.id.in_(drawn_ids or {-1})))}
    created = []
    for group in result["groups"]:
        for site in group["sites"]:
            c = by_key[site["key"]]
            a = Assignment(
                project_id=c["project_id"],
                village_id=c["village_id"],
                check_items=site["check_items"],
                due_date=r.due_date,
                origin="drawn",
                round_id=r.id,
                created_by_id=actor.id,
            )
            a.members = [members[i] for i in group["inspector_ids"]]
            session.add(a)
            created.append(a)
    session.flush()
    r.public_value, r.seed, r.result = value, seed, result
    r.status, r.drawn_at = "drawn", utcnow()
    # The log keeps the seed and the ids; the villages stay in the round until it closes.
    audit.append(
        session,
        actor,
        "round.draw",
        "round",
        r.id,
        {"public_value": value, "seed": seed, "assignment_ids": [a.id for a in created]},
    )
    session.commit()
    checkpoints.after(session, "round.draw")
    return r


def close(session: Session, actor: User, round_id: int) -> InspectionRound:
    """End the round: its open assignments close and the full record becomes public."""
    r = _locked(session, round_id)
    if r.status != NEXT["close"]:
        raise _illegal(r, "结束")
    still_open = list(
        session.scalars(select(Assignment).where(Assignment.round_id == r.id, Assignment.status == "open"))
    )
    now = utcnow()
    for a in still_open:
        a.status, a.closed_at = "closed", now
    r.status, r.closed_at = "closed", now
    audit.append(session, actor, "round.close", "round", r.id, {"closed_assignment_ids": [a.id for a in still_open]})
    session.commit()
    checkpoints.after(session, "round.close")
    return r


# ---- what is published ----------------------------------------------------------------------


def record(r: InspectionRound) -> dict[str, Any]:
    """The full record scripts/verify_draw.py replays (only for closed rounds in public)."""
    return {
        "format": draw.FORMAT,
        "inputs": r.inputs,
        "input_hash": r.input_hash,
        "public_value": r.public_value,
        "seed": r.seed,
        "result": r.result,
    }


def public_summary(r: InspectionRound) -> dict[str, Any]:
    """What anyone may know of a round: the hash and counts before close, the record after."""
    inputs = r.inputs or {}
    out: dict[str, Any] = {
        "id": r.id,
        "name": r.name,
        "status": r.status,
        "status_label": ROUND_STATUSES[r.status],
        "input_hash": r.input_hash,
        "frozen_at": _iso(r.frozen_at),
        "drawn_at": _iso(r.drawn_at),
        "closed_at": _iso(r.closed_at),
        # Counts, no names: how many could be drawn, how many will be, how many teams.
        "counts": {
            "candidates": len(inputs.get("candidates", [])),
            "townships": len({draw.stratum(c) for c in inputs.get("candidates", [])}),
            "sites": r.groups * r.sites_per_group,
            "groups": r.groups,
            "team_size": r.team_size,
            "check_items": len(inputs.get("check_items", [])),
            "items_per_visit": r.items_per_visit,
            "inspectors": len(inputs.get("inspectors", [])),
            "teams": len(inputs.get("teams") or []),
            "recusals": len(inputs.get("recusals") or []),
        },
        # Where the value must come from is part of the published commitment from freeze on.
        "public_value_source": draw.value_source(inputs),
        "public_value": r.public_value if r.status in ("drawn", "closed") else None,
        "record": record(r) if r.status == "closed" else None,
        # Which places were barred to whom, once the places are public: teams by name, people never.
        "recusals": recusal_lines(inputs) if r.status == "closed" else None,
    }
    return out


def recusal_lines(inputs: dict[str, Any]) -> list[dict[str, Any]]:
    """The declared conflicts a frozen round applied, in words with no personal detail."""
    label = {c["key"]: c["label"] for c in inputs.get("candidates", [])}
    team_of = {m: t["name"] for t in inputs.get("teams") or [] for m in t["member_ids"]}
    return [
        {
            "team": team_of.get(rec["inspector_id"]),
            "scope": rec["scope"],
            "sites": [label.get(k, k) for k in rec["keys"]],
            "text": f"{team_of[rec['inspector_id']]}某成员申报回避"
            if rec["inspector_id"] in team_of
            else "某督查人员申报回避",
        }
        for rec in inputs.get("recusals") or []
    ]


def drawn_teams(session: Session, r: InspectionRound) -> dict[str, dict[str, Any]]:
    """For a drawn round sent as teams: site key -> {team_id, name, leader_id, leader} (the 组长 responsible)."""
    by_id = {t["id"]: t for t in (r.inputs or {}).get("teams") or []}
    leaders = {
        u.id: u.name
        for u in session.scalars(select(User).where(User.id.in_({t["leader_id"] for t in by_id.values()} or {-1})))
    }
    out = {}
    for g in (r.result or {}).get("groups", []):
        t = by_id.get(g.get("team_id"))
        if t is None:
            continue
        info = {
            "team_id": t["id"],
            "name": t["name"],
            "leader_id": t["leader_id"],
            "leader": leaders.get(t["leader_id"]),
        }
        out.update({site["key"]: info for site in g["sites"]})
    return out


def public_rounds(session: Session) -> list[InspectionRound]:
    """Rounds whose hash has been published (drafts are nobody's business yet)."""
    return list(
        session.scalars(
            select(InspectionRound).where(InspectionRound.status != "draft").order_by(InspectionRound.id.desc())
        )
    )


def public_round(session: Session, round_id: int) -> InspectionRound:
    """A published round, or 404 (drafts too)."""
    r = session.get(InspectionRound, round_id)
    if r is None or r.status == "draft":
        raise ApiError("not_found", "找不到该抽查轮次", {"id": round_id})
    return r


def _iso(value) -> str | None:
    return value.isoformat() if value is not None else None


# ---- staff views ----------------------------------------------------------------------------


def assignments_of(session: Session, r: InspectionRound) -> list[Assignment]:
    """The round's drawn assignments in order of creation (group by group)."""
    return list(session.scalars(select(Assignment).where(Assignment.round_id == r.id).order_by(Assignment.id)))


def site_key(a: Assignment) -> str:
    """The draw's key of a drawn assignment's place (as in the candidates of the inputs)."""
    return f"p{a.project_id}-v{a.village_id}" if a.village_id else f"p{a.project_id}-s{a.project.site_id}"


def allocation_named(r: InspectionRound) -> list[tuple[str, int]]:
    """(township name, sites) of a drawn round's allocation."""
    names = {draw.stratum(c): c["township"] for c in (r.inputs or {}).get("candidates", [])}
    return [(names.get(k) or "未定乡镇", n) for k, n in (r.result or {}).get("allocation", {}).items() if n]


def candidate_count(session: Session, r: InspectionRound) -> int:
    """How many places the round's filters give now (for a draft's page)."""
    return len(candidates(session, r.filters or {}))


def teams_of(session: Session, items: list[Assignment]) -> dict[int, dict[str, Any]]:
    """Assignment id -> the standing team a round sent there and its 组长 (assignments drawn as teams only)."""
    round_ids = {a.round_id for a in items if a.round_id is not None}
    if not round_ids:
        return {}
    by_round = {
        r.id: drawn_teams(session, r)
        for r in session.scalars(select(InspectionRound).where(InspectionRound.id.in_(round_ids)))
    }
    out = {}
    for a in items:
        info = by_round.get(a.round_id, {}).get(site_key(a)) if a.round_id else None
        if info is not None:
            out[a.id] = info
    return out
