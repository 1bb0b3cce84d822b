"""The party organizations import (党组织): created or updated by name within their township."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from server.models import DOMAINS, Organization, ReportingUnit, Township, User, Village
from server.services import audit
from server.services.imports import Column, Importer, ImportReport, RowError, RowPlan, cell

# Short words a department writes for a domain.
DOMAIN_WORDS = {
    **{d: d for d in DOMAINS},
    "城市": "城市社区",
    "社区": "城市社区",
    "学校": "中小学校",
    "医院": "公立医院",
}
NAME_MAX = 128


class OrganizationsImporter(Importer):
    """Party organizations with their domain, place, reporting unit and secretary."""

    kind = "organizations"
    label = "党组织"
    columns = (
        Column("name", "名称", "必填;同一乡镇内已有同名党组织时更新它", ("党组织名称",), required=True),
        Column("domain", "领域", f"{'、'.join(DOMAINS)} 之一;新建时不填为 农村", ("所属领域",)),
        Column("township_code", "乡镇编码", "所在乡镇的 12 位区划代码(填了村编码可不填)", ("所属乡镇编码",)),
        Column("village_code", "村编码", "村(社区)党组织填所在村的 12 位区划代码", ("所属村编码",)),
        Column("unit", "归口单位", "归口单位的名称,须已在“归口单位”中(可先导入归口单位)", ("归口单位名称",)),
        Column(
            "secretary", "书记用户名", "项目书记的用户名(可不填);该账号将可以本党组织名义申报", ("书记", "书记账号")
        ),
    )
    template_rows = [
        ["江南村党支部", "农村", "360821100000", "360821100201", "永阳镇党委", ""],
        ["县人民医院党委", "公立医院", "", "", "县委卫健工委", ""],
        ["永阳中学党支部", "中小学校", "360821100000", "", "县委教育工委", ""],
    ]

    def prepare(self, session: Session) -> None:
        """Organizations by (name, township), and the places, units and accounts rows name."""
        self.orgs: dict[tuple[str, int | None], list[Organization]] = {}
        for org in session.scalars(select(Organization)):
            self.orgs.setdefault((org.name, org.township_id), []).append(org)
        self.townships = {t.code: t for t in session.scalars(select(Township))}
        self.villages = {v.code: v for v in session.scalars(select(Village))}
        self.units = {u.name: u for u in session.scalars(select(ReportingUnit))}

    def summary(self, report: ImportReport) -> str:
        """New and updated organizations."""
        return f"新增党组织 {report.counts.get('created', 0)} 个,更新 {report.counts.get('updated', 0)} 个"

    def apply(self, session: Session, actor: User | None, row: dict[str, Any], plan: RowPlan) -> None:
        """Create or update one organization."""
        name = cell(row, "name")
        if not name:
            raise RowError("名称不能为空", "名称")
        if len(name) > NAME_MAX:
            raise RowError(f"名称“{name}”超过 {NAME_MAX} 个字", "名称")
        domain_word = cell(row, "domain")
        domain = DOMAIN_WORDS.get(domain_word) if domain_word else None
        if domain_word and domain is None:
            raise RowError(f"领域“{domain_word}”无法识别,应为 {'、'.join(DOMAINS)} 之一", "领域")
        village = self._village(cell(row, "village_code"))
        township = self._township(cell(row, "township_code"), village)
        unit_name = cell(row, "unit")
        unit = self.units.get(unit_name) if unit_name else None
        if unit_name and unit is None:
            raise RowError(f"找不到归口单位“{unit_name}”(请先在“归口单位”中添加或导入)", "归口单位")
        secretary = self._secretary(session, cell(row, "secretary"))
        township_id = township.id if township else None
        found = self.orgs.get((name, township_id), [])
        if len(found) > 1:
            raise RowError(f"同一乡镇有 {len(found)} 个名为“{name}”的党组织,请在控制台中修改", "名称")
        if found:
            org = found[0]
            plan.action, plan.counted = "更新党组织", "updated"
            self._update(session, org, plan, domain=domain, village=village, unit=unit)
        else:
            org = Organization(
                name=name,
                domain=domain or "农村",
                township_id=township_id,
                village_id=village.id if village else None,
                unit_id=unit.id if unit else None,
            )
            session.add(org)
            session.flush()
            self.orgs[(name, township_id)] = [org]
            plan.action, plan.counted = "新增党组织", "created"
        if secretary is not None and org not in secretary.organizations:
            plan.changes.append(("书记账号", "", f"{secretary.name}({secretary.username})"))
            secretary.organizations.append(org)
        session.flush()
        action = "organization.update" if plan.counted == "updated" else "organization.create"
        if plan.counted == "created" or plan.changes:
            audit.append(
                session, actor, action, "organization", org.id, {"name": name, "fields": [c[0] for c in plan.changes]}
            )
        else:
            plan.action = "无变化"

    def _village(self, code: str) -> Village | None:
        if not code:
            return None
        village = self.villages.get(code)
        if village is None:
            raise RowError(f"找不到村编码“{code}”(请先导入乡镇与村)", "村编码")
        return village

    def _township(self, code: str, village: Village | None) -> Township | None:
        if not code:
            return village.township if village else None
        township = self.townships.get(code)
        if township is None:
            raise RowError(f"找不到乡镇编码“{code}”(请先导入乡镇与村)", "乡镇编码")
        if village is not None and village.township_id != township.id:
            raise RowError(f"村“{village.name}”不属于乡镇“{township.name}”", "村编码")
        return township

    def _secretary(self, session: Session, username: str) -> User | None:
        if not username:
            return None
        user = session.scalar(select(User).where(func.lower(User.username) == username.casefold()))
        if user is None:
            raise RowError(f"找不到用户名“{username}”(可先在人员中添加或导入)", "书记用户名")
        if not user.has_role("secretary"):
            raise RowError(f"账号“{username}”不是项目书记", "书记用户名")
        return user

    @staticmethod
    def _update(session: Session, org: Organization, plan: RowPlan, **new: Any) -> None:
        """Apply the row's non-blank fields to an existing organization, noting old → new."""
        if new["domain"] and org.domain != new["domain"]:
            plan.changes.append(("领域", org.domain, new["domain"]))
            org.domain = new["domain"]
        village, unit = new["village"], new["unit"]
        if village is not None and org.village_id != village.id:
            old = session.get(Village, org.village_id) if org.village_id else None
            plan.changes.append(("村", old.name if old else "(无)", village.name))
            org.village_id = village.id
        if unit is not None and org.unit_id != unit.id:
            old = session.get(ReportingUnit, org.unit_id) if org.unit_id else None
            plan.changes.append(("归口单位", old.name if old else "(无)", unit.name))
            org.unit_id = unit.id
