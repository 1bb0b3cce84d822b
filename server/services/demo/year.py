"""The department's year so far: the quarterly cycle, liaison cadres' contacts, numbered documents,
月报 history and the loose ends of the 蜜柚 project."""

from __future__ import annotations

from datetime import date, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from server import clock
from server.models import Project, User
from server.services import projects, users
from server.services.demo.base import DEMO_PASSWORDS, PROJECTS, ensure_user


def add_quarterly(session: Session, admin: User) -> None:
    """This year's quarterly cycle: tasks past their day done with evidence, except the latest (overdue)."""
    from datetime import datetime, time

    from server import clock
    from server.services import quarterly

    tasks, created = quarterly.generate_year(session, admin, clock.today().year)
    if not created:
        return
    today = clock.today()
    past = [t for t in tasks if t.due_date < today]
    evidence = {
        "dispatch": {"note": "召开季度书记项目调度会,各乡镇党委书记和项目书记汇报推进情况,现场交办问题 3 个"},
        "supervision": {"note": "3 个工作组随机督查地点、随机确定事项,深入 4 个乡镇 6 个行政村暗访"},
        "bulletin": {"document": "吉安县委组织部关于“书记项目”推进情况的通报"},
    }
    for task in tasks:
        plan = "县委组织部三楼会议室;各乡镇党委书记、项目书记参加" if task.kind == "dispatch" else ""
        quarterly.update_task(session, admin, task.id, {"owner_id": admin.id, "notes": plan})
    # The latest task past its day stays open: the dashboard shows it overdue.
    for task in past[:-1]:
        quarterly.complete_task(session, admin, task.id, evidence[task.kind])
        done_on = task.due_date - timedelta(days=2)
        task.done_at = datetime.combine(done_on, time(10), clock.CHINA)
    session.commit()


def add_cadres(session: Session, admin: User) -> None:
    """Liaison cadres 胡颖 and 刘亮 linked by name to their projects (吴兰 has no account yet: left for
    the admin to link), with some 1+1 蹲点 contacts logged; 刘亮's project started months ago and has
    routine items overdue."""
    from server.models import LiaisonContact
    from server.services import cadres

    hu, _ = ensure_user(session, "cadre", {"name": "胡颖", "roles": ["cadre"], "password": DEMO_PASSWORDS["cadre"]})
    liu, _ = ensure_user(session, "cadre2", {"name": "刘亮", "roles": ["cadre"], "password": DEMO_PASSWORDS["cadre"]})
    cadres.link_by_name(session, admin)
    if session.scalar(select(LiaisonContact.id).limit(1)) is not None:
        return
    today = clock.today()
    for project in cadres.my_projects(session, liu):
        if project.status == "in_progress":
            project.started_at = project.started_at - timedelta(days=100)
            session.commit()
            cadres.log_contact(
                session,
                liu,
                project.id,
                {
                    "kind": "phone",
                    "contact_on": (today - timedelta(days=today.weekday() + 9)).isoformat(),
                    "summary": "与大栗村罗志刚书记电话联络:旱厕摸排已完成 32 处,拆除进度偏慢。",
                },
            )
    for project in cadres.my_projects(session, hu):
        if project.status != "in_progress":
            continue
        for kind, summary in (
            ("phone", "与江南村彭建华书记电话联络:蜜柚流转中心分拣线已调试,本周开始试运行。"),
            ("visit", "到江南村联系点调研:查看流转中心和公示栏,走访 3 户种植户,建议尽快公开分红方案。"),
        ):
            cadres.log_contact(
                session, hu, project.id, {"kind": kind, "contact_on": today.isoformat(), "summary": summary}
            )


def add_documents(session: Session, admin: User) -> None:
    """Numbered official documents: a 整改通知书 on 蜜柚产业项目 and 永阳镇党委's 立项通知 of the year."""
    from server.models import OfficialDocument, ReportingUnit
    from server.services import rectification
    from server.services.documents import notices, numbers

    if session.scalar(select(OfficialDocument.id).limit(1)) is not None:
        return
    project = session.scalar(select(Project).where(Project.applicant_id.is_(None)).order_by(Project.id).limit(1))
    if project is not None:
        order = rectification.issue(
            session, admin, project_id=project.id, items=["公示栏未更新本月进度", "项目台账缺少群众签字"]
        )
        numbers.number(session, admin, "rectification", str(order.id))
    unit = session.scalar(select(ReportingUnit).where(ReportingUnit.name == "永阳镇党委"))
    year = clock.today().year
    if unit is not None and notices.approved_projects(session, unit.id, year):
        numbers.number(session, admin, "approval", f"{unit.id}:{year}")


def add_statistics(session: Session, admin: User) -> None:
    """History for 统计报表: the running projects started three months ago with 月报 handed in (one late,
    one missing), villagers' ratings, two open 整改通知 (one overdue) and one 软弱涣散 listing."""
    import secrets
    import uuid
    from datetime import datetime, time

    from server import clock
    from server.clock import CHINA
    from server.models import Feedback, Organization, ProjectReport, RectificationOrder, WeakOrgWarning
    from server.services import feedback, rectification, reports
    from server.services.grading import penalties

    today = clock.today()
    running = list(
        session.scalars(
            select(Project)
            .where(Project.year == today.year, Project.status == "in_progress", Project.applicant_id.is_(None))
            .order_by(Project.id)
        )
    )
    if not running or session.scalar(select(ProjectReport.id).limit(1)) is not None:
        return
    # Registered today by the demo, the projects would owe no report yet: they started three months ago.
    first = max(date(today.year, 1, 1), clock.add_months(today.replace(day=1), -3))
    started = datetime.combine(first, time(9), CHINA)
    for p in running:
        p.started_at = started
    secretary = session.scalar(select(User).where(User.username == "secretary")) or admin
    for n, p in enumerate(running):
        for month in reports.owed_months(p, today):
            due = reports.due_date(month)
            if due >= today or (n == 1 and month == reports.owed_months(p, today)[-2]):
                continue  # not due yet, or the one report 大栗村 never handed in
            late = n == 2 and month == reports.owed_months(p, today)[0]
            handed_in = datetime.combine(due, time(20 if not late else 10), CHINA) + timedelta(days=3 if late else -1)
            session.add(
                ProjectReport(
                    project_id=p.id,
                    month=month,
                    text="完成本月计划,群众参与度较高",
                    status="submitted",
                    author_id=p.secretary_id or secretary.id,
                    submitted_at=handed_in,
                )
            )
    villager = users.wechat_login(session, "demo-openid-villager")
    for p, rating in zip(running * 2, ("满意", "满意", "基本满意", "不满意", "满意", "基本满意"), strict=False):
        now = datetime.now(CHINA) - timedelta(days=20)
        session.add(
            Feedback(
                project_id=p.id,
                township_id=feedback.township_of(p),
                user_id=villager.id,
                client_id=str(uuid.uuid4()),
                receipt_no=f"FK{secrets.token_hex(6)}",
                rating=rating,
                category="建议" if rating != "不满意" else "问题反映",
                text="项目进展看得见" if rating != "不满意" else "路灯装了但晚上经常不亮",
                status="resolved",
                sent_at=now,
                due_at=now + timedelta(days=7),
                created_at=now,
                closed_at=now + timedelta(days=3),
            )
        )
    session.commit()
    # Issued in the past (the service dates an order today): its deadline passed ten days ago.
    session.add(
        RectificationOrder(
            project_id=running[1].id,
            township_id=rectification.project_township(running[1]),
            organization_id=running[1].organization_id,
            items=["公示栏未更新项目进度"],
            deadline=today - timedelta(days=10),
            issued_by_id=admin.id,
            issued_at=started + timedelta(days=30),
        )
    )
    session.commit()
    rectification.issue(
        session, admin, project_id=running[0].id, items=["项目台账不完整"], deadline=today + timedelta(days=30)
    )
    weak = session.scalar(select(Organization).where(Organization.name == "大栗村党支部").limit(1))
    if weak is not None and session.scalar(select(WeakOrgWarning.id).limit(1)) is None:
        penalties.create_warning(
            session,
            admin,
            {"organization_id": weak.id, "reason": "书记项目推进缓慢,月报多次逾期", "listed_on": first},
        )


def add_loose_ends(session: Session, admin: User) -> None:
    """The 蜜柚 project's first step done and a villager's question answered in public (公开答复); an
    open 整改通知 for its secretary to answer from the console; the year's 考核加分 and 奖补资金 per grade."""
    from server.models import PUBLIC_STATUSES, FeedbackReply, GradingSession, RectificationOrder, utcnow
    from server.services import feedback, grading, rectification

    project = session.scalar(select(Project).where(Project.title == PROJECTS[0][0]))
    if project is None or project.status not in PUBLIC_STATUSES or project.status == "closed":
        return
    steps = [dict(s) for s in project.steps or [] if isinstance(s, dict)]
    if steps and not steps[0].get("status"):
        steps[0]["status"] = "已完成"
        projects.update_project(session, admin, project.id, {"steps": steps})
    if session.scalar(select(FeedbackReply.id).where(FeedbackReply.public.is_(True)).limit(1)) is None:
        villager = users.wechat_login(session, "demo-villager-jiangnan")
        fb, _ = feedback.submit(
            session,
            villager,
            project.id,
            {
                "client_id": "3b0c6f5e-6a43-4a7e-9d2a-5f0e1c2d7a10",
                "sent_at": utcnow().isoformat(),
                "rating": "基本满意",
                "category": "建议",
                "text": "流转中心建好了,分拣的时候能不能优先请本村的留守妇女来做工?",
            },
            "127.0.0.1",
        )
        if fb.status == "received":
            answer = "已采纳:分拣打包岗位优先安排本村留守妇女,10 月起在村公示栏张贴招工名单,欢迎报名。"
            feedback.reply(session, admin, fb.id, {"text": answer, "status": "processing", "public": True})
    if project.secretary_id is not None and (
        session.scalar(select(RectificationOrder.id).where(RectificationOrder.project_id == project.id).limit(1))
        is None
    ):
        rectification.issue(
            session,
            admin,
            project_id=project.id,
            items=["公示栏未更新本季度实施进度", "流转中心收支台账未按月公开"],
        )
    gs = session.scalar(select(GradingSession).where(GradingSession.year == clock.today().year))
    if gs is not None and gs.grade_points is None:
        grading.set_outcome_tables(
            session,
            admin,
            gs.id,
            {
                "points": {"特等": 3, "一等": 2, "二等": 1, "三等": 0.5},
                "amounts": {"特等": 50000, "一等": 30000, "二等": 20000, "三等": 10000},
            },
        )
