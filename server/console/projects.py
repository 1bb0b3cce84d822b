"""Base data pages: townships, villages and unit sites (with XLSX/CSV import), projects, users
and invite codes, assignments.

Every write goes through the same service the JSON admin API calls, so the rules (unique
codes, GCJ-02 conversion, recusal, one-time invite codes) live in one place; these handlers
only turn form fields into the service's input and its ApiError back into the form. Admins
write; leaders and reviewers read the lists (reviewers only part of the assignments: see
PLAN_READERS).
"""

from __future__ import annotations

import contextlib
import csv
import io
import re
import secrets
import time
import zipfile
from datetime import date
from pathlib import Path
from typing import Any

from flask import (
    Response,
    abort,
    current_app,
    flash,
    g,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from openpyxl.utils.exceptions import InvalidFileException
from sqlalchemy import and_, func, or_, select

from server import geo
from server.console import console_bp, forms
from server.console.auth import ROLE_NAMES, staff_required
from server.db import db
from server.errors import ApiError
from server.models import (
    DOMAINS,
    PROJECT_STATUSES,
    Assignment,
    InspectionRound,
    Organization,
    Project,
    ProjectUpdate,
    Site,
    Township,
    User,
    UserRole,
    Village,
    utcnow,
)
from server.services import assignments, evidence, places, projects, public, users
from server.services.common import paginate

WRITE = ("admin",)
# Open assignments name the village a team will turn up in unannounced. Reviewers may work in
# that township, so (as with visits, services/review.py) they see only closed assignments in
# their townships; admins and leaders see the whole plan.
PLAN_READERS = assignments.PLAN_READERS
PER_PAGE = 50

ROLE_LABELS = {**ROLE_NAMES, "inspector": "督查人员", "secretary": "项目书记", "villager": "群众"}
# Villagers register themselves through WeChat; the console creates everyone else.
CREATABLE_ROLES = ("admin", "leader", "reviewer", "unit_reviewer", "expert", "inspector", "secretary")
ASSIGNMENT_STATUSES = {"open": "进行中", "closed": "已结束"}
FIELD_LABELS = {"code": "编码", "username": "用户名"}
USERNAME_RE = re.compile(r"[A-Za-z0-9_.@-]{2,64}")

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


# ---- shared helpers ---------------------------------------------------------------------

def _render(template: str, status: int = 200, **context: Any):
    """A page of this module with what every one of them uses."""
    return render_template(
        f"console/base_data/{template}", can_edit=g.staff.has_role(*WRITE), point=point_text,
        role_labels=ROLE_LABELS, page_url=forms.page_url, **context,
    ), status





def _get(model: type, object_id: int):
    obj = db.session.get(model, object_id)
    if obj is None:
        abort(404)
    return obj


def _message(exc: ApiError) -> str:
    """The error as staff should read it; the services' conflict messages name fields in English."""
    field, value = exc.details.get("field"), exc.details.get("value")
    if exc.code == "conflict" and field in FIELD_LABELS and value is not None:
        return f"{FIELD_LABELS[field]}“{value}”已被使用"
    return exc.message



def _form_values(*multi: str) -> dict[str, Any]:
    """The submitted form, to refill it after an error; `multi` fields keep all their values."""
    values: dict[str, Any] = request.form.to_dict()
    for key in multi:
        values[key] = request.form.getlist(key)
    return values


def _int(name: str, label: str, low: int, high: int, *, required: bool = False) -> int | None:
    raw = request.form.get(name, "").strip()
    if not raw:
        if required:
            raise forms.invalid(f"请填写{label}", name)
        return None
    if not re.fullmatch(r"-?\d+", raw):
        raise forms.invalid(f"{label}“{raw}”不是整数", name)
    value = int(raw)
    if not low <= value <= high:
        raise forms.invalid(f"{label}应在 {low} 到 {high} 之间", name)
    return value


def _id(name: str) -> int | None:
    raw = request.form.get(name, "").strip()
    return int(raw) if raw.isdigit() else None


def _ids(name: str) -> list[int]:
    return list(dict.fromkeys(int(v) for v in request.form.getlist(name) if v.strip().isdigit()))


def _code12(name: str = "code") -> str:
    code = request.form.get(name, "").strip()
    if not re.fullmatch(r"\d{12}", code):
        raise forms.invalid(f"区划代码“{code}”应为 12 位数字", name)
    return code


def _due_date(name: str = "due_date") -> str | None:
    raw = request.form.get(name, "").strip()
    if not raw:
        return None
    try:
        return date.fromisoformat(raw).isoformat()
    except ValueError:
        raise forms.invalid(f"截止日期“{raw}”不是有效日期", name) from None


# ---- coordinates ------------------------------------------------------------------------

_POINT_SEPARATORS = re.compile(r"[\s,，;；、]+")


def parse_point(text: str, lat: str = "", lng: str = "", coord_type: str = "gcj02") -> dict[str, Any] | None:
    """Coordinates typed or pasted into a form as the services take them; None when left empty.

    Accepts "27.0161, 114.8803", "27.0161,114.8803" (Chinese comma too) or separate lat/lng
    fields. Range checks and the GCJ-02 conversion stay in the services.
    """
    if coord_type not in geo.COORD_TYPES:
        raise ApiError("invalid_coordinate", "坐标系必须是 GCJ-02 或 WGS-84", {"field": "coord_type"})
    text = text.strip().strip("()（）[]【】")
    if text:
        parts = [p for p in _POINT_SEPARATORS.split(text) if p]
    elif lat.strip() or lng.strip():
        parts = [lat.strip(), lng.strip()]
    else:
        return None
    try:
        first, second = (float(p) for p in parts)
    except ValueError:
        shown = text or f"{lat}, {lng}"
        raise ApiError("invalid_coordinate", f"坐标“{shown}”无法识别,请按“纬度, 经度”填写,例如 27.0161, 114.8803",
                       {"field": "coords"}) from None
    # AMap's coordinate picker copies "lng,lat"; a first number beyond ±90 cannot be a
    # latitude, so that order is unambiguous and we take it rather than refuse it.
    if abs(first) > 90 >= abs(second):
        first, second = second, first
    return {"lat": first, "lng": second, "coord_type": coord_type}


def _form_point() -> dict[str, Any] | None:
    return parse_point(request.form.get("coords", ""), request.form.get("lat", ""),
                       request.form.get("lng", ""), request.form.get("coord_type", "gcj02"))


def point_text(lat: float | None, lng: float | None) -> dict[str, str] | None:
    """A stored WGS-84 point and its GCJ-02 equivalent, six decimals (about 0.1 m)."""
    if lat is None or lng is None:
        return None
    glat, glng = geo.wgs84_to_gcj02(lat, lng)
    return {"wgs84": f"{lat:.6f}, {lng:.6f}", "gcj02": f"{glat:.6f}, {glng:.6f}"}


# ---- places -----------------------------------------------------------------------------

def _places_page(status: int = 200, *, failed: str | None = None, error: str | None = None):
    township_id, q = forms.arg_int("township_id"), request.args.get("q", "").strip()
    townships = db.session.scalars(select(Township).order_by(Township.code)).all()
    villages = select(Village).order_by(Village.code)
    sites = select(Site).order_by(Site.id)
    if township_id:
        villages = villages.where(Village.township_id == township_id)
        sites = sites.where(Site.township_id == township_id)
    if q:
        villages = villages.where(or_(Village.name.contains(q, autoescape=True),
                                      Village.code.contains(q, autoescape=True)))
        sites = sites.where(or_(Site.name.contains(q, autoescape=True), Site.code.contains(q, autoescape=True)))
    return _render(
        "places.html", status, townships=townships, township_by_id={t.id: t for t in townships},
        village_counts=dict(db.session.execute(
            select(Village.township_id, func.count()).group_by(Village.township_id)).all()),
        villages=db.session.scalars(villages).all(), sites=db.session.scalars(sites).all(),
        filters={"township_id": township_id, "q": q}, failed=failed, error=error,
        values=_form_values() if failed else {},
    )


@console_bp.get("/places", endpoint="places")
@staff_required()
def places_list():
    """Townships, villages and unit sites with their WGS-84 and GCJ-02 centres; admins get the forms."""
    return _places_page()


def _township_data() -> dict[str, Any]:
    data: dict[str, Any] = {"code": _code12(), "name": forms.text("name", "乡镇名称", required=True)}
    data.update(_form_point() or {})
    return data


def _village_data(*, creating: bool) -> dict[str, Any]:
    township_id = _id("township_id")
    if township_id is None:
        raise forms.invalid("请选择所属乡镇", "township_id")
    data: dict[str, Any] = {"township_id": township_id, "code": _code12(),
                            "name": forms.text("name", "村名称", required=True)}
    radius = _int("radius_m", "围栏半径", 20, 20000)
    if radius is not None:
        data["radius_m"] = radius
    point = _form_point()
    if point is None and creating:
        raise ApiError("invalid_coordinate", "请填写村中心的坐标", {"field": "coords"})
    data.update(point or {})
    return data


def _site_data(*, creating: bool) -> dict[str, Any]:
    data: dict[str, Any] = {"name": forms.text("name", "单位地点名称", required=True, max_len=128),
                            "code": forms.text("code", "单位编码", max_len=32) or None,
                            "township_id": _id("township_id")}
    radius = _int("radius_m", "围栏半径", 20, 20000)
    if radius is not None:
        data["radius_m"] = radius
    point = _form_point()
    if point is None and creating:
        raise ApiError("invalid_coordinate", "请填写单位地点的坐标", {"field": "coords"})
    data.update(point or {})
    return data


def _saved(what: str, obj) -> None:
    shown = point_text(obj.lat, obj.lng)
    where = f"(WGS-84 {shown['wgs84']};GCJ-02 {shown['gcj02']})" if shown else ""
    flash(f"已保存{what}:{obj.name}{where}")


@console_bp.post("/places/townships")
@staff_required(*WRITE)
def township_create():
    """Add a township."""
    try:
        township = places.create_township(db.session, g.staff, _township_data())
    except ApiError as exc:
        db.session.rollback()
        return _places_page(exc.status, failed="township", error=_message(exc))
    _saved("乡镇", township)
    return redirect(url_for("console.places"))


@console_bp.post("/places/villages")
@staff_required(*WRITE)
def village_create():
    """Add a village; its centre is converted to WGS-84 from the chosen coordinate system."""
    try:
        village = places.create_village(db.session, g.staff, _village_data(creating=True))
    except ApiError as exc:
        db.session.rollback()
        return _places_page(exc.status, failed="village", error=_message(exc))
    _saved("村", village)
    return redirect(url_for("console.places"))


@console_bp.post("/places/sites")
@staff_required(*WRITE)
def site_create():
    """Add a unit's own site."""
    try:
        site = places.create_site(db.session, g.staff, _site_data(creating=True))
    except ApiError as exc:
        db.session.rollback()
        return _places_page(exc.status, failed="site", error=_message(exc))
    _saved("单位地点", site)
    return redirect(url_for("console.places"))


def _edit_place(kind: str, obj, save):
    townships = db.session.scalars(select(Township).order_by(Township.code)).all()
    if request.method == "POST":
        try:
            save()
        except ApiError as exc:
            db.session.rollback()
            return _render("place_edit.html", exc.status, kind=kind, obj=obj, townships=townships,
                           values=_form_values(), error=_message(exc))
        _saved({"township": "乡镇", "village": "村", "site": "单位地点"}[kind], obj)
        return redirect(url_for("console.places"))
    values = {"code": obj.code or "", "name": obj.name, "township_id": str(getattr(obj, "township_id", "") or ""),
              "radius_m": str(getattr(obj, "radius_m", "") or ""), "coord_type": "gcj02"}
    return _render("place_edit.html", kind=kind, obj=obj, townships=townships, values=values)


@console_bp.route("/places/townships/<int:township_id>", methods=["GET", "POST"])
@staff_required(*WRITE)
def township_edit(township_id: int):
    """Edit a township's code, name or centre."""
    township = _get(Township, township_id)
    return _edit_place("township", township, lambda: places.update_township(
        db.session, g.staff, township_id, _township_data()))


@console_bp.route("/places/villages/<int:village_id>", methods=["GET", "POST"])
@staff_required(*WRITE)
def village_edit(village_id: int):
    """Edit a village; leaving the coordinates empty keeps its centre."""
    village = _get(Village, village_id)
    return _edit_place("village", village, lambda: places.update_village(
        db.session, g.staff, village_id, _village_data(creating=False)))


@console_bp.route("/places/sites/<int:site_id>", methods=["GET", "POST"])
@staff_required(*WRITE)
def site_edit(site_id: int):
    """Edit a unit site; leaving the coordinates empty keeps its centre."""
    site = _get(Site, site_id)
    return _edit_place("site", site, lambda: places.update_site(
        db.session, g.staff, site_id, _site_data(creating=False)))


# ---- places import ----------------------------------------------------------------------
#
# The previewed file stays in the instance folder under a random token (and the uploader's
# id), so "确认导入" imports exactly the bytes that were previewed without a second upload.
# It is deleted once imported, on a failed preview, and by the next upload once older than an
# hour. Where several machines serve the console without a shared instance folder, a confirm
# may land where the file is not: the page then asks for the file again, nothing is lost.

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


def _read_import(path: Path) -> list[dict[str, Any]]:
    try:
        rows = places.read_rows(path)
    except (zipfile.BadZipFile, InvalidFileException, KeyError, ValueError, csv.Error, OSError):
        # Not our error to explain in detail: a renamed .doc, a corrupt or encrypted workbook.
        raise forms.invalid("文件无法读取,请确认是 Excel 保存的 .xlsx 或 .csv 文件", "file") from None
    if not rows:
        raise forms.invalid("文件中没有数据行(第一行应为表头)", "file")
    return rows


def _import_plan(rows: list[dict[str, Any]], errors: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each row as the preview shows it: what it would create or update, or why it is refused."""
    existing = {
        "township": set(db.session.scalars(select(Township.code))),
        "village": set(db.session.scalars(select(Village.code))),
        "site": set(db.session.scalars(select(Site.code).where(Site.code.is_not(None)))),
    }
    kinds = {"township": "乡镇", "village": "村", "site": "单位地点"}
    by_row = {e["row"]: e["message"] for e in errors}
    plan, seen = [], set()
    for row in rows:
        # The service's own table of type words, so the preview reads a row as the import will.
        kind = places._TYPE_WORDS.get(row.get("type", "").strip().lower())
        code = row.get("code", "").strip()
        action = ""
        if kind:
            known = code and ((kind, code) in seen or code in existing[kind])
            action = f"更新{kinds[kind]}" if known else f"新增{kinds[kind]}"
            seen.add((kind, code))
        plan.append({**row, "action": action, "error": by_row.get(row["_row"])})
    return plan


@console_bp.route("/places/import", methods=["GET", "POST"])
@staff_required(*WRITE)
def places_import():
    """Upload an XLSX/CSV of places and preview it (a dry run); nothing is written here."""
    if request.method == "GET":
        return _render("places_import.html")
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        return _render("places_import.html", 400, error="请选择要导入的文件")
    suffix = Path(upload.filename).suffix.lower()
    if suffix not in IMPORT_SUFFIXES:
        return _render("places_import.html", 400, error="只支持 .xlsx 或 .csv 文件")
    content = upload.stream.read(IMPORT_MAX_BYTES + 1)
    if len(content) > IMPORT_MAX_BYTES:
        return _render("places_import.html", 413, error=f"文件超过 {IMPORT_MAX_BYTES // 1024 // 1024} MB")
    _import_dir().mkdir(parents=True, exist_ok=True)
    _sweep_imports()
    token = secrets.token_urlsafe(16)
    path = _import_dir() / f"{g.staff.id}-{token}{suffix}"
    path.write_bytes(content)
    try:
        rows = _read_import(path)
        report = places.import_places(db.session, g.staff, rows, dry_run=True)
    except ApiError as exc:
        path.unlink(missing_ok=True)
        db.session.rollback()
        return _render("places_import.html", exc.status, error=_message(exc))
    if report.errors:
        path.unlink(missing_ok=True)  # nothing to confirm: the file must be fixed first
    return _render("places_import.html", 400 if report.errors else 200, report=report,
                   plan=_import_plan(rows, report.errors), token=None if report.errors else token,
                   suffix=suffix)


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
        rows = _read_import(path)
        report = places.import_places(db.session, g.staff, rows)
    except ApiError as exc:
        db.session.rollback()
        return _render("places_import.html", exc.status, error=_message(exc))
    finally:
        path.unlink(missing_ok=True)
    if report.errors:
        # The data changed since the preview (someone edited a place): show why, write nothing.
        return _render("places_import.html", 409, report=report, plan=_import_plan(rows, report.errors),
                       error="导入时发现错误,未写入任何数据")
    flash(f"导入完成:乡镇 {report.townships} 条,村 {report.villages} 条,单位地点 {report.sites} 条")
    return redirect(url_for("console.places"))


@console_bp.get("/places/import/template.csv")
@staff_required(*WRITE)
def places_import_template():
    """A CSV with the expected header and one example row per kind."""
    out = io.StringIO()
    csv.writer(out).writerows(IMPORT_TEMPLATE)
    # The BOM makes Excel on Chinese Windows open the file as UTF-8 instead of GBK.
    return Response("\ufeff" + out.getvalue(), mimetype="text/csv",
                    headers={"Content-Disposition": "attachment; filename=places-template.csv"})


# ---- projects ---------------------------------------------------------------------------

_STEP_DATE = re.compile(r"(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*日?")


def parse_steps(text: str) -> list[dict[str, str]]:
    """Steps from lines "名称 | 2026-05-31 | 负责人 [| 状态]"; deadline, person and status optional."""
    steps = []
    for n, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        parts = [p.strip() for p in re.split(r"[|｜]", line)]
        if len(parts) > 4:
            raise forms.invalid(f"实施步骤第 {n} 行最多 4 栏:名称 | 截止日期 | 负责人 | 状态", "steps")
        name, deadline, person, status = parts + [""] * (4 - len(parts))
        if not name:
            raise forms.invalid(f"实施步骤第 {n} 行缺少名称", "steps")
        if len(name) > 200 or len(person) > 64 or len(status) > 32:
            raise forms.invalid(f"实施步骤第 {n} 行内容过长", "steps")
        if deadline:
            match = _STEP_DATE.fullmatch(deadline)
            try:
                deadline = date(*(int(x) for x in match.groups())).isoformat() if match else ""
            except ValueError:
                deadline = ""
            if not deadline:
                raise forms.invalid(f"实施步骤第 {n} 行的截止日期“{parts[1]}”无效,应写成 2026-05-31", "steps")
        step = {"name": name, "deadline": deadline, "responsible": person}
        if status:
            step["status"] = status
        steps.append(step)
    if len(steps) > 100:
        raise forms.invalid("实施步骤最多 100 条", "steps")
    return steps


def steps_text(steps: list[Any]) -> str:
    """Steps back in the one-line-each form the editor takes."""
    lines = []
    for step in steps or []:
        if isinstance(step, dict):
            cells = [str(step.get(k) or "") for k in ("name", "deadline", "responsible", "status")]
            while cells and not cells[-1]:
                cells.pop()
            lines.append(" | ".join(cells))
        else:
            lines.append(str(step))
    return "\n".join(lines)


def _targets_text(targets: list[Any]) -> str:
    return "\n".join(str(t.get("name") or t.get("text") or "") if isinstance(t, dict) else str(t)
                     for t in targets or [])


def _secretaries() -> list[User]:
    stmt = (select(User).where(User.active.is_(True), User.id.in_(
        select(UserRole.user_id).where(UserRole.role == "secretary"))).order_by(User.name))
    return list(db.session.scalars(stmt))



def _project_data() -> dict[str, Any]:
    domain = request.form.get("domain", "农村")
    if domain not in DOMAINS:
        raise forms.invalid("请选择项目领域", "domain")
    data: dict[str, Any] = {
        "title": forms.text("title", "项目名称", required=True, max_len=200),
        "year": _int("year", "年度", 2000, 2100, required=True),
        "domain": domain,
        "organization_id": _id("organization_id"),
        "steps": parse_steps(request.form.get("steps", "")),
        "targets": forms.lines("targets", "项目目标", max_items=100),
        "responsible": {role: value for i, role in enumerate(public.RESPONSIBLE_ROLES)
                        if (value := forms.text(f"responsible_{i}", role, max_len=200))},
        # An unticked box is not sent at all: the form always states the policy, so absent means off.
        "allow_album": request.form.get("allow_album") == "1",
    }
    if request.form.get("place_kind") == "site":
        site_id = _id("site_id")
        if site_id is None:
            raise forms.invalid("请选择单位地点", "site_id")
        data["site"] = {"id": site_id}
    else:
        data["village_ids"] = _ids("village_ids")
    return data


def _project_form(status: int = 200, *, project: Project | None = None, values: dict[str, Any],
                  error: str | None = None, update_text: str = ""):
    townships = db.session.scalars(select(Township).order_by(Township.code)).all()
    updates = []
    if project is not None:
        updates = db.session.scalars(select(ProjectUpdate).where(ProjectUpdate.project_id == project.id)
                                     .order_by(ProjectUpdate.id.desc()).limit(20)).all()
    return _render(
        "project_form.html", status, project=project, values=values, error=error,
        townships=townships, villages=db.session.scalars(select(Village).order_by(Village.code)).all(),
        sites=db.session.scalars(select(Site).order_by(Site.name)).all(),
        organizations=db.session.scalars(select(Organization).order_by(Organization.name)).all(),
        secretaries=_secretaries(), domains=DOMAINS, statuses=PROJECT_STATUSES,
        responsible_roles=public.RESPONSIBLE_ROLES, updates=updates, update_text=update_text,
        china=public.CHINA,
    )


def _project_values(project: Project) -> dict[str, Any]:
    values: dict[str, Any] = {
        "title": project.title, "year": str(project.year), "domain": project.domain,
        "status": project.status, "organization_id": str(project.organization_id or ""),
        "secretary_id": str(project.secretary_id or ""),
        "place_kind": "site" if project.site_id else "village",
        "village_ids": [str(v.id) for v in project.villages], "site_id": str(project.site_id or ""),
        "steps": steps_text(project.steps), "targets": _targets_text(project.targets),
        "allow_album": "1" if project.allow_album else "",
    }
    for i, role in enumerate(public.RESPONSIBLE_ROLES):
        value = (project.responsible or {}).get(role)
        values[f"responsible_{i}"] = (value.get("name") or "") if isinstance(value, dict) else str(value or "")
    return values


@console_bp.get("/projects", endpoint="projects")
@staff_required()
def projects_list():
    """Projects by year, domain and title, with their place and secretary in charge."""
    year, domain, q = forms.arg_int("year"), request.args.get("domain", ""), request.args.get("q", "").strip()
    stmt = select(Project).order_by(Project.year.desc(), Project.id.desc())
    if year:
        stmt = stmt.where(Project.year == year)
    if domain in DOMAINS:
        stmt = stmt.where(Project.domain == domain)
    if q:
        stmt = stmt.where(Project.title.contains(q, autoescape=True))
    items, total = paginate(db.session, stmt, forms.page(), PER_PAGE)
    secretary_ids = {p.secretary_id for p in items if p.secretary_id}
    secretaries = {u.id: u for u in db.session.scalars(select(User).where(User.id.in_(secretary_ids)))} \
        if secretary_ids else {}
    townships = {t.id: t for t in db.session.scalars(select(Township))}
    return _render("projects.html", projects=items, total=total, page=forms.page(), per_page=PER_PAGE,
                   secretaries=secretaries, township_by_id=townships, domains=DOMAINS,
                   statuses=PROJECT_STATUSES, filters={"year": year, "domain": domain, "q": q})


@console_bp.route("/projects/new", methods=["GET", "POST"])
@staff_required(*WRITE)
def project_new():
    """Add a project: place, secretary in charge, the four responsible people, steps and targets."""
    if request.method == "GET":
        return _project_form(values={"year": str(date.today().year), "domain": "农村", "place_kind": "village"})
    try:
        project = projects.create_project(
            db.session, g.staff, {**_project_data(), "secretary_id": _id("secretary_id")})
    except ApiError as exc:
        db.session.rollback()
        return _project_form(exc.status, values=_form_values("village_ids"), error=_message(exc))
    flash(f"已添加项目:{project.title}")
    return redirect(url_for("console.project_edit", project_id=project.id))


@console_bp.route("/projects/<int:project_id>", methods=["GET", "POST"])
@staff_required(*WRITE)
def project_edit(project_id: int):
    """Edit a project; its place cannot change once a visit was made for it."""
    project = _get(Project, project_id)
    if request.method == "GET":
        return _project_form(project=project, values=_project_values(project))
    try:
        projects.update_project(
            db.session, g.staff, project_id, {**_project_data(), "secretary_id": _id("secretary_id")})
    except ApiError as exc:
        db.session.rollback()
        return _project_form(exc.status, project=project, values=_form_values("village_ids"),
                             error=_message(exc))
    flash(f"已保存项目:{project.title}")
    return redirect(url_for("console.project_edit", project_id=project.id))


@console_bp.post("/projects/<int:project_id>/updates")
@staff_required(*WRITE)
def project_publish(project_id: int):
    """Publish a progress update on the project's public record."""
    project = _get(Project, project_id)
    try:
        public.add_update(db.session, g.staff, project_id, forms.text("text", "进展内容", max_len=2000))
    except ApiError as exc:
        db.session.rollback()
        return _project_form(exc.status, project=project, values=_project_values(project),
                             error=_message(exc), update_text=request.form.get("text", ""))
    flash("进展已发布到项目公示页")
    return redirect(url_for("console.project_edit", project_id=project_id))


# ---- users ------------------------------------------------------------------------------

def _user_data(*, user: User | None) -> dict[str, Any]:
    username = forms.text("username", "用户名")
    if username and not USERNAME_RE.fullmatch(username):
        raise forms.invalid("用户名只能由字母、数字和 _ . @ - 组成,2 到 64 位", "username")
    if not username and user is not None and user.username:
        raise forms.invalid("已有的用户名不能清空", "username")
    roles = sorted(set(request.form.getlist("roles")))
    if not roles:
        raise forms.invalid("请至少选择一个角色", "roles")
    if set(roles) - set(CREATABLE_ROLES):
        raise forms.invalid("角色不正确", "roles")
    password = request.form.get("password", "")
    if password and not 8 <= len(password) <= 256:
        raise forms.invalid("密码至少 8 位", "password")
    if password and not username:
        raise forms.invalid("设置密码需要同时填写用户名(用于登录管理后台)", "password")
    data: dict[str, Any] = {"name": forms.text("name", "姓名", required=True), "roles": roles,
                            "township_ids": _ids("township_ids"), "home_township_id": _id("home_township_id"),
                            "organization_ids": _ids("organization_ids")}
    if username:
        data["username"] = username
    if password:
        data["password"] = password
    if user is not None and user.id == g.staff.id and "admin" not in roles:
        raise forms.invalid("不能取消自己的管理员角色", "roles")
    return data


def _users_page(status: int = 200, *, values: dict[str, Any] | None = None, error: str | None = None):
    role, q = request.args.get("role", ""), request.args.get("q", "").strip()
    stmt = select(User).order_by(User.id)
    if role in ROLE_LABELS:
        stmt = stmt.where(User.id.in_(select(UserRole.user_id).where(UserRole.role == role)))
    else:
        # Villagers register by the thousand through WeChat; the list is about staff unless asked.
        stmt = stmt.where(User.id.in_(select(UserRole.user_id).where(UserRole.role != "villager")))
    if q:
        stmt = stmt.where(or_(User.username.contains(q, autoescape=True), User.name.contains(q, autoescape=True)))
    items, total = paginate(db.session, stmt, forms.page(), PER_PAGE)
    townships = db.session.scalars(select(Township).order_by(Township.code)).all()
    return _render("users.html", status, users=items, total=total, page=forms.page(), per_page=PER_PAGE,
                   townships=townships, township_by_id={t.id: t for t in townships},
                   creatable_roles=CREATABLE_ROLES, filters={"role": role, "q": q}, now=utcnow(),
                   values=values or {"roles": [], "township_ids": [], "organization_ids": []}, error=error,
                   china=public.CHINA, organizations=_all_organizations())


def _all_organizations() -> list[Organization]:
    return list(db.session.scalars(select(Organization).order_by(Organization.name)))


def _invite_page(user: User, code: str):
    body, status = _render("invite.html", user=user, code=code, china=public.CHINA)
    # The code is shown once: no browser or proxy may keep a copy of this page.
    return body, status, {"Cache-Control": "no-store"}


@console_bp.get("/users", endpoint="users")
@staff_required()
def users_list():
    """Staff accounts with roles, scope, WeChat binding and invite state."""
    return _users_page()


@console_bp.post("/users")
@staff_required(*WRITE)
def user_create():
    """Create an account; when asked, show its invite code once."""
    try:
        data = _user_data(user=None)
        data["issue_invite"] = request.form.get("issue_invite") == "1"
        user, code = users.create_user(db.session, g.staff, data)
    except ApiError as exc:
        db.session.rollback()
        return _users_page(exc.status, values=_form_values("roles", "township_ids", "organization_ids"),
                           error=_message(exc))
    if code:
        return _invite_page(user, code)
    flash(f"已添加账号:{user.name}")
    return redirect(url_for("console.users"))


@console_bp.route("/users/<int:user_id>", methods=["GET", "POST"])
@staff_required(*WRITE)
def user_edit(user_id: int):
    """Edit an account's name, roles, scope, home township or password."""
    user = _get(User, user_id)
    townships = db.session.scalars(select(Township).order_by(Township.code)).all()
    if request.method == "POST":
        try:
            users.update_user(db.session, g.staff, user_id, _user_data(user=user))
        except ApiError as exc:
            db.session.rollback()
            return _render("user_edit.html", exc.status, user=user, townships=townships,
                           organizations=_all_organizations(), creatable_roles=CREATABLE_ROLES, error=_message(exc),
                           values=_form_values("roles", "township_ids", "organization_ids"))
        if user.id == g.staff.id:
            # A new password signs the account out everywhere, except here where it was set.
            session["v"] = user.token_version
            if request.form.get("password"):
                session["sid"] = users.open_console_session(db.session, user)
        flash(f"已保存账号:{user.name}")
        return redirect(url_for("console.users"))
    values = {"username": user.username or "", "name": user.name, "roles": user.roles,
              "township_ids": [str(t.id) for t in user.townships],
              "home_township_id": str(user.home_township_id or ""),
              "organization_ids": [str(o.id) for o in user.organizations]}
    return _render("user_edit.html", user=user, townships=townships, organizations=_all_organizations(),
                   creatable_roles=CREATABLE_ROLES, values=values)


@console_bp.post("/users/<int:user_id>/invite")
@staff_required(*WRITE)
def user_reset_invite(user_id: int):
    """Issue a new invite code (the old one stops working) and show it, once."""
    user = _get(User, user_id)
    # The service refuses accounts that do not use the mini-program, bound or inactive ones.
    try:
        user, code = users.update_user(db.session, g.staff, user_id, {"reset_invite": True})
    except ApiError as exc:
        db.session.rollback()
        flash(f"{user.name}:{exc.message}")
        return redirect(url_for("console.users"))
    return _invite_page(user, code)


@console_bp.post("/users/<int:user_id>/active")
@staff_required(*WRITE)
def user_set_active(user_id: int):
    """Deactivate (signs out everywhere) or reactivate an account."""
    user = _get(User, user_id)
    active = request.form.get("active") == "1"
    if user.id == g.staff.id and not active:
        return _users_page(409, error="不能停用自己的账号")
    try:
        users.update_user(db.session, g.staff, user_id, {"active": active})
    except ApiError as exc:
        db.session.rollback()
        return _users_page(exc.status, error=_message(exc))
    flash(f"已{'启用' if active else '停用'}账号:{user.name}")
    return redirect(url_for("console.users"))


# ---- assignments ------------------------------------------------------------------------

def _inspectors() -> list[User]:
    stmt = (select(User).where(User.active.is_(True), User.id.in_(
        select(UserRole.user_id).where(UserRole.role == "inspector"))).order_by(User.name))
    return list(db.session.scalars(stmt))


def _place_label(assignment: Assignment) -> str:
    try:
        return projects.place_of(db.session, assignment).label
    except ApiError:
        return "(未设置地点)"


def _assignment_error(exc: ApiError) -> str:
    """The service's message, naming the inspectors it concerns (recusal, inactive accounts)."""
    ids = exc.details.get("inspector_ids")
    if not ids:
        return _message(exc)
    names = db.session.scalars(select(User.name).where(User.id.in_(ids)).order_by(User.name)).all()
    return f"{exc.message}:{'、'.join(names)}" if names else exc.message


def _inspector_ids() -> list[int]:
    ids = _ids("inspector_ids")
    if not ids:
        raise forms.invalid("请至少选择一名督查人员", "inspector_ids")
    if len(ids) > 20:
        raise forms.invalid("每个任务最多 20 名督查人员", "inspector_ids")
    return ids


def _evidence_policy() -> dict[str, int | None]:
    """The assignment's evidence-policy overrides from the form (empty: the round's or the default)."""
    return {"min_photos": _int("min_photos", "至少照片数", 0, evidence.MAX_MINIMUM),
            "min_interviews": _int("min_interviews", "至少入户走访数", 0, evidence.MAX_MINIMUM)}


def _in_townships(township_ids: list[int]):
    """Assignments whose village, or whose project's unit site, lies in one of these townships."""
    township_ids = township_ids or [-1]
    return or_(
        Assignment.village_id.in_(select(Village.id).where(Village.township_id.in_(township_ids))),
        and_(Assignment.village_id.is_(None), Assignment.project_id.in_(
            select(Project.id).join(Site, Project.site_id == Site.id).where(Site.township_id.in_(township_ids)))),
    )


def _assignments_page(status: int = 200, *, values: dict[str, Any] | None = None, error: str | None = None):
    project_id, state = forms.arg_int("project_id"), request.args.get("status", "")
    stmt = select(Assignment).order_by(Assignment.id.desc())
    if not g.staff.has_role(*PLAN_READERS):
        stmt = stmt.where(Assignment.status == "closed", _in_townships([t.id for t in g.staff.townships]),
                          # A drawn assignment stays hidden until its whole round is closed and published.
                          or_(Assignment.round_id.is_(None), Assignment.round_id.in_(
                              select(InspectionRound.id).where(InspectionRound.status == "closed"))))
    if project_id:
        stmt = stmt.where(Assignment.project_id == project_id)
    if state in ASSIGNMENT_STATUSES:
        stmt = stmt.where(Assignment.status == state)
    items, total = paginate(db.session, stmt, forms.page(), PER_PAGE)
    all_projects = db.session.scalars(select(Project).order_by(Project.year.desc(), Project.title)).all()
    townships = {t.id: t for t in db.session.scalars(select(Township))}
    return _render(
        "assignments.html", status, assignments=items, total=total, page=forms.page(), per_page=PER_PAGE,
        places={a.id: _place_label(a) for a in items}, projects=all_projects,
        open_projects=[p for p in all_projects if p.status != "closed"], inspectors=_inspectors(),
        township_by_id=townships, statuses=ASSIGNMENT_STATUSES, china=public.CHINA,
        filters={"project_id": project_id, "status": state}, error=error,
        values=values or {"inspector_ids": []},
    )


@console_bp.get("/assignments", endpoint="assignments")
@staff_required()
def assignments_list():
    """Assignments (who is sent where, by when, to check what); admins create them here."""
    return _assignments_page()


@console_bp.post("/assignments")
@staff_required(*WRITE)
def assignment_create():
    """Send a team of inspectors to one of a project's villages (or its unit site)."""
    try:
        project_id = _id("project_id")
        if project_id is None:
            raise forms.invalid("请选择项目", "project_id")
        data = {"project_id": project_id, "village_id": _id("village_id"), "inspector_ids": _inspector_ids(),
                "due_date": _due_date(), "check_items": forms.lines("check_items", "督查事项", max_items=50),
                **_evidence_policy()}
        assignment = assignments.create_assignment(db.session, g.staff, data)
    except ApiError as exc:
        db.session.rollback()
        return _assignments_page(exc.status, values=_form_values("inspector_ids"), error=_assignment_error(exc))
    flash(f"已派出督查任务 #{assignment.id}:{assignment.project.title} · {_place_label(assignment)}")
    return redirect(url_for("console.assignments"))


@console_bp.route("/assignments/<int:assignment_id>", methods=["GET", "POST"])
@staff_required(*WRITE)
def assignment_edit(assignment_id: int):
    """Change an assignment's team, due date, check items or status."""
    assignment = _get(Assignment, assignment_id)
    context = {"assignment": assignment, "place": _place_label(assignment), "inspectors": _inspectors(),
               "policy": evidence.policy_of(db.session, assignment),
               "statuses": ASSIGNMENT_STATUSES,
               "township_by_id": {t.id: t for t in db.session.scalars(select(Township))}}
    if request.method == "POST":
        try:
            status = request.form.get("status", "")
            if status not in ASSIGNMENT_STATUSES:
                raise forms.invalid("请选择任务状态", "status")
            data: dict[str, Any] = {"due_date": _due_date(), "status": status, **_evidence_policy()}
            # A drawn assignment's team and items are the published draw's: only date and status change.
            if assignment.origin != "drawn":
                data["inspector_ids"] = _inspector_ids()
                items = forms.lines("check_items", "督查事项", max_items=50)
                # Items are frozen once a visit started; sending them unchanged must not trip that rule.
                if items != list(assignment.check_items or []):
                    data["check_items"] = items
            assignments.update_assignment(db.session, g.staff, assignment_id, data)
        except ApiError as exc:
            db.session.rollback()
            return _render("assignment_edit.html", exc.status, values=_form_values("inspector_ids"),
                           error=_assignment_error(exc), **context)
        flash(f"已保存督查任务 #{assignment_id}")
        return redirect(url_for("console.assignments"))
    values = {"inspector_ids": [str(m.id) for m in assignment.members], "status": assignment.status,
              "due_date": assignment.due_date.isoformat() if assignment.due_date else "",
              "check_items": "\n".join(assignment.check_items or []),
              "min_photos": "" if assignment.min_photos is None else assignment.min_photos,
              "min_interviews": "" if assignment.min_interviews is None else assignment.min_interviews}
    return _render("assignment_edit.html", values=values, **context)
