"""Shared by every part of the demo: its places, projects and passwords, and how its accounts and
imports are made."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from server.models import User
from server.services import imports, users

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


def ensure_user(session: Session, username: str, data: dict) -> tuple[User, str | None]:
    """Create a demo account, or give an unbound mini-program account a fresh invite; (user, invite code or None)."""
    user = session.scalar(select(User).where(User.username == username))
    # Accounts that use the mini-program get an invite code on each run until WeChat is bound.
    invite = bool(set(data.get("roles", [])) & set(users.MINIPROGRAM_ROLES))
    if user is None:
        return users.create_user(session, None, {"username": username, "issue_invite": invite, **data})
    if user.openid is None and invite:
        return users.update_user(session, user, user.id, {"reset_invite": True})
    return user, None


def import_rows(session: Session, actor: User | None, importer, rows: list[dict], what: str) -> None:
    """Import demo rows through the real importer; the demo's own rows never fail, so an error is a bug."""
    report = imports.run(session, actor, importer, rows)
    if report.errors:
        raise RuntimeError(f"{what} did not import: {report.errors}")
