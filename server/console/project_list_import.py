"""Import the approved project list (立项名单) from an XLSX or CSV file: upload and preview (a dry
run), then confirm; and the template file to fill in. The upload is kept and swept exactly as the
places import keeps it (server/console/places_import.py), whose helpers these pages use."""

from __future__ import annotations

import csv
import io

from flask import Response, flash, g, redirect, request, url_for

from server.console import console_bp
from server.console.auth import staff_required
from server.console.handling import refused
from server.console.pages import WRITE, message, render
from server.console.places_import import _import_path, _read_import, _store_upload
from server.db import db
from server.models import PROJECT_LEVELS
from server.services import project_list_import

TEMPLATE = "project_list_import.html"
COLUMNS = {"header_words": project_list_import.HEADER_WORDS, "required": project_list_import.REQUIRED_COLUMNS}
IMPORT_TEMPLATE = [
    ["年度", "项目名称", "党组织", "层级", "领域", "必选/自选", "类别", "项目书记", "村编码", "单位地点编码"],
    [
        "2026",
        "“一领办三参与”蜜柚产业项目",
        "江南村党支部",
        "村级",
        "农村",
        "自选",
        "重点性",
        "jiangnan",
        "360821100201",
        "",
    ],
    ["2026", "党建引领四服务一提升", "县财政局机关党委", "县级", "机关", "必选", "常规性", "", "", "GX-001"],
]


def _page(status: int = 200, **context):
    return render(TEMPLATE, status, levels=PROJECT_LEVELS, **context)


def _plan(rows, report) -> list[dict]:
    """Each row as the preview shows it: what it would do, or why it is refused."""
    errors = {e["row"]: e["message"] for e in report.errors}
    return [{**r, "action": report.actions.get(r["_row"], ""), "error": errors.get(r["_row"])} for r in rows]


@console_bp.route("/projects/import", methods=["GET", "POST"])
@staff_required(*WRITE)
def project_list_import_page():
    """Upload the approved project list and preview it (a dry run); nothing is written here."""
    if request.method == "GET":
        return _page()
    with refused() as refusal:
        path, token, suffix = _store_upload()
    if refusal.error:
        return _page(refusal.error.status, error=message(refusal.error))
    with refused() as refusal:
        rows = _read_import(path, **COLUMNS)
        report = project_list_import.import_project_list(db.session, g.staff, rows, dry_run=True)
    if refusal.error:
        path.unlink(missing_ok=True)
        return _page(refusal.error.status, error=message(refusal.error))
    if report.errors:
        path.unlink(missing_ok=True)  # nothing to confirm: the file must be fixed first
    return _page(
        400 if report.errors else 200,
        report=report,
        plan=_plan(rows, report),
        token=None if report.errors else token,
        suffix=suffix,
    )


@console_bp.post("/projects/import/confirm")
@staff_required(*WRITE)
def project_list_import_confirm():
    """Import the list previewed before; all rows or none."""
    path = _import_path(request.form.get("token", ""), request.form.get("suffix", ""))
    if path is None:
        flash("预览已过期或文件已导入,请重新上传文件")
        return redirect(url_for("console.project_list_import_page"))
    try:
        with refused() as refusal:
            rows = _read_import(path, **COLUMNS)
            report = project_list_import.import_project_list(db.session, g.staff, rows)
    finally:
        path.unlink(missing_ok=True)
    if refusal.error:
        return _page(refusal.error.status, error=message(refusal.error))
    if report.errors:
        # The data changed since the preview (an organization renamed, a visit made): write nothing.
        return _page(409, report=report, plan=_plan(rows, report), error="导入时发现错误,未写入任何数据")
    flash(f"立项名单导入完成:新增项目 {report.created} 个,更新 {report.updated} 个")
    return redirect(url_for("console.projects"))


@console_bp.get("/projects/import/template.csv")
@staff_required(*WRITE)
def project_list_import_template():
    """A CSV with the expected header and two example rows."""
    out = io.StringIO()
    csv.writer(out).writerows(IMPORT_TEMPLATE)
    # The BOM makes Excel on Chinese Windows open the file as UTF-8 instead of GBK.
    return Response(
        "\ufeff" + out.getvalue(),
        mimetype="text/csv",
        headers={"Content-Disposition": "attachment; filename=project-list-template.csv"},
    )
