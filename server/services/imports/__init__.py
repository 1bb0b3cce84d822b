"""Imports from XLSX/CSV: one runner, one reader and one report for every kind of row.

A kind of import is an `Importer` subclass (places.py, units.py, organizations.py, staff.py,
projects.py here):

- `kind` names it (the audit action is "<kind>.import"), `label` says what it imports in Chinese;
- `columns` lists its `Column`s: the key a row dict uses, the Chinese header of the template, other
  headers a file may use, and whether the header must be there;
- `template_rows` are the example rows of the downloadable template (in `columns` order);
- `authorize(actor)` may refuse the caller (ApiError forbidden) before anything is read: the
  console lets only admins import, but an importer whose rows are a decision (projects.py, the
  立项名单) checks it itself for callers outside the console;
- `prepare(session)` loads what the rows are matched against (once per run);
- `apply(session, actor, row, plan)` validates one row and writes it (flush, never commit),
  filling `plan.action` ("新增…"/"更新…"), `plan.counted` (the key of `report.counts` it adds
  to), `plan.changes` (label, old, new) and `plan.warnings`, or raises `RowError` (or
  ValueError) with a message that names the value;
- `summary(report)` says in one Chinese line what the file does, from `report.counts`;
- a row that creates something to be shown once (an invite code) puts it in `plan.issued`; the
  runner drops it when nothing is written, and the console's confirmation lists it.

`run(session, actor, importer, rows, dry_run=...)` calls `apply` on every row, collecting every
row's error, then rolls back (a dry run, or any error: all rows or none) or writes the audit
entry and commits. The console (server/console/imports.py) adds the upload, the one-hour preview
token, the confirmation and the XLSX template around any importer: a new kind is one subclass
here and one `register(...)` line there. Importers write their own per-object audit entries
(e.g. "organization.create") beside the runner's summary.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from sqlalchemy.orm import Session

from server.errors import ApiError
from server.models import User
from server.services import audit


@dataclass(frozen=True)
class Column:
    """One column of an import file."""

    key: str  # the row dict's key
    header: str  # the template's Chinese header
    note: str = ""  # what to fill in, as the import page explains it
    aliases: tuple[str, ...] = ()  # other headers read as this column
    required: bool = False  # the header must be in the file


class RowError(ValueError):
    """A row refused: the message names the value; `column` is the header it came from."""

    def __init__(self, message: str, column: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.column = column


@dataclass
class RowPlan:
    """One row as the preview shows it: what it does (and changes, and risks), or why it is refused."""

    row: int
    values: dict[str, Any]
    action: str = ""
    counted: str = ""  # the key of report.counts this row adds one to once applied
    changes: list[tuple[str, str, str]] = field(default_factory=list)  # (label, old, new)
    warnings: list[str] = field(default_factory=list)
    error: str | None = None
    # What the staff must see once and never again (a new account's invite code); kept only
    # when the import is written.
    issued: dict[str, Any] | None = None


@dataclass
class ImportReport:
    """What an import did, or would do: counts by what was written, each row's plan, refused rows."""

    counts: dict[str, int] = field(default_factory=dict)
    errors: list[dict[str, Any]] = field(default_factory=list)  # {"row", "message", "column"?}
    rows: list[RowPlan] = field(default_factory=list)

    def add(self, what: str) -> None:
        """Count one row written as `what`."""
        self.counts[what] = self.counts.get(what, 0) + 1

    @property
    def issued(self) -> list[dict[str, Any]]:
        """What the written rows issued that must be shown once (invite codes)."""
        return [p.issued for p in self.rows if p.issued]

    @property
    def warnings(self) -> list[tuple[int, str]]:
        """Every row's warnings, as (row, text)."""
        return [(p.row, w) for p in self.rows for w in p.warnings]


class Importer:
    """One kind of import; subclasses fill in the class attributes and the three methods."""

    kind: ClassVar[str] = ""
    label: ClassVar[str] = ""
    columns: ClassVar[tuple[Column, ...]] = ()
    template_rows: ClassVar[list[list[str]]] = []

    def new_report(self) -> ImportReport:
        """An empty report (a subclass may return its own report type)."""
        return ImportReport()

    def authorize(self, actor: User | None) -> None:
        """Raise ApiError(forbidden) if `actor` may not run this import; by default the caller decides."""

    def prepare(self, session: Session) -> None:
        """Load what rows are matched against; called once before the first row."""

    def apply(self, session: Session, actor: User | None, row: dict[str, Any], plan: RowPlan) -> None:
        """Validate and write one row, describing it in `plan`; raise RowError to refuse it."""
        raise NotImplementedError

    def summary(self, report: ImportReport) -> str:
        """What the file does, in one Chinese line."""
        return "、".join(f"{what} {n} 条" for what, n in report.counts.items()) or "没有数据"


def run(
    session: Session, actor: User | None, importer: Importer, rows: list[dict[str, Any]], *, dry_run: bool = False
) -> ImportReport:
    """Apply every row; write all of them (with an audit entry) or, on any error or a dry run, none."""
    importer.authorize(actor)
    report = importer.new_report()
    importer.prepare(session)
    for number, row in enumerate(rows, start=2):  # row 1 is the header
        plan = RowPlan(row=row.get("_row", number), values=row)
        report.rows.append(plan)
        try:
            importer.apply(session, actor, row, plan)
            if plan.counted:
                report.add(plan.counted)
        except (ApiError, ValueError) as exc:
            plan.error = getattr(exc, "message", None) or str(exc)
            error = {"row": plan.row, "message": plan.error}
            if getattr(exc, "column", None):
                error["column"] = exc.column
            report.errors.append(error)
    if report.errors or dry_run:
        session.rollback()
        for plan in report.rows:
            plan.issued = None  # rolled back: the codes were never stored
        return report
    audit.append(session, actor, f"{importer.kind}.import", importer.kind, "-", dict(report.counts))
    session.commit()
    return report


def read_rows(path: Path, columns: tuple[Column, ...]) -> list[dict[str, Any]]:
    """Rows of a CSV (UTF-8, with or without BOM; GBK tolerated) or XLSX file as dicts keyed by column.

    Each dict also holds "_row", its line in the file, so that errors point where the user looks
    even when blank lines were skipped. Headers are read by Chinese header, alias or key.
    """
    suffix = path.suffix.lower()
    if suffix in (".xlsx", ".xlsm"):
        from openpyxl import load_workbook

        wb = load_workbook(path, read_only=True, data_only=True)
        rows = [["" if c is None else str(c).strip() for c in r] for r in wb.active.iter_rows(values_only=True)]
        wb.close()
    elif suffix == ".csv":
        raw = path.read_bytes()
        try:
            text = raw.decode("utf-8-sig")
        except UnicodeDecodeError:
            text = raw.decode("gbk")  # Excel on Chinese Windows saves CSV as GBK
        rows = [[c.strip() for c in r] for r in csv.reader(io.StringIO(text))]
    else:
        raise ApiError("validation_failed", "只支持 .xlsx 或 .csv 文件", {"field": "file"})
    numbered = [(n, r) for n, r in enumerate(rows, start=1) if any(r)]
    if not numbered:
        return []
    words = {w: c.key for c in columns for w in (c.header, *c.aliases)}
    header = [words.get(h, h.lower()) for h in numbered[0][1]]
    missing = sorted({c.key for c in columns if c.required} - set(header))
    if missing:
        headers = {c.key: c.header for c in columns}
        raise ApiError(
            "validation_failed",
            f"表头缺少列:{'、'.join(f'{k}({headers[k]})' for k in missing)}",
            {"columns": header},
        )
    return [{**dict(zip(header, r + [""] * (len(header) - len(r)), strict=False)), "_row": n} for n, r in numbered[1:]]


def template_xlsx(importer: Importer) -> bytes:
    """The importer's template: Chinese headers and example rows, and a sheet explaining each column."""
    from openpyxl import Workbook
    from openpyxl.styles import Font
    from openpyxl.utils import get_column_letter

    wb = Workbook()
    sheet = wb.active
    sheet.title = importer.label
    sheet.append([c.header for c in importer.columns])
    for row in importer.template_rows:
        sheet.append(row)
    for cell in sheet[1]:
        cell.font = Font(bold=True)
    for i, column in enumerate(importer.columns):
        sheet.column_dimensions[get_column_letter(i + 1)].width = max(12, 2 * len(column.header) + 4)
    notes = wb.create_sheet("填写说明")
    notes.append(["列", "说明"])
    for column in importer.columns:
        notes.append([column.header, column.note])
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


# Lists in one cell: items between 、, commas or semicolons (ASCII or the full-width ones a Chinese
# input method types; escaped, so no editor can fold them to ASCII) or spaces.
_LIST_SPLIT = re.compile("[\u3001,\uff0c;\uff1b\\s]+")


def split_list(value: str | None) -> list[str]:
    """The items of a cell holding a list, in order, without blanks or repeats."""
    return list(dict.fromkeys(v for v in _LIST_SPLIT.split(value or "") if v))


def cell(row: dict[str, Any], key: str) -> str:
    """A row's value for a column, trimmed ('' when the column is absent)."""
    return str(row.get(key) or "").strip()
