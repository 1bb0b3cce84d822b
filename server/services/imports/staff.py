"""The staff accounts import: created, or updated by username (scope replaced, never duplicated).

New accounts that use the mini-program (督查人员, 项目书记) get an invite code, shown once when the
import is confirmed; others sign in to the console once an admin has set their password.
"""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from server.models import Organization, ReportingUnit, Township, User, UserRole
from server.services import audit, users
from server.services.imports import Column, Importer, ImportReport, RowError, RowPlan, cell, split_list

# The roles a file may give (villagers register themselves), by the words a department writes.
ROLE_WORDS = {
    "管理员": "admin",
    "领导": "leader",
    "审核员": "reviewer",
    "归口单位审核员": "unit_reviewer",
    "归口单位": "unit_reviewer",
    "评审专家": "expert",
    "专家": "expert",
    "督查人员": "inspector",
    "督查员": "inspector",
    "项目书记": "secretary",
    "书记": "secretary",
}
ROLE_WORDS.update({r: r for r in set(ROLE_WORDS.values())})
ROLE_NAMES = {
    "admin": "管理员",
    "leader": "领导",
    "reviewer": "审核员",
    "unit_reviewer": "归口单位审核员",
    "expert": "评审专家",
    "inspector": "督查人员",
    "secretary": "项目书记",
}
USERNAME_RE = re.compile(r"[A-Za-z0-9_.@-]{2,64}")
NAME_MAX = 64


class StaffImporter(Importer):
    """Staff accounts with their roles, townships, organizations and reporting unit."""

    kind = "users"
    label = "人员账号"
    columns = (
        Column("username", "用户名", "必填,字母、数字和 _ . @ -,2 到 64 位;已有的账号按此更新", required=True),
        Column("name", "姓名", "新账号必填"),
        Column("roles", "角色", f"{'、'.join(ROLE_NAMES.values())},多个用顿号分隔;新账号必填", required=True),
        Column("township_codes", "乡镇编码", "审核员负责的乡镇,12 位区划代码,多个用顿号分隔", ("乡镇",)),
        Column("organizations", "党组织", "项目书记所在党组织的名称,多个用顿号分隔", ("党组织名称",)),
        Column("unit", "归口单位", "归口单位审核员所属的归口单位名称", ("归口单位名称",)),
    )
    template_rows = [
        ["zhangwei", "张伟", "审核员", "360821100000、360821103000", "", ""],
        ["liming", "李明", "督查人员", "", "", ""],
        ["yy-dangwei", "王芳", "归口单位审核员", "", "", "永阳镇党委"],
        ["jiangnan-sj", "刘强", "项目书记", "", "江南村党支部", ""],
    ]

    def prepare(self, session: Session) -> None:
        """Townships by code, units by name, organizations by name (a name may be shared)."""
        self.seen: set[str] = set()
        self.townships = {t.code: t for t in session.scalars(select(Township))}
        self.units = {u.name: u for u in session.scalars(select(ReportingUnit))}
        self.orgs: dict[str, list[Organization]] = {}
        for org in session.scalars(select(Organization)):
            self.orgs.setdefault(org.name, []).append(org)

    def summary(self, report: ImportReport) -> str:
        """New and updated accounts, and invite codes."""
        c = report.counts
        return f"新增账号 {c.get('created', 0)} 个,更新 {c.get('updated', 0)} 个"

    def apply(self, session: Session, actor: User | None, row: dict[str, Any], plan: RowPlan) -> None:
        """Create or update one account."""
        username = users.normalize_username(cell(row, "username"))
        if not USERNAME_RE.fullmatch(username):
            raise RowError(f"用户名“{cell(row, 'username')}”只能由字母、数字和 _ . @ - 组成,2 到 64 位", "用户名")
        if username in self.seen:
            raise RowError(f"用户名“{username}”在文件中重复出现", "用户名")
        self.seen.add(username)
        name = cell(row, "name")
        if len(name) > NAME_MAX:
            raise RowError(f"姓名“{name}”超过 {NAME_MAX} 个字", "姓名")
        roles = self._roles(cell(row, "roles"))
        townships = self._townships(cell(row, "township_codes"))
        organizations = self._organizations(cell(row, "organizations"))
        unit = self._unit(cell(row, "unit"))
        user = session.scalar(select(User).where(func.lower(User.username) == username).order_by(User.id).limit(1))
        final_roles = roles if roles is not None else (user.roles if user else [])
        if unit is not None and "unit_reviewer" not in final_roles:
            raise RowError(f"填写了归口单位“{unit.name}”,角色须包含 归口单位审核员", "归口单位")
        if user is None:
            self._create(session, actor, plan, username, name, roles, townships, organizations, unit)
            return
        if user is actor and roles is not None and "admin" not in roles:
            raise RowError("不能取消自己的管理员角色", "角色")
        plan.action, plan.counted = "更新账号", "updated"
        self._update(session, user, plan, name, roles, townships, organizations, unit)
        if not user.has_role(*users.MINIPROGRAM_ROLES):
            user.invite_code_hash = user.invite_expires_at = None  # no live invite off the mini-program
        session.flush()
        if plan.changes:
            audit.append(
                session, actor, "user.update", "user", user.id, {"fields": [c[0] for c in plan.changes], "import": True}
            )
        else:
            plan.action = "无变化"

    def _create(self, session, actor, plan, username, name, roles, townships, organizations, unit) -> None:
        if not name:
            raise RowError("新账号的姓名不能为空", "姓名")
        if not roles:
            raise RowError("新账号至少需要一个角色", "角色")
        user = User(username=username, name=name)
        user.role_rows = [UserRole(role=r) for r in roles]
        user.townships = townships or []
        user.organizations = organizations or []
        user.unit = unit
        code = users.set_invite(user) if user.has_role(*users.MINIPROGRAM_ROLES) else None
        session.add(user)
        session.flush()
        plan.action, plan.counted = ("新增账号(发邀请码)" if code else "新增账号"), "created"
        if code:
            plan.issued = {
                "row": plan.row,
                "username": username,
                "name": name,
                "code": code,
                "expires_at": user.invite_expires_at,
            }
        audit.append(
            session, actor, "user.create", "user", user.id, {"username": username, "roles": roles, "import": True}
        )

    @staticmethod
    def _update(session, user: User, plan: RowPlan, name, roles, townships, organizations, unit) -> None:
        """Replace what the row gives (blank cells keep what the account has), noting old → new."""
        if name and name != user.name:
            plan.changes.append(("姓名", user.name, name))
            user.name = name
        if roles is not None and roles != user.roles:
            plan.changes.append(("角色", _names(user.roles, ROLE_NAMES), _names(roles, ROLE_NAMES)))
            user.role_rows = [UserRole(role=r) for r in roles]
        if townships is not None and {t.id for t in townships} != {t.id for t in user.townships}:
            plan.changes.append(("乡镇", _joined(user.townships), _joined(townships)))
            user.townships = townships
        if organizations is not None and {o.id for o in organizations} != {o.id for o in user.organizations}:
            plan.changes.append(("党组织", _joined(user.organizations), _joined(organizations)))
            user.organizations = organizations
        if unit is not None and user.unit_id != unit.id:
            old = session.get(ReportingUnit, user.unit_id) if user.unit_id else None
            plan.changes.append(("归口单位", old.name if old else "(无)", unit.name))
            user.unit = unit

    def _roles(self, value: str) -> list[str] | None:
        if not value:
            return None
        roles = set()
        for word in split_list(value):
            role = ROLE_WORDS.get(word) or ROLE_WORDS.get(word.lower())
            if role is None:
                raise RowError(f"未知角色“{word}”,应为 {'、'.join(ROLE_NAMES.values())}", "角色")
            roles.add(role)
        return sorted(roles)

    def _townships(self, value: str) -> list[Township] | None:
        if not value:
            return None
        found = []
        for code in split_list(value):
            if code not in self.townships:
                raise RowError(f"找不到乡镇编码“{code}”", "乡镇编码")
            found.append(self.townships[code])
        return found

    def _organizations(self, value: str) -> list[Organization] | None:
        if not value:
            return None
        found = []
        for org_name in split_list(value):
            matches = self.orgs.get(org_name, [])
            if not matches:
                raise RowError(f"找不到党组织“{org_name}”(可先导入党组织)", "党组织")
            if len(matches) > 1:
                raise RowError(f"有 {len(matches)} 个党组织名为“{org_name}”,请在控制台中逐个设置", "党组织")
            found.append(matches[0])
        return found

    def _unit(self, value: str) -> ReportingUnit | None:
        if not value:
            return None
        if value not in self.units:
            raise RowError(f"找不到归口单位“{value}”(可先导入归口单位)", "归口单位")
        return self.units[value]


def _names(roles: list[str], names: dict[str, str]) -> str:
    return "、".join(names.get(r, r) for r in roles) or "(无)"


def _joined(items: list[Any]) -> str:
    return "、".join(i.name for i in items) or "(无)"
