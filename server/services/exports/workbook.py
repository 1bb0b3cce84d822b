"""What every export shares: the Download, sheets whose cells are never formulas, the cover sheet
with the export's audit entry, spooling to disk, and the CSV guard against formulas.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import IO, TYPE_CHECKING, Any

from sqlalchemy.orm import Session

from server.clock import CHINA
from server.models import (
    FEEDBACK_STATUSES,
    RECTIFICATION_STATUSES,
    Project,
    Township,
    User,
    Village,
    utcnow,
)
from server.services import audit
from server.services.flag_words import label as flag_label

if TYPE_CHECKING:
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"

VISIT_STATUSES = {"in_progress": "进行中", "submitted": "已提交"}
FILTER_LABELS = {
    "township_id": "乡镇",
    "village_id": "村",
    "project_id": "项目",
    "inspector_id": "督查人员",
    "status": "状态",
    "flag": "标记",
    "date_from": "开始日期自",
    "date_to": "开始日期至",
    "overdue": "仅逾期",
    "year": "年度",
    "domain": "领域",
    "level": "层级",
    "category": "类别",
}


@dataclass
class Download:
    """A file to send: its name for people, an ASCII fallback name, its type and its bytes."""

    filename: str
    fallback: str
    mimetype: str
    body: IO[bytes] | Iterator[bytes]


def _local(value: datetime | None) -> datetime | None:
    # Excel has no time zones: write China wall-clock time, which is what readers expect.
    return value.astimezone(CHINA).replace(tzinfo=None, microsecond=0) if value else None


def _describe(session: Session, filters: dict[str, Any]) -> str:
    """Filters in words for the workbook's cover sheet (ids resolved to names)."""
    names = {"township_id": Township, "village_id": Village, "project_id": Project, "inspector_id": User}
    parts = []
    for key, value in filters.items():
        if key in names:
            obj = session.get(names[key], value)
            value = (getattr(obj, "title", None) or getattr(obj, "name", "")) if obj else f"#{value}"
        elif key == "status":
            value = {**VISIT_STATUSES, **RECTIFICATION_STATUSES, **FEEDBACK_STATUSES}.get(value, value)
        elif key == "flag":
            value = flag_label(value)
        elif key == "overdue":
            value = "是"
        parts.append(f"{FILTER_LABELS.get(key, key)}:{value}")
    return ";".join(parts) or "无(全部)"


def _jsonable(filters: dict[str, Any]) -> dict[str, Any]:
    return {k: v.isoformat() if isinstance(v, date) else v for k, v in filters.items()}


def new_workbook() -> Workbook:
    """An empty write-only workbook for Sheet. openpyxl is imported here, with the first export,
    not when the app boots: ~0.1 s that a worker or command that never exports need not pay."""
    from openpyxl import Workbook

    return Workbook(write_only=True)


class Sheet:
    """A write-only worksheet with a bold, frozen header row and China-time datetime cells."""

    def __init__(self, wb: Workbook, title: str, columns: Sequence[tuple[str, int]]) -> None:
        from openpyxl.cell import WriteOnlyCell
        from openpyxl.styles import Font
        from openpyxl.utils import get_column_letter

        self._new_cell, self._font = WriteOnlyCell, Font
        self.ws = wb.create_sheet(title)
        self.rows = 0
        for i, (_, width) in enumerate(columns, start=1):
            self.ws.column_dimensions[get_column_letter(i)].width = width
        self.ws.freeze_panes = "A2"
        self.ws.append([self._cell(name, bold=True) for name, _ in columns])

    def _cell(self, value: Any, bold: bool = False) -> WriteOnlyCell:
        """The one place every workbook's cells are made: text is always a text cell, never a formula."""
        if isinstance(value, datetime):
            value = _local(value)
        cell = self._new_cell(self.ws, value=value)
        if isinstance(value, str):
            # openpyxl turns text starting with "=" into a live formula: a villager's
            # "=HYPERLINK(…)" would run in the reader's Excel. A text cell keeps the value as typed.
            cell.data_type = "s"
        elif isinstance(value, datetime):
            cell.number_format = "yyyy-mm-dd hh:mm"
        elif isinstance(value, date):
            cell.number_format = "yyyy-mm-dd"
        if bold:
            cell.font = self._font(bold=True)
        return cell

    def add(self, values: Sequence[Any]) -> None:
        """Append one row."""
        self.ws.append([self._cell(v) for v in values])
        self.rows += 1


def finish_workbook(
    session: Session,
    user: User,
    wb: Workbook,
    title: str,
    filters: dict[str, Any],
    rows: int,
    action: str,
    note: str = "",
) -> IO[bytes]:
    """Add the cover sheet, audit the export, and save the workbook to a spooled temp file."""
    cover = Sheet(wb, "导出说明", [("说明项", 14), ("内容", 70)])
    for pair in (
        ("内容", title),
        ("筛选条件", _describe(session, filters)),
        ("行数", rows),
        ("导出人", user.name or user.username),
        ("导出时间", utcnow()),
        ("说明", f"时间均为北京时间。{note}请妥善保管,仅限工作使用。"),
    ):
        cover.add(pair)
    audit.append(
        session, user, action, "export", action.removeprefix("export."), {"filters": _jsonable(filters), "rows": rows}
    )
    session.commit()
    # Big exports spill to disk instead of sitting in the worker's memory.
    out = tempfile.SpooledTemporaryFile(max_size=8 * 1024 * 1024)  # noqa: SIM115 - the response closes it
    wb.save(out)
    out.seek(0)
    return out


def xlsx_download(name: str, ascii_name: str, body: IO[bytes]) -> Download:
    """A workbook download named after its content and the China time of export."""
    stamp = utcnow().astimezone(CHINA).strftime("%Y%m%d-%H%M")
    return Download(f"{name}-{stamp}.xlsx", f"{ascii_name}-{stamp}.xlsx", XLSX, body)


# What spreadsheet programs read as the start of a formula (tab and CR too: a cell's leading
# whitespace is dropped and the rest evaluated).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def csv_text(value: Any) -> Any:
    """A CSV field Excel cannot run: text starting like a formula gets a leading apostrophe."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value
