"""The grading year's events: a 路演评审会, the standing inspection teams, a 季度观摩 and a 中期互评 round."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from server import clock
from server.models import Project, User
from server.services import projects
from server.services.demo.base import DEMO_PASSWORDS, ensure_user


def add_roadshow(session: Session, admin: User) -> None:
    """路演评审会 of the year: three experts, two speakers scored and finalized, the third up for the demo expert."""
    from server.models import GradingSession, Roadshow
    from server.services import grading
    from server.services.grading import roadshow

    if session.scalar(select(Roadshow.id).limit(1)) is not None:
        return
    year = clock.today().year
    gs = session.scalar(select(GradingSession).where(GradingSession.year == year))
    if gs is None:
        gs = grading.create_session(session, admin, {"year": year})
    if gs.status == "draft":
        gs = grading.open_session(session, admin, gs.id)
    entries = grading.entries_of(session, gs)
    if gs.status != "scoring" or len(entries) < 3:
        return
    experts = [
        ensure_user(
            session, "expert", {"name": "刘文(县委党校)", "roles": ["expert"], "password": DEMO_PASSWORDS["expert"]}
        )[0],
        ensure_user(session, "expert2", {"name": "陈敏(县农业农村局)", "roles": ["expert"]})[0],
        ensure_user(session, "expert3", {"name": "周平(乡镇党委书记代表)", "roles": ["expert"]})[0],
    ]
    rs = roadshow.create_roadshow(
        session,
        admin,
        {
            "session_id": gs.id,
            "title": f"{year} 年度优秀“书记项目”路演评审会",
            "held_on": clock.today().isoformat(),
            "venue": "县委党校报告厅",
        },
    )
    speakers = [roadshow.add_speaker(session, admin, rs.id, e.id) for e in entries[:3]]
    for expert in experts:
        roadshow.add_expert(session, admin, rs.id, expert.id)
    roadshow.start(session, admin, rs.id)
    # Each expert's marks for the first two speakers, criterion by criterion (the default four criteria).
    marks = (
        (("88", "85", "90", "86"), ("82", "80", "84", "85"), ("90", "86", "88", "87")),
        (("80", "78", "76", "82"), ("85", "75", "80", "78"), ("78", "80", "74", "80")),
    )
    for speaker, sheets in zip(speakers[:2], marks, strict=True):
        for expert, values in zip(experts, sheets, strict=True):
            scores = {c["key"]: values[i % len(values)] for i, c in enumerate(gs.criteria)}
            roadshow.finalize_sheet(session, expert, rs.id, speaker.id, scores, "")
        roadshow.advance(session, admin, rs.id)


def add_teams(session: Session, admin: User, township: dict, village: dict) -> None:
    """Two standing teams with their 组长 and 带队领导, and one declared conflict (once)."""
    from server.models import InspectionTeam
    from server.services import teams

    if session.scalar(select(InspectionTeam.id).limit(1)) is not None:
        return
    zhang = session.scalar(select(User).where(User.username == "inspector"))
    li = session.scalar(select(User).where(User.username == "inspector2"))
    wang, _ = ensure_user(
        session,
        "inspector3",
        {"name": "王督查", "roles": ["inspector"], "home_township_id": township["360821104000"].id},
    )
    zhao, _ = ensure_user(session, "inspector4", {"name": "赵督查", "roles": ["inspector"]})
    liu, _ = ensure_user(session, "lead_liu", {"name": "刘建军", "roles": ["leader"]})
    xu, _ = ensure_user(session, "lead_xu", {"name": "许文华", "roles": ["leader"]})
    teams.create_team(
        session,
        admin,
        {"name": "第一督查组", "member_ids": [zhang.id, li.id], "leader_id": zhang.id, "lead_official_id": liu.id},
    )
    teams.create_team(
        session,
        admin,
        {"name": "第二督查组", "member_ids": [wang.id, zhao.id], "leader_id": wang.id, "lead_official_id": xu.id},
    )
    # 李督查's in-laws live in 江南村: a round sending both teams gives 江南村 to 第二督查组.
    teams.declare_conflict(
        session,
        li,
        {"kind": "relative", "scope": "village", "place_id": village["360821100201"].id, "note": "配偶父母居住在该村"},
        own=True,
    )


def add_observations(session: Session, admin: User, township: dict) -> None:
    """A closed 季度观摩 over three projects with on-site scores, and a 中期互评 round still running."""
    from server.models import ObservationEvent, Organization, PeerReviewRound
    from server.services import observations, peer_review

    first_three = session.scalars(select(Project).where(Project.applicant_id.is_(None)).order_by(Project.id).limit(3))
    route = list(first_three)
    reviewer = session.scalar(select(User).where(User.username == "reviewer"))
    if session.scalar(select(ObservationEvent.id).limit(1)) is None and len(route) == 3:
        held_on = clock.today() - timedelta(days=7)
        event = observations.create_event(
            session,
            admin,
            {
                "kind": "quarterly",
                "title": f"{held_on.year}年第{(held_on.month - 1) // 3 + 1}季度书记项目现场观摩",
                "held_on": held_on,
                "stops": [
                    {"project_id": p.id, "planned_at": t}
                    for p, t in zip(route, ("09:00", "10:40", "14:30"), strict=True)
                ],
                "participant_ids": [admin.id, reviewer.id],
                "outside": [
                    {"name": "王敏", "post": "桐坪镇党委书记", "scoring": True},
                    {"name": "张华", "post": "万福镇组织委员", "scoring": False},
                ],
            },
        )
        observations.start_event(session, admin, event.id)
        stops = [s.id for s in observations.stops_of(session, event.id)]
        outsider = next(p.id for p in observations.participants_of(session, event.id) if p.name == "王敏")
        sheets = (
            (admin, None, (92, 85, 78), ("蜜柚流转中心运转良好,带动明显", "", "台账规范,阵地建设仍需加强")),
            (reviewer, None, (90, 88, 74), ("群众知晓率高", "拆改进度符合计划", "")),
            (admin, outsider, (94, 83, 80), ("可复制推广", "", "")),
        )
        for user, participant, marks, remarks in sheets:
            observations.save_scores(
                session,
                user,
                event.id,
                participant,
                [{"stop_id": i, "score": m, "remark": r} for i, m, r in zip(stops, marks, remarks, strict=True)],
            )
        observations.close_event(session, admin, event.id)

    if session.scalar(select(PeerReviewRound.id).limit(1)) is None and len(route) == 3:
        orgs = [session.scalar(select(Organization).where(Organization.name == "江南村党支部"))]
        for name, tcode, project in (
            ("大栗村党支部", "360821103000", route[1]),
            ("许家村党支部", "360821104000", route[2]),
        ):
            # The reporting units' import above may have made it already.
            org = session.scalar(
                select(Organization).where(Organization.name == name).order_by(Organization.id).limit(1)
            ) or projects.create_organization(session, admin, {"name": name, "township_id": township[tcode].id})
            projects.update_project(session, admin, project.id, {"organization_id": org.id})
            orgs.append(org)
        rnd = peer_review.create_round(
            session, admin, {"year": clock.today().year, "organization_ids": [o.id for o in orgs]}
        )
        secretary = session.scalar(select(User).where(User.username == "secretary"))
        peer_review.save_score(
            session,
            secretary,
            rnd.id,
            route[1].id,
            {"scores": {"推进成效": 8, "特色亮点": 7, "群众认可": 9}, "comment": "拆改进度快,群众评价好"},
        )
