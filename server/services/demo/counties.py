"""A second county of the city and a city leader who reads both."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from server import clock, tenancy
from server.models import County
from server.services import counties, projects, users
from server.services.demo.base import DEMO_PASSWORDS, import_rows
from server.services.imports import places as place_import


def add_second_county(session: Session) -> None:
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
    import_rows(session, admin, place_import.PlacesImporter(), rows, "the second county's places")
    village = session.scalar(select(Township).where(Township.code == "360822100000")).villages[0]
    projects.create_project(
        session, admin, {"title": "城南村井冈蜜柚示范园", "year": clock.today().year, "village_ids": [village.id]}
    )
    tenancy.limit(session, 1)
