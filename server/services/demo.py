"""A demo county for trying the service on a laptop (Ji'an County, Jiangxi, after the seed article)."""

from __future__ import annotations

from datetime import date, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from server import clock, tenancy
from server.models import Assignment, County, Project, User, Visit
from server.services import assignments, counties, imports, photos, projects, users, visits
from server.services.imports import places as place_import

# Division codes follow the national scheme (360821 = 吉安县); coordinates are GCJ-02 as read
# off a Chinese map, the way staff will type them, and are converted on import.
TOWNSHIPS = [
    ("360821100000", "永阳镇", 27.0096, 114.8712),
    ("360821103000", "桐坪镇", 27.1389, 114.7605),
    ("360821104000", "万福镇", 26.9702, 114.9915),
    ("360821105000", "敦厚镇", 27.1027, 114.9088),
]
VILLAGES = [
    ("360821100201", "江南村", "360821100000", 27.0161, 114.8803, 600),
    ("360821100202", "永和村", "360821100000", 27.0012, 114.8601, 500),
    ("360821103201", "大栗村", "360821103000", 27.1455, 114.7488, 500),
    ("360821103202", "桐坪村", "360821103000", 27.1360, 114.7650, 500),
    ("360821104201", "许家村", "360821104000", 26.9766, 115.0031, 700),
    ("360821105201", "敦厚村", "360821105000", 27.1088, 114.9170, 500),
]
PROJECTS = [
    (
        "“一领办三参与”井冈蜜柚产业项目",
        "360821100201",
        [("建成蜜柚流转中心", "03-31"), ("组织分拣打包与销售", "10-31"), ("集体经济收益分红", "12-31")],
        ["村集体经济经营性收入突破 5 万元", "带动 60 户农户增收"],
        {
            "主管领导": "永阳镇党委副书记 刘强",
            "牵头书记": "江南村党支部书记 彭建华",
            "联系组工干部": "县委组织部 胡颖",
            "工作队伍": "村“两委”干部及党员志愿者 12 人",
        },
    ),
    (
        "旱厕拆除与人居环境整治",
        "360821103201",
        [("全面摸排旱厕", "04-30"), ("拆除改建", "08-31"), ("验收并公示结果", "11-30")],
        ["拆除旱厕 40 处", "群众满意率 95% 以上"],
        {
            "主管领导": "桐坪镇党委书记 王敏",
            "牵头书记": "大栗村党支部书记 罗志刚",
            "联系组工干部": "县委组织部 刘亮",
            "工作队伍": "村级环境整治队 8 人",
        },
    ),
    (
        "“三化”建设标准化规范化提升",
        "360821104201",
        [("党群服务中心阵地建设", "05-31"), ("制度上墙、台账规范", "09-30"), ("通过“三化”验收", "12-15")],
        ["通过县级“三化”验收"],
        {
            "主管领导": "万福镇组织委员 张华",
            "牵头书记": "许家村党支部书记 郭慧",
            "联系组工干部": "县委组织部 吴兰",
            "工作队伍": "村“两委”班子 7 人",
        },
    ),
]
DEMO_PASSWORDS = {
    "admin": "demo-admin-2026",
    "reviewer": "demo-review-2026",
    "secretary": "demo-secretary-2026",
    "unit": "demo-unit-2026",
    "cadre": "demo-cadre-2026",
    "expert": "demo-expert-2026",
    "jishui": "demo-jishui-2026",
    "city": "demo-city-2026",
}


def _ensure_user(session: Session, username: str, data: dict) -> tuple[User, str | None]:
    user = session.scalar(select(User).where(User.username == username))
    # Accounts that use the mini-program get an invite code on each run until WeChat is bound.
    invite = bool(set(data.get("roles", [])) & set(users.MINIPROGRAM_ROLES))
    if user is None:
        return users.create_user(session, None, {"username": username, "issue_invite": invite, **data})
    if user.openid is None and invite:
        return users.update_user(session, user, user.id, {"reset_invite": True})
    return user, None


def load(session: Session) -> list[str]:
    """Create the demo county once; return lines describing how to log in."""
    # Everything below is the first county's (吉安县); the second county comes last (_demo_counties).
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
    _import(session, None, place_import.PlacesImporter(), rows, "demo places")

    from server.models import Site, Township, Village

    township = {t.code: t for t in session.scalars(select(Township))}
    village = {v.code: v for v in session.scalars(select(Village))}
    admin, _ = _ensure_user(
        session, "admin", {"name": "县委组织部管理员", "roles": ["admin"], "password": DEMO_PASSWORDS["admin"]}
    )
    _ensure_user(
        session,
        "reviewer",
        {
            "name": "永阳镇审核员",
            "roles": ["reviewer"],
            "password": DEMO_PASSWORDS["reviewer"],
            "township_ids": [township["360821100000"].id],
        },
    )
    inspector, invite = _ensure_user(
        session,
        "inspector",
        {"name": "张督查", "roles": ["inspector"], "home_township_id": township["360821105000"].id},
    )
    colleague, _ = _ensure_user(
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
        _demo_visit(session, colleague)
    _demo_lifecycle(session, admin, township, village)
    _demo_units(session, admin)
    _demo_levels_and_lead_items(session, admin, township, village)
    _demo_quarterly(session, admin)
    _demo_cadres(session, admin)
    _demo_roadshow(session, admin)
    _demo_teams(session, admin, township, village)
    _demo_observations(session, admin, township)
    _demo_documents(session, admin)
    _demo_statistics(session, admin)
    _demo_loose_ends(session, admin)
    _demo_counties(session)

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


def _demo_lifecycle(session: Session, admin: User, township: dict, village: dict) -> None:
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
    secretary, _ = _ensure_user(
        session,
        "secretary",
        {
            "name": "彭建华",
            "roles": ["secretary"],
            "password": DEMO_PASSWORDS["secretary"],
            "organization_ids": [org.id],
        },
    )
    _ensure_user(
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


def _demo_photo(seed: int, gps: tuple[float, float] | None = None) -> bytes:
    """A camera-sized JPEG with some structure, so thumbnails and hashes look real; `gps`: the camera's EXIF position."""
    import io
    import random

    from PIL import Image, ImageDraw
    from PIL.TiffImagePlugin import IFDRational

    rng = random.Random(seed)
    img = Image.new("RGB", (1600, 1200), (rng.randrange(80, 200), rng.randrange(120, 200), rng.randrange(60, 160)))
    draw = ImageDraw.Draw(img)
    for _ in range(30):
        x, y = rng.randrange(1600), rng.randrange(1200)
        draw.rectangle(
            (x, y, x + rng.randrange(400), y + rng.randrange(300)), fill=tuple(rng.randrange(256) for _ in range(3))
        )
    extra = {}
    if gps:
        exif = Image.Exif()
        # Degrees, minutes and seconds as EXIF rationals, the way a phone camera writes them.
        gps_ifd = exif.get_ifd(0x8825)
        for ref_tag, tag, value, refs in ((1, 2, gps[0], "NS"), (3, 4, gps[1], "EW")):
            d, rest = divmod(abs(value) * 3600, 3600)
            m, sec = divmod(rest, 60)
            gps_ifd[ref_tag] = refs[value < 0]
            gps_ifd[tag] = (IFDRational(int(d), 1), IFDRational(int(m), 1), IFDRational(round(sec * 1000), 1000))
        extra["exif"] = exif.tobytes()
    out = io.BytesIO()
    img.save(out, "JPEG", quality=85, **extra)
    return out.getvalue()


# 吉安市区 (WGS-84): where the camera of one demo photo says it was.
DEMO_EXIF_ELSEWHERE = (27.1135, 114.9760)


def _demo_visit(session: Session, inspector: User) -> None:
    """One submitted visit with a check-in, photos (one taken far away) and an interview."""
    import uuid
    from datetime import UTC, datetime

    # The last demo assignment (大栗村): 李督查, whose visit this is, declared relatives in 江南村.
    assignment = session.scalar(select(Assignment).order_by(Assignment.id.desc()).limit(1))
    if assignment is None:
        return
    now = datetime.now(UTC).isoformat()
    village = assignment.village
    visit, _ = visits.start_visit(
        session, inspector, {"client_id": str(uuid.uuid4()), "assignment_id": assignment.id, "started_at": now}
    )
    visits.add_checkin(
        session,
        inspector,
        visit.id,
        {
            "client_id": str(uuid.uuid4()),
            "sent_at": now,
            "lat": village.lat,
            "lng": village.lng + 0.001,
            "accuracy_m": 15.0,
            "coord_type": "wgs84",
            "client_time": now,
        },
    )
    # The third photo was taken at the village, but its camera says 吉安市区 (about 30 km off): the
    # evidence map draws that EXIF position as a dashed line with the distance.
    shots = [
        (village.lat, village.lng, None),
        (village.lat + 0.03, village.lng, None),
        (village.lat, village.lng, DEMO_EXIF_ELSEWHERE),
    ]
    for seed, (lat, lng, exif_gps) in enumerate(shots):
        data = _demo_photo(seed, exif_gps)
        photo, _ = visits.request_photo(
            session,
            inspector,
            visit.id,
            {
                "client_id": str(uuid.uuid4()),
                "sent_at": now,
                "content_type": "image/jpeg",
                "size": len(data),
                "taken_at": now,
                "lat": lat,
                "lng": lng,
            },
        )
        photos.storage().put(photo.upload_key, data, content_type="image/jpeg")
        photos.complete(session, inspector, photo.id)
    visits.add_interview(
        session,
        inspector,
        visit.id,
        {
            "client_id": str(uuid.uuid4()),
            "sent_at": now,
            "household": "彭家(演示)",
            "answers": {"是否知道本村书记项目": "知道", "项目实际进展": "流转中心已建成"},
            "satisfaction": "满意",
        },
    )
    visits.submit_visit(session, inspector, visit.id, {"client_id": str(uuid.uuid4()), "sent_at": now})


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


def _demo_units(session: Session, admin: User) -> None:
    """Reporting units and their party organizations, loaded through the imports a department would use;
    the demo unit reviewer belongs to 永阳镇党委 and so reviews for all of its organizations."""
    from server.models import ReportingUnit
    from server.services.imports.organizations import OrganizationsImporter
    from server.services.imports.units import UnitsImporter

    if session.scalar(select(ReportingUnit.id).limit(1)) is not None:
        return
    for importer, rows in ((UnitsImporter(), DEMO_UNITS), (OrganizationsImporter(), DEMO_ORGANIZATIONS)):
        keyed = [dict(zip([c.key for c in importer.columns], row, strict=False)) for row in rows]
        _import(session, admin, importer, keyed, f"demo {importer.kind}")
    unit = session.scalar(select(ReportingUnit).where(ReportingUnit.name == "永阳镇党委"))
    reviewer = session.scalar(select(User).where(User.username == "unit"))
    if reviewer is not None:
        users.update_user(session, admin, reviewer.id, {"unit_id": unit.id})


def _demo_levels_and_lead_items(session: Session, admin: User, township: dict, village: dict) -> None:
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


def _demo_quarterly(session: Session, admin: User) -> None:
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


def _demo_cadres(session: Session, admin: User) -> None:
    """Liaison cadres 胡颖 and 刘亮 linked by name to their projects (吴兰 has no account yet: left for
    the admin to link), with some 1+1 蹲点 contacts logged; 刘亮's project started months ago and has
    routine items overdue."""
    from server.models import LiaisonContact
    from server.services import cadres

    hu, _ = _ensure_user(session, "cadre", {"name": "胡颖", "roles": ["cadre"], "password": DEMO_PASSWORDS["cadre"]})
    liu, _ = _ensure_user(session, "cadre2", {"name": "刘亮", "roles": ["cadre"], "password": DEMO_PASSWORDS["cadre"]})
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


def _demo_roadshow(session: Session, admin: User) -> None:
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
        _ensure_user(
            session, "expert", {"name": "刘文(县委党校)", "roles": ["expert"], "password": DEMO_PASSWORDS["expert"]}
        )[0],
        _ensure_user(session, "expert2", {"name": "陈敏(县农业农村局)", "roles": ["expert"]})[0],
        _ensure_user(session, "expert3", {"name": "周平(乡镇党委书记代表)", "roles": ["expert"]})[0],
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


def _demo_teams(session: Session, admin: User, township: dict, village: dict) -> None:
    """Two standing teams with their 组长 and 带队领导, and one declared conflict (once)."""
    from server.models import InspectionTeam
    from server.services import teams

    if session.scalar(select(InspectionTeam.id).limit(1)) is not None:
        return
    zhang = session.scalar(select(User).where(User.username == "inspector"))
    li = session.scalar(select(User).where(User.username == "inspector2"))
    wang, _ = _ensure_user(
        session,
        "inspector3",
        {"name": "王督查", "roles": ["inspector"], "home_township_id": township["360821104000"].id},
    )
    zhao, _ = _ensure_user(session, "inspector4", {"name": "赵督查", "roles": ["inspector"]})
    liu, _ = _ensure_user(session, "lead_liu", {"name": "刘建军", "roles": ["leader"]})
    xu, _ = _ensure_user(session, "lead_xu", {"name": "许文华", "roles": ["leader"]})
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


def _demo_observations(session: Session, admin: User, township: dict) -> None:
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


def _demo_documents(session: Session, admin: User) -> None:
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


def _demo_statistics(session: Session, admin: User) -> None:
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


def _demo_loose_ends(session: Session, admin: User) -> None:
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


def _demo_counties(session: Session) -> None:
    """A second county of the city (吉水县) with its administrator, a township, a village and a project, and a
    city leader who reads both counties' figures on 各县概况 and changes nothing."""
    from server.models import Township

    if session.scalar(select(County.id).where(County.code == "360822").execution_options(all_counties=True)):
        return
    tenancy.limit(session, None)
    tenancy.act_in(session, None)
    county = counties.add_county(
        session,
        None,
        {"code": "360822", "name": "吉水县", "department_name": "中共吉水县委组织部", "doc_prefix": "吉水组字"},
    )
    admin, _ = users.create_user(
        session,
        None,
        {
            "username": "jishui",
            "name": "吉水县委组织部管理员",
            "roles": ["admin"],
            "password": DEMO_PASSWORDS["jishui"],
            "county_id": county.id,
        },
    )
    users.create_user(
        session,
        None,
        {
            "username": "city",
            "name": "吉安市委组织部领导",
            "roles": ["leader"],
            "password": DEMO_PASSWORDS["city"],
            "deployment_wide": True,
        },
    )
    tenancy.enter(session, admin)
    rows = [
        {"type": "乡镇", "code": "360822100000", "name": "文峰镇", "lat": "27.1177", "lng": "115.1352"},
        {
            "type": "村",
            "code": "360822100201",
            "name": "城南村",
            "township_code": "360822100000",
            "lat": "27.1050",
            "lng": "115.1403",
            "radius_m": "500",
        },
    ]
    _import(session, admin, place_import.PlacesImporter(), rows, "the second county's places")
    village = session.scalar(select(Township).where(Township.code == "360822100000")).villages[0]
    projects.create_project(
        session, admin, {"title": "城南村井冈蜜柚示范园", "year": clock.today().year, "village_ids": [village.id]}
    )
    tenancy.limit(session, 1)


def _import(session: Session, actor: User | None, importer, rows: list[dict], what: str) -> None:
    """Import demo rows through the real importer; the demo's own rows never fail, so an error is a bug."""
    report = imports.run(session, actor, importer, rows)
    if report.errors:
        raise RuntimeError(f"{what} did not import: {report.errors}")
