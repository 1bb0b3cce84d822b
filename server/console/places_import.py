"""Import townships, villages and unit sites from an XLSX or CSV file: upload and preview (a dry
run), then confirm; and the template file to fill in.

The previewed file stays in the instance folder under a random token (and the uploader's id), so
"确认导入" imports exactly the bytes that were previewed without a second upload. It is deleted
once imported, on a failed preview, and by the next upload once older than an hour. Where
several machines serve the console without a shared instance folder, a confirm may land where
the file is not: the page then asks for the file again, nothing is lost.
"""

from __future__ import annotations

import contextlib
import csv
import io
import re
import secrets
import time
import zipfile
from pathlib import Path
from typing import Any

from flask import Response, current_app, flash, g, redirect, request, url_for
from openpyxl.utils.exceptions import InvalidFileException

from server.console import console_bp, forms
from server.console.auth import staff_required
from server.console.handling import refused
from server.console.pages import KIND_LABELS, WRITE, message, render
from server.db import db
from server.errors import ApiError
from server.services import places

IMPORT_SUFFIXES = (".xlsx", ".csv")
IMPORT_MAX_BYTES = 5 * 1024 * 1024
IMPORT_MAX_AGE_SECONDS = 3600
_IMPORT_TOKEN_RE = re.compile(r"[A-Za-z0-9_-]{22}")
IMPORT_TEMPLATE = [
    ["类型", "编码", "名称", "所属乡镇编码", "纬度", "经度", "坐标系", "半径"],
    ["乡镇", "360821100000", "永阳镇", "", "27.0161", "114.8803", "gcj02", ""],
    ["村", "360821100201", "江南村", "360821100000", "27.0200", "114.8800", "gcj02", "500"],
    ["单位", "GX-001", "高新区党群服务中心", "360821100000", "27.0300", "114.9200", "wgs84", "300"],
]


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


def _read_import(path: Path, **columns: Any) -> list[dict[str, Any]]:
    """The file's rows (places.read_rows with `columns`), or a form error a user can act on."""
    try:
        rows = places.read_rows(path, **columns)
    except (zipfile.BadZipFile, InvalidFileException, KeyError, ValueError, csv.Error, OSError):
        # Not our error to explain in detail: a renamed .doc, a corrupt or encrypted workbook.
        raise forms.invalid("文件无法读取,请确认是 Excel 保存的 .xlsx 或 .csv 文件", "file") from None
    if not rows:
        raise forms.invalid("文件中没有数据行(第一行应为表头)", "file")
    return rows


def _import_plan(rows: list[dict[str, Any]], errors: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each row as the preview shows it: what it would create or update, or why it is refused."""
    existing = places.known_codes(db.session)
    by_row = {e["row"]: e["message"] for e in errors}
    plan, seen = [], set()
    for row in rows:
        # The service's own table of type words, so the preview reads a row as the import will.
        kind = places.TYPE_WORDS.get(row.get("type", "").strip().lower())
        code = row.get("code", "").strip()
        action = ""
        if kind:
            known = code and ((kind, code) in seen or code in existing[kind])
            action = f"更新{KIND_LABELS[kind]}" if known else f"新增{KIND_LABELS[kind]}"
            seen.add((kind, code))
        plan.append({**row, "action": action, "error": by_row.get(row["_row"])})
    return plan


def _store_upload() -> tuple[Path, str, str]:
    """Keep the request's `file` for its confirm: (path, token, suffix); ApiError when it cannot be taken."""
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        raise forms.invalid("请选择要导入的文件", "file")
    suffix = Path(upload.filename).suffix.lower()
    if suffix not in IMPORT_SUFFIXES:
        raise forms.invalid("只支持 .xlsx 或 .csv 文件", "file")
    content = upload.stream.read(IMPORT_MAX_BYTES + 1)
    if len(content) > IMPORT_MAX_BYTES:
        raise ApiError("payload_too_large", f"文件超过 {IMPORT_MAX_BYTES // 1024 // 1024} MB", {"field": "file"})
    _import_dir().mkdir(parents=True, exist_ok=True)
    _sweep_imports()
    token = secrets.token_urlsafe(16)
    path = _import_dir() / f"{g.staff.id}-{token}{suffix}"
    path.write_bytes(content)
    return path, token, suffix


@console_bp.route("/places/import", methods=["GET", "POST"])
@staff_required(*WRITE)
def places_import():
    """Upload an XLSX/CSV of places and preview it (a dry run); nothing is written here."""
    if request.method == "GET":
        return render("places_import.html")
    with refused() as refusal:
        path, token, suffix = _store_upload()
    if refusal.error:
        return render("places_import.html", refusal.error.status, error=message(refusal.error))
    with refused() as refusal:
        rows = _read_import(path)
        report = places.import_places(db.session, g.staff, rows, dry_run=True)
    if refusal.error:
        path.unlink(missing_ok=True)
        return render("places_import.html", refusal.error.status, error=message(refusal.error))
    if report.errors:
        path.unlink(missing_ok=True)  # nothing to confirm: the file must be fixed first
    return render(
        "places_import.html",
        400 if report.errors else 200,
        report=report,
        plan=_import_plan(rows, report.errors),
        token=None if report.errors else token,
        suffix=suffix,
    )


@console_bp.post("/places/import/confirm")
@staff_required(*WRITE)
def places_import_confirm():
    """Import the file previewed before; all rows or none."""
    suffix = request.form.get("suffix", "")
    path = _import_path(request.form.get("token", ""), suffix)
    if path is None:
        flash("预览已过期或文件已导入,请重新上传文件")
        return redirect(url_for("console.places_import"))
    try:
        with refused() as refusal:
            rows = _read_import(path)
            report = places.import_places(db.session, g.staff, rows)
    finally:
        path.unlink(missing_ok=True)
    if refusal.error:
        return render("places_import.html", refusal.error.status, error=message(refusal.error))
    if report.errors:
        # The data changed since the preview (someone edited a place): show why, write nothing.
        return render(
            "places_import.html",
            409,
            report=report,
            plan=_import_plan(rows, report.errors),
            error="导入时发现错误,未写入任何数据",
        )
    flash(f"导入完成:乡镇 {report.townships} 条,村 {report.villages} 条,单位地点 {report.sites} 条")
    return redirect(url_for("console.places"))


@console_bp.get("/places/import/template.csv")
@staff_required(*WRITE)
def places_import_template():
    """A CSV with the expected header and one example row per kind."""
    out = io.StringIO()
    csv.writer(out).writerows(IMPORT_TEMPLATE)
    # The BOM makes Excel on Chinese Windows open the file as UTF-8 instead of GBK.
    return Response(
        "\ufeff" + out.getvalue(),
        mimetype="text/csv",
        headers={"Content-Disposition": "attachment; filename=places-template.csv"},
    )
