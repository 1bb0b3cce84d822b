"""The reporting units import (归口单位): created or updated by name."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from server.models import ReportingUnit, Township, User
from server.services import audit, units
from server.services.imports import Column, Importer, ImportReport, RowError, RowPlan, cell


class UnitsImporter(Importer):
    """Reporting units by name, with their kind and township."""

    kind = "units"
    label = "归口单位"
    columns = (
        Column("name", "名称", "必填,不超过 64 字;已有同名单位时更新其类型和乡镇", ("单位名称",), required=True),
        Column("kind", "类型", f"如 {'、'.join(units.UNIT_KINDS[:-1])};不超过 16 字", ("单位类型",)),
        Column("township_code", "所属乡镇编码", "乡镇党委填其乡镇的 12 位区划代码;县直单位不填", ("乡镇编码",)),
    )
    template_rows = [
        ["永阳镇党委", "乡镇党委", "360821100000"],
        ["县直机关工委", "机关工委", ""],
        ["县委教育工委", "教育工委", ""],
    ]

    def prepare(self, session: Session) -> None:
        """Units by name, townships by code."""
        self.units = {u.name: u for u in session.scalars(select(ReportingUnit))}
        self.townships = {t.code: t for t in session.scalars(select(Township))}

    def summary(self, report: ImportReport) -> str:
        """New and updated units."""
        return f"新增归口单位 {report.counts.get('created', 0)} 个,更新 {report.counts.get('updated', 0)} 个"

    def apply(self, session: Session, actor: User | None, row: dict[str, Any], plan: RowPlan) -> None:
        """Create or update one unit."""
        name, kind, code = cell(row, "name"), cell(row, "kind"), cell(row, "township_code")
        if not name:
            raise RowError("名称不能为空", "名称")
        if len(name) > units.NAME_MAX:
            raise RowError(f"名称“{name}”超过 {units.NAME_MAX} 个字", "名称")
        if len(kind) > units.KIND_MAX:
            raise RowError(f"类型“{kind}”超过 {units.KIND_MAX} 个字", "类型")
        township = self.townships.get(code) if code else None
        if code and township is None:
            raise RowError(f"找不到乡镇编码“{code}”(请先导入乡镇与村)", "所属乡镇编码")
        unit = self.units.get(name)
        if unit is None:
            unit = ReportingUnit(name=name, kind=kind, township_id=township.id if township else None)
            session.add(unit)
            session.flush()
            self.units[name] = unit
            plan.action, plan.counted = "新增归口单位", "created"
            audit.append(session, actor, "unit.create", "reporting_unit", unit.id, {"name": name, "import": True})
            return
        plan.action, plan.counted = "更新归口单位", "updated"
        if kind and unit.kind != kind:
            plan.changes.append(("类型", unit.kind or "(空)", kind))
            unit.kind = kind
        if township is not None and unit.township_id != township.id:
            old = session.get(Township, unit.township_id) if unit.township_id else None
            plan.changes.append(("所属乡镇", old.name if old else "(无)", township.name))
            unit.township_id = township.id
        if plan.changes:
            session.flush()
            audit.append(
                session, actor, "unit.update", "reporting_unit", unit.id, {"fields": [c[0] for c in plan.changes]}
            )
        else:
            plan.action = "无变化"
