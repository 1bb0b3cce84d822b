"""Party organizations, reporting units, an application under review, project levels and 书记领办事项."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from server import clock
from server.models import Project, User
from server.services import projects, users
from server.services.demo.base import DEMO_PASSWORDS, ensure_user, import_rows


def add_lifecycle(session: Session, admin: User, township: dict, village: dict) -> None:
    """A party organization with its secretary and reporting-unit reviewer, and one application under review."""
    from server.models import Organization
    from server.services import lifecycle

    org = session.scalar(select(Organization).where(Organization.name == "江南村党支部"))
    if org is None:
        org = projects.create_organization(
            session,
            admin,
            {
                "name": "江南村党支部",
                "township_id": township["360821100000"].id,
                "village_id": village["360821100201"].id,
            },
        )
    secretary, _ = ensure_user(
        session,
        "secretary",
        {
            "name": "彭建华",
            "roles": ["secretary"],
            "password": DEMO_PASSWORDS["secretary"],
            "organization_ids": [org.id],
        },
    )
    ensure_user(
        session,
        "unit",
        {
            "name": "永阳镇党委组织委员",
            "roles": ["unit_reviewer"],
            "password": DEMO_PASSWORDS["unit"],
            "organization_ids": [org.id],
        },
    )
    first = session.scalar(select(Project).order_by(Project.id).limit(1))
    if first is not None and first.secretary_id is None:
        projects.update_project(session, admin, first.id, {"secretary_id": secretary.id, "organization_id": org.id})
    if session.scalar(select(Project.id).where(Project.applicant_id == secretary.id).limit(1)) is None:
        import uuid

        year = clock.today().year
        project, _ = lifecycle.create_application(
            session,
            secretary,
            {
                "client_id": str(uuid.uuid4()),
                "title": "江南村“红色代办”便民服务项目",
                "year": year,
                "organization_id": org.id,
                "domain": "农村",
                "selection": "自选",
                "category": "创新性",
                "problem": "留守老人办事难,跑镇里办证平均要往返 2 次以上",
                "targets": ["代办事项 200 件以上", "群众满意率 95% 以上"],
                "steps": [
                    {"name": "组建党员代办队", "deadline": f"{year}-03-31"},
                    {"name": "建立代办台账并公示", "deadline": f"{year}-06-30"},
                ],
                "responsible": {
                    "主管领导": "永阳镇党委副书记 刘强",
                    "牵头书记": "江南村党支部书记 彭建华",
                    "联系组工干部": "县委组织部 胡颖",
                    "工作队伍": "党员代办队 10 人",
                },
                "village_ids": [village["360821100201"].id],
            },
        )
        lifecycle.transition(session, secretary, project.id, "submit", {})


DEMO_UNITS = [
    ["永阳镇党委", "乡镇党委", "360821100000"],
    ["桐坪镇党委", "乡镇党委", "360821103000"],
    ["万福镇党委", "乡镇党委", "360821104000"],
    ["敦厚镇党委", "乡镇党委", "360821105000"],
    ["县直机关工委", "机关工委", ""],
    ["县委教育工委", "教育工委", ""],
]


# name, domain, township code, village code, unit
DEMO_ORGANIZATIONS = [
    ["江南村党支部", "农村", "360821100000", "360821100201", "永阳镇党委"],
    ["永和村党支部", "农村", "360821100000", "360821100202", "永阳镇党委"],
    ["大栗村党支部", "农村", "360821103000", "360821103201", "桐坪镇党委"],
    ["桐坪村党支部", "农村", "360821103000", "360821103202", "桐坪镇党委"],
    ["许家村党支部", "农村", "360821104000", "360821104201", "万福镇党委"],
    ["敦厚村党支部", "农村", "360821105000", "360821105201", "敦厚镇党委"],
    ["县委办机关党支部", "机关", "", "", "县直机关工委"],
    ["永阳中学党支部", "中小学校", "360821100000", "", "县委教育工委"],
]


def add_units(session: Session, admin: User) -> None:
    """Reporting units and their party organizations, loaded through the imports a department would use;
    the demo unit reviewer belongs to 永阳镇党委 and so reviews for all of its organizations."""
    from server.models import ReportingUnit
    from server.services.imports.organizations import OrganizationsImporter
    from server.services.imports.units import UnitsImporter

    if session.scalar(select(ReportingUnit.id).limit(1)) is not None:
        return
    for importer, rows in ((UnitsImporter(), DEMO_UNITS), (OrganizationsImporter(), DEMO_ORGANIZATIONS)):
        keyed = [dict(zip([c.key for c in importer.columns], row, strict=False)) for row in rows]
        import_rows(session, admin, importer, keyed, f"demo {importer.kind}")
    unit = session.scalar(select(ReportingUnit).where(ReportingUnit.name == "永阳镇党委"))
    reviewer = session.scalar(select(User).where(User.username == "unit"))
    if reviewer is not None:
        users.update_user(session, admin, reviewer.id, {"unit_id": unit.id})


def add_levels_and_lead_items(session: Session, admin: User, township: dict, village: dict) -> None:
    """Levels on the demo projects, and three 书记领办事项: one with results, one new, one suggested for 软弱涣散."""
    from server import clock
    from server.models import LeadItem, Organization
    from server.services import lead_items

    levels = {"三化": "township", "非公企业": "county"}
    for p in session.scalars(select(Project).where(Project.level.is_(None), Project.applicant_id.is_(None))).all():
        level = next((v for k, v in levels.items() if k in p.title), "village")
        projects.update_project(session, admin, p.id, {"level": level})
    if session.scalar(select(LeadItem.id).limit(1)) is not None:
        return

    def organization(name: str, township_code: str, village_code: str | None = None) -> Organization:
        org = session.scalar(select(Organization).where(Organization.name == name))
        return org or projects.create_organization(
            session,
            admin,
            {
                "name": name,
                "township_id": township[township_code].id,
                "village_id": village[village_code].id if village_code else None,
            },
        )

    today = clock.today()
    doctors = lead_items.create_item(
        session,
        admin,
        {
            "title": "百名博士进老区,引百企旺百业兴百村",
            "started_on": clock.add_months(today, -20),
            "organization_id": organization("永阳镇党委", "360821100000").id,
            "level": "county_secretary",
            "leader_name": "县委书记",
            "problem": "村干部视野不宽、办法不多,产业发展缺人才",
            "milestones": [{"name": "22 个示范村各引进 1 名博士挂职", "deadline": f"{today.year}-06-30"}],
        },
    )
    lead_items.add_progress(
        session,
        admin,
        doctors.id,
        {
            "noted_on": clock.add_months(today, -8),
            "text": "博士牵线引进蜜柚深加工企业 1 家,村集体年增收 8 万元",
            "visible_result": True,
        },
    )
    lead_items.create_item(
        session,
        admin,
        {
            "title": "大栗村集体经济“空壳村”清零",
            "started_on": clock.add_months(today, -4),
            "organization_id": organization("大栗村党支部", "360821103000", "360821103201").id,
            "level": "village",
            "leader_name": "罗志刚",
            "problem": "村集体经济经营性收入为零",
        },
    )
    # Started over two years ago with meetings and visits, but nothing to show: suggested for the list.
    stalled = lead_items.create_item(
        session,
        admin,
        {
            "title": "许家村撂荒地复垦",
            "started_on": clock.add_months(today, -26),
            "organization_id": organization("许家村党支部", "360821104000", "360821104201").id,
            "level": "village",
            "leader_name": "郭慧",
            "problem": "村里 300 亩耕地撂荒",
        },
    )
    lead_items.add_progress(
        session,
        admin,
        stalled.id,
        {"noted_on": clock.add_months(today, -14), "text": "召开村民代表会议,动员流转撂荒地"},
    )
