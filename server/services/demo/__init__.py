"""A demo county for trying the service on a laptop (Ji'an County, Jiangxi, after the seed article).

`load` makes it once, step by step; each step is idempotent, and lives with the others of its job:
base (places, accounts, imports), field (a visit), organizations (applications, units, levels),
events (roadshow, teams, observations), year (the department's year so far), counties (a second one).
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from server import clock, tenancy
from server.models import Assignment, County, Project, Visit
from server.services import assignments, projects
from server.services.demo.base import DEMO_PASSWORDS, PROJECTS, TOWNSHIPS, VILLAGES, ensure_user, import_rows
from server.services.demo.counties import add_second_county
from server.services.demo.events import add_observations, add_roadshow, add_teams
from server.services.demo.field import add_visit
from server.services.demo.organizations import add_levels_and_lead_items, add_lifecycle, add_units
from server.services.demo.year import add_cadres, add_documents, add_loose_ends, add_quarterly, add_statistics
from server.services.imports import places as place_import


def load(session: Session) -> list[str]:
    """Create the demo county once; return lines describing how to log in."""
    # Everything below is the first county's (吉安县); the second county comes last (add_second_county).
    tenancy.limit(session, 1)
    tenancy.act_in(session, 1)
    first = session.get(County, 1)
    if first.name == "本县":
        first.code, first.name, first.department_name = "360821", "吉安县", "中共吉安县委组织部"
        session.commit()
    rows = [
        {"type": "乡镇", "code": c, "name": n, "lat": str(la), "lng": str(ln), "coord_type": "gcj02"}
        for c, n, la, ln in TOWNSHIPS
    ]
    rows += [
        {
            "type": "村",
            "code": c,
            "name": n,
            "township_code": t,
            "lat": str(la),
            "lng": str(ln),
            "coord_type": "gcj02",
            "radius_m": str(r),
        }
        for c, n, t, la, ln, r in VILLAGES
    ]
    rows.append(
        {
            "type": "单位",
            "code": "GXQ-DQFWZX",
            "name": "吉安高新区党群服务中心",
            "township_code": "360821100000",
            "lat": "27.0305",
            "lng": "114.9202",
            "coord_type": "gcj02",
            "radius_m": "300",
        }
    )
    import_rows(session, None, place_import.PlacesImporter(), rows, "demo places")

    from server.models import Site, Township, Village

    township = {t.code: t for t in session.scalars(select(Township))}
    village = {v.code: v for v in session.scalars(select(Village))}
    admin, _ = ensure_user(
        session, "admin", {"name": "县委组织部管理员", "roles": ["admin"], "password": DEMO_PASSWORDS["admin"]}
    )
    ensure_user(
        session,
        "reviewer",
        {
            "name": "永阳镇审核员",
            "roles": ["reviewer"],
            "password": DEMO_PASSWORDS["reviewer"],
            "township_ids": [township["360821100000"].id],
        },
    )
    inspector, invite = ensure_user(
        session,
        "inspector",
        {"name": "张督查", "roles": ["inspector"], "home_township_id": township["360821105000"].id},
    )
    colleague, _ = ensure_user(
        session,
        "inspector2",
        {"name": "李督查", "roles": ["inspector"], "home_township_id": township["360821105000"].id},
    )

    year = clock.today().year
    if session.scalar(select(Project.id).limit(1)) is None:
        made = []
        for title, vcode, steps, targets, responsible in PROJECTS:
            made.append(
                projects.create_project(
                    session,
                    admin,
                    {
                        "title": title,
                        "year": year,
                        "village_ids": [village[vcode].id],
                        "steps": [
                            {"name": name, "deadline": f"{year}-{md}", "responsible": responsible["牵头书记"]}
                            for name, md in steps
                        ],
                        "targets": targets,
                        "responsible": responsible,
                    },
                )
            )
        site = session.scalar(select(Site).where(Site.code == "GXQ-DQFWZX"))
        projects.create_project(
            session,
            admin,
            {"title": "非公企业联合党支部“四个一”规范化", "year": year, "domain": "非公企业", "site": {"id": site.id}},
        )
    if session.scalar(select(Assignment.id).limit(1)) is None:
        due = (clock.today() + timedelta(days=14)).isoformat()
        made = session.scalars(select(Project).order_by(Project.id).limit(2)).all()
        for p in made:
            assignments.create_assignment(
                session,
                admin,
                {
                    "project_id": p.id,
                    "inspector_ids": [inspector.id, colleague.id],
                    "due_date": due,
                    "check_items": ["项目公示栏是否张贴", "实施进度是否与计划一致", "群众是否知晓项目"],
                },
            )

    if session.scalar(select(Visit.id).limit(1)) is None:
        # The colleague's: the newcomer trying the inspector's flow as 张督查 (scripts/try_visit.py, or
        # the mini-program) checks in minutes later at another village, which from the same phone
        # would read as impossible speed.
        add_visit(session, colleague)
    add_lifecycle(session, admin, township, village)
    add_units(session, admin)
    add_levels_and_lead_items(session, admin, township, village)
    add_quarterly(session, admin)
    add_cadres(session, admin)
    add_roadshow(session, admin)
    add_teams(session, admin, township, village)
    add_observations(session, admin, township)
    add_documents(session, admin)
    add_statistics(session, admin)
    add_loose_ends(session, admin)
    add_second_county(session)

    lines = [
        "演示数据已就绪 (demo county: 吉安县, 4 townships, 6 villages, 4 projects and 1 application)",
        f"  管理员 admin / {DEMO_PASSWORDS['admin']}",
        f"  审核员 reviewer / {DEMO_PASSWORDS['reviewer']} (永阳镇)",
        f"  项目书记 secretary / {DEMO_PASSWORDS['secretary']} (江南村党支部, 一份待审核的申报)",
        f"  归口单位审核员 unit / {DEMO_PASSWORDS['unit']} (永阳镇党委)",
        f"  联系组工干部 cadre / {DEMO_PASSWORDS['cadre']} (胡颖, 我的联系项目)",
        f"  评审专家 expert / {DEMO_PASSWORDS['expert']} (路演评审,手机打开 /console/roadshows)",
        f"  第二个县 吉水县的管理员 jishui / {DEMO_PASSWORDS['jishui']} (只看到吉水县)",
        f"  市委组织部领导 city / {DEMO_PASSWORDS['city']} (各县概况,只读)",
    ]
    if invite:
        lines.append(f"  督查员 张督查 (inspector) 邀请码 invite code: {invite}")
    else:
        lines.append("  督查员 张督查 (inspector) 已绑定微信 (WeChat already bound)")
    lines.append("  管理后台 console: /console/  ·  API: /api/v1/openapi.json")
    return lines
