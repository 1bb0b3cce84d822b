"""Test data built through the services, and a small API client wrapper."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from types import SimpleNamespace

from server.auth import issue_token
from server.db import db
from server.models import User
from server.services import assignments, places, projects, users

# Village centres (WGS-84) used throughout the tests.
V1 = (27.0200, 114.8800)
V2 = (27.1400, 114.7600)
SITE = (27.0300, 114.9200)


def uid() -> str:
    """A fresh client_id."""
    return str(uuid.uuid4())


def now_iso(delta: timedelta = timedelta()) -> str:
    """The current time (plus delta) in RFC 3339 with an offset."""
    return (datetime.now(UTC) + delta).isoformat()


def build_world() -> SimpleNamespace:
    """Two townships, villages, projects, every kind of user and two assignments."""
    s = db.session
    admin, _ = users.create_user(
        s, None, {"username": "admin", "name": "管理员", "roles": ["admin"], "password": "admin-password"}
    )
    t1 = places.create_township(s, admin, {"code": "360821100000", "name": "永阳镇"})
    t2 = places.create_township(s, admin, {"code": "360821103000", "name": "桐坪镇"})
    v1 = places.create_village(
        s,
        admin,
        {"township_id": t1.id, "code": "360821100201", "name": "江南村", "lat": V1[0], "lng": V1[1], "radius_m": 500},
    )
    v2 = places.create_village(
        s,
        admin,
        {"township_id": t2.id, "code": "360821103201", "name": "大栗村", "lat": V2[0], "lng": V2[1], "radius_m": 500},
    )
    p1 = projects.create_project(s, admin, {"title": "蜜柚产业项目", "year": 2026, "village_ids": [v1.id]})
    p2 = projects.create_project(s, admin, {"title": "旱厕改造", "year": 2026, "village_ids": [v2.id]})
    p3 = projects.create_project(
        s,
        admin,
        {
            "title": "非公企业党建",
            "year": 2026,
            "domain": "非公企业",
            "site": {
                "name": "高新区党群服务中心",
                "lat": SITE[0],
                "lng": SITE[1],
                "radius_m": 300,
                "township_id": t1.id,
            },
        },
    )

    def person(username, roles, **extra):
        user, invite = users.create_user(
            s,
            admin,
            {"username": username, "name": username, "roles": roles, "password": f"{username}-password", **extra},
        )
        return user, invite

    insp_a, invite_a = person("insp_a", ["inspector"], home_township_id=t2.id, issue_invite=True)
    insp_b, _ = person("insp_b", ["inspector"], home_township_id=t2.id)
    insp_c, _ = person("insp_c", ["inspector"], home_township_id=t1.id)
    reviewer1, _ = person("reviewer1", ["reviewer"], township_ids=[t1.id])
    reviewer2, _ = person("reviewer2", ["reviewer"], township_ids=[t2.id])
    leader, _ = person("leader", ["leader"])
    secretary, _ = person("secretary", ["secretary"])
    villager = users.wechat_login(s, "openid-villager-1")
    a1 = assignments.create_assignment(
        s,
        admin,
        {
            "project_id": p1.id,
            "inspector_ids": [insp_a.id, insp_b.id],
            "due_date": (date.today() + timedelta(days=7)).isoformat(),
            "check_items": ["公示栏是否张贴", "进度是否符合计划"],
        },
    )
    a2 = assignments.create_assignment(s, admin, {"project_id": p2.id, "inspector_ids": [insp_c.id]})
    a3 = assignments.create_assignment(s, admin, {"project_id": p3.id, "inspector_ids": [insp_a.id]})
    everyone = dict(
        admin=admin,
        insp_a=insp_a,
        insp_b=insp_b,
        insp_c=insp_c,
        reviewer1=reviewer1,
        reviewer2=reviewer2,
        leader=leader,
        secretary=secretary,
        villager=villager,
    )
    return SimpleNamespace(
        t1=t1.id,
        t2=t2.id,
        v1=v1.id,
        v2=v2.id,
        p1=p1.id,
        p2=p2.id,
        p3=p3.id,
        a1=a1.id,
        a2=a2.id,
        a3=a3.id,
        invite_a=invite_a,
        ids={k: u.id for k, u in everyone.items()},
        tokens={k: issue_token(u) for k, u in everyone.items()},
    )


class Api:
    """The test client with a bearer token and JSON helpers."""

    def __init__(self, client, token: str | None = None):
        self.client, self.token = client, token

    def as_(self, token: str | None) -> Api:
        """The same client acting with another token."""
        return Api(self.client, token)

    def _headers(self):
        return {"Authorization": f"Bearer {self.token}"} if self.token else {}

    def get(self, path, **kw):
        """GET with the token."""
        return self.client.get(path, headers=self._headers(), **kw)

    def post(self, path, json=None, **kw):
        """POST JSON with the token."""
        return self.client.post(path, json=json, headers=self._headers(), **kw)

    def put(self, path, json=None, **kw):
        """PUT JSON with the token."""
        return self.client.put(path, json=json, headers=self._headers(), **kw)

    def patch(self, path, json=None, **kw):
        """PATCH JSON with the token."""
        return self.client.patch(path, json=json, headers=self._headers(), **kw)


def start_visit(api: Api, assignment_id: int) -> dict:
    """Start a visit and return it."""
    r = api.post(
        "/api/v1/visits",
        {"client_id": uid(), "sent_at": now_iso(), "assignment_id": assignment_id, "started_at": now_iso()},
    )
    assert r.status_code == 201, r.get_json()
    return r.get_json()


def checkin_body(lat: float, lng: float, **extra) -> dict:
    """A check-in request body at a WGS-84 point."""
    return {
        "client_id": uid(),
        "sent_at": now_iso(),
        "lat": lat,
        "lng": lng,
        "accuracy_m": 12.0,
        "coord_type": "wgs84",
        "client_time": now_iso(),
        **extra,
    }


def photo_body(size: int, lat: float = V1[0], lng: float = V1[1], **extra) -> dict:
    """A visit photo's ticket request body: a JPEG of `size` bytes, taken now at a WGS-84 point."""
    return {
        "client_id": uid(),
        "sent_at": now_iso(),
        "content_type": "image/jpeg",
        "size": size,
        "taken_at": now_iso(),
        "lat": lat,
        "lng": lng,
        **extra,
    }


def build_lifecycle(world: SimpleNamespace) -> SimpleNamespace:
    """On top of build_world: two party organizations, their secretaries and reporting-unit reviewers.

    org1 (永阳镇) has secretary "secretary" and unit reviewer "unit1"; org2 (桐坪镇) has "sec2" and "unit2".
    """
    s = db.session
    admin = s.get(User, world.ids["admin"])
    org1 = projects.create_organization(
        s, admin, {"name": "江南村党支部", "township_id": world.t1, "village_id": world.v1}
    )
    org2 = projects.create_organization(
        s, admin, {"name": "大栗村党支部", "township_id": world.t2, "village_id": world.v2}
    )
    users.update_user(s, admin, world.ids["secretary"], {"organization_ids": [org1.id]})
    made = {}
    for username, roles, org in (
        ("sec2", ["secretary"], org2),
        ("unit1", ["unit_reviewer"], org1),
        ("unit2", ["unit_reviewer"], org2),
    ):
        made[username], _ = users.create_user(
            s,
            admin,
            {
                "username": username,
                "name": username,
                "roles": roles,
                "password": f"{username}-password",
                "organization_ids": [org.id],
            },
        )
    world.org1, world.org2 = org1.id, org2.id
    for name, user in made.items():
        world.ids[name], world.tokens[name] = user.id, issue_token(user)
    return world


def application_body(world: SimpleNamespace, **overrides) -> dict:
    """A complete application (申报表) of org1 at village v1."""
    body = {
        "client_id": uid(),
        "sent_at": now_iso(),
        "title": "村集体经济增收项目",
        "year": 2026,
        "organization_id": world.org1,
        "domain": "农村",
        "selection": "自选",
        "category": "重点性",
        "problem": "村集体经济薄弱,年收入不足5万元",
        "targets": ["村集体年收入达到10万元"],
        "steps": [{"name": "成立合作社", "deadline": "2026-03-31"}, {"name": "建成加工厂", "deadline": "2026-09-30"}],
        "responsible": {"主管领导": "张镇长", "牵头书记": "李书记", "联系组工干部": "王干部", "工作队伍": "驻村工作队"},
        "village_ids": [world.v1],
    }
    body.update(overrides)
    return body
