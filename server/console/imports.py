"""Imports from an XLSX or CSV file, one set of pages per kind: upload and preview (a dry run),
then confirm; and the XLSX template to fill in.

`register()` adds the three routes of one `services.imports.Importer` at a URL of its own (the
places import keeps /console/places/import). The previewed file stays in the instance folder
under a random token (and the uploader's id), so "确认导入" imports exactly the bytes that were
previewed without a second upload. It is deleted once imported, on a failed preview, and by the
next upload once older than an hour. Where several machines serve the console without a shared
instance folder, a confirm may land where the file is not: the page then asks for the file
again, nothing is lost. Only admins import.
"""

from __future__ import annotations

import contextlib
import csv
import re
import secrets
import time
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from flask import Response, current_app, flash, g, redirect, request, url_for

from server.console import console_bp, forms
from server.console.auth import staff_required
from server.console.handling import refused
from server.console.pages import WRITE, message, render
from server.db import db
from server.services import imports
from server.services.imports.organizations import OrganizationsImporter
from server.services.imports.places import PlacesImporter
from server.services.imports.projects import ProjectListImporter
from server.services.imports.staff import StaffImporter
from server.services.imports.units import UnitsImporter

IMPORT_SUFFIXES = (".xlsx", ".csv")
IMPORT_MAX_BYTES = 5 * 1024 * 1024
IMPORT_MAX_AGE_SECONDS = 3600
_IMPORT_TOKEN_RE = re.compile(r"[A-Za-z0-9_-]{22}")
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _import_dir() -> Path:
    return Path(current_app.config["INSTANCE_DIR"]) / "imports"


def _sweep_imports() -> None:
    cutoff = time.time() - IMPORT_MAX_AGE_SECONDS
    for path in _import_dir().glob("*"):
        # Another worker may be sweeping, or confirming, the same file right now.
        with contextlib.suppress(FileNotFoundError):
            if path.stat().st_mtime < cutoff:
                path.unlink()


def _import_path(token: str, suffix: str) -> Path | None:
    if not _IMPORT_TOKEN_RE.fullmatch(token) or suffix not in IMPORT_SUFFIXES:
        return None
    path = _import_dir() / f"{g.staff.id}-{token}{suffix}"
    if not path.is_file() or path.stat().st_mtime < time.time() - IMPORT_MAX_AGE_SECONDS:
        return None
    return path


def _read_import(path: Path, importer: imports.Importer) -> list[dict[str, Any]]:
    from openpyxl.utils.exceptions import InvalidFileException  # openpyxl loads with the first file read

    try:
        rows = imports.read_rows(path, importer.columns)
    except (zipfile.BadZipFile, InvalidFileException, KeyError, ValueError, csv.Error, OSError):
        # Not our error to explain in detail: a renamed .doc, a corrupt or encrypted workbook.
        raise forms.invalid("文件无法读取,请确认是 Excel 保存的 .xlsx 或 .csv 文件", "file") from None
    if not rows:
        raise forms.invalid("文件中没有数据行(第一行应为表头)", "file")
    return rows


def register(name: str, url: str, make: Callable[[], imports.Importer], back: tuple[str, str]) -> None:
    """Add the upload/preview (`name`), confirm and template routes of one kind of import at `url`.

    `make` builds a fresh importer per request; `back` is the (endpoint, label) of the list the
    imported rows appear in, where a confirmed import returns to.
    """

    def page(status: int = 200, **context: Any):
        importer = make()
        return render(
            "import.html",
            status,
            importer=importer,
            name=name,
            back=back,
            back_url=url_for(back[0]),
            **context,
        )

    def upload():
        if request.method == "GET":
            return page()
        file = request.files.get("file")
        if file is None or not file.filename:
            return page(400, error="请选择要导入的文件")
        suffix = Path(file.filename).suffix.lower()
        if suffix not in IMPORT_SUFFIXES:
            return page(400, error="只支持 .xlsx 或 .csv 文件")
        content = file.stream.read(IMPORT_MAX_BYTES + 1)
        if len(content) > IMPORT_MAX_BYTES:
            return page(413, error=f"文件超过 {IMPORT_MAX_BYTES // 1024 // 1024} MB")
        _import_dir().mkdir(parents=True, exist_ok=True)
        _sweep_imports()
        token = secrets.token_urlsafe(16)
        path = _import_dir() / f"{g.staff.id}-{token}{suffix}"
        path.write_bytes(content)
        importer = make()
        with refused() as refusal:
            rows = _read_import(path, importer)
            report = imports.run(db.session, g.staff, importer, rows, dry_run=True)
        if refusal.error:
            path.unlink(missing_ok=True)
            return page(refusal.error.status, error=message(refusal.error))
        if report.errors:
            path.unlink(missing_ok=True)  # nothing to confirm: the file must be fixed first
        return page(
            400 if report.errors else 200,
            report=report,
            summary=importer.summary(report),
            token=None if report.errors else token,
            suffix=suffix,
        )

    def confirm():
        suffix = request.form.get("suffix", "")
        path = _import_path(request.form.get("token", ""), suffix)
        if path is None:
            flash("预览已过期或文件已导入,请重新上传文件")
            return redirect(url_for(f"console.{name}"))
        importer = make()
        try:
            with refused() as refusal:
                rows = _read_import(path, importer)
                report = imports.run(db.session, g.staff, importer, rows)
        finally:
            path.unlink(missing_ok=True)
        if refusal.error:
            return page(refusal.error.status, error=message(refusal.error))
        if report.errors:
            # The data changed since the preview (someone edited a row): show why, write nothing.
            return page(409, report=report, summary=importer.summary(report), error="导入时发现错误,未写入任何数据")
        if report.issued:
            # Invite codes are shown once: no browser or proxy may keep a copy of this page.
            body, status = page(summary=importer.summary(report), done=report)
            return body, status, {"Cache-Control": "no-store"}
        flash(f"导入完成:{importer.summary(report)}")
        return redirect(url_for(back[0]))

    def template():
        importer = make()
        return Response(
            imports.template_xlsx(importer),
            mimetype=XLSX,
            headers={"Content-Disposition": f"attachment; filename={importer.kind}-template.xlsx"},
        )

    upload.__doc__ = "Upload an XLSX/CSV file and preview it (a dry run); nothing is written here."
    confirm.__doc__ = "Import the file previewed before; all rows or none."
    template.__doc__ = "The XLSX template: Chinese headers, example rows and a sheet explaining the columns."
    guard = staff_required(*WRITE)
    console_bp.add_url_rule(url, name, guard(upload), methods=["GET", "POST"])
    console_bp.add_url_rule(f"{url}/confirm", f"{name}_confirm", guard(confirm), methods=["POST"])
    console_bp.add_url_rule(f"{url}/template.xlsx", f"{name}_template", guard(template), methods=["GET"])


register("places_import", "/places/import", PlacesImporter, ("console.places", "乡镇与村"))
register("units_import", "/units/import", UnitsImporter, ("console.units", "归口单位"))
register("organizations_import", "/organizations/import", OrganizationsImporter, ("console.organizations", "党组织"))
register("users_import", "/users/import", StaffImporter, ("console.users", "人员与邀请码"))
register("project_list_import", "/projects/import", ProjectListImporter, ("console.projects", "项目列表"))
