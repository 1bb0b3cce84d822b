"""Townships, villages and unit sites: the list with their WGS-84 and GCJ-02 centres, and (admins) the
forms that add and edit them. The XLSX/CSV import is registered in console/imports.py."""

from __future__ import annotations

from typing import Any

from flask import flash, g, redirect, request, url_for

from server.console import console_bp, forms
from server.console.auth import staff_required
from server.console.handling import refused
from server.console.pages import KIND_LABELS, WRITE, message, point_text, render
from server.db import db
from server.errors import ApiError
from server.services import places


def _places_page(status: int = 200, *, failed: str | None = None, error: str | None = None):
    township_id, q = forms.arg_int("township_id"), request.args.get("q", "").strip()
    townships = places.list_townships(db.session).items
    return render(
        "places.html",
        status,
        townships=townships,
        township_by_id={t.id: t for t in townships},
        village_counts=places.village_counts(db.session),
        villages=places.list_villages(db.session, township_id=township_id, q=q).items,
        sites=places.list_sites(db.session, township_id=township_id, q=q).items,
        filters={"township_id": township_id, "q": q},
        failed=failed,
        error=error,
        values=forms.values() if failed else {},
    )


@console_bp.get("/places", endpoint="places")
@staff_required()
def places_list():
    """Townships, villages and unit sites with their WGS-84 and GCJ-02 centres; admins get the forms."""
    return _places_page()


def _township_data() -> dict[str, Any]:
    data: dict[str, Any] = {"code": forms.code12(), "name": forms.text("name", "乡镇名称", required=True)}
    data.update(forms.point() or {})
    return data


def _village_data(*, creating: bool) -> dict[str, Any]:
    township_id = forms.form_id("township_id")
    if township_id is None:
        raise forms.invalid("请选择所属乡镇", "township_id")
    data: dict[str, Any] = {
        "township_id": township_id,
        "code": forms.code12(),
        "name": forms.text("name", "村名称", required=True),
    }
    radius = forms.integer("radius_m", "围栏半径", 20, 20000)
    if radius is not None:
        data["radius_m"] = radius
    point = forms.point()
    if point is None and creating:
        raise ApiError("invalid_coordinate", "请填写村中心的坐标", {"field": "coords"})
    data.update(point or {})
    return data


def _site_data(*, creating: bool) -> dict[str, Any]:
    data: dict[str, Any] = {
        "name": forms.text("name", "单位地点名称", required=True, max_len=128),
        "code": forms.text("code", "单位编码", max_len=32) or None,
        "township_id": forms.form_id("township_id"),
    }
    radius = forms.integer("radius_m", "围栏半径", 20, 20000)
    if radius is not None:
        data["radius_m"] = radius
    point = forms.point()
    if point is None and creating:
        raise ApiError("invalid_coordinate", "请填写单位地点的坐标", {"field": "coords"})
    data.update(point or {})
    return data


def _saved(kind: str, obj) -> Any:
    """Say what was saved, with its centre in both systems, and go back to the list."""
    shown = point_text(obj.lat, obj.lng)
    where = f"(WGS-84 {shown['wgs84']};GCJ-02 {shown['gcj02']})" if shown else ""
    flash(f"已保存{KIND_LABELS[kind]}:{obj.name}{where}")
    return redirect(url_for("console.places"))


@console_bp.post("/places/townships")
@staff_required(*WRITE)
def township_create():
    """Add a township."""
    with refused() as refusal:
        township = places.create_township(db.session, g.staff, _township_data())
    if refusal.error:
        return _places_page(refusal.error.status, failed="township", error=message(refusal.error))
    return _saved("township", township)


@console_bp.post("/places/villages")
@staff_required(*WRITE)
def village_create():
    """Add a village; its centre is converted to WGS-84 from the chosen coordinate system."""
    with refused() as refusal:
        village = places.create_village(db.session, g.staff, _village_data(creating=True))
    if refusal.error:
        return _places_page(refusal.error.status, failed="village", error=message(refusal.error))
    return _saved("village", village)


@console_bp.post("/places/sites")
@staff_required(*WRITE)
def site_create():
    """Add a unit's own site."""
    with refused() as refusal:
        site = places.create_site(db.session, g.staff, _site_data(creating=True))
    if refusal.error:
        return _places_page(refusal.error.status, failed="site", error=message(refusal.error))
    return _saved("site", site)


def _edit_place(kind: str, obj, save):
    townships = places.list_townships(db.session).items
    if request.method == "POST":
        with refused() as refusal:
            save()
        if refusal.error:
            return render(
                "place_edit.html",
                refusal.error.status,
                kind=kind,
                obj=obj,
                townships=townships,
                values=forms.values(),
                error=message(refusal.error),
            )
        return _saved(kind, obj)
    values = {
        "code": obj.code or "",
        "name": obj.name,
        "township_id": str(getattr(obj, "township_id", "") or ""),
        "radius_m": str(getattr(obj, "radius_m", "") or ""),
        "coord_type": "gcj02",
    }
    return render("place_edit.html", kind=kind, obj=obj, townships=townships, values=values)


@console_bp.route("/places/townships/<int:township_id>", methods=["GET", "POST"])
@staff_required(*WRITE)
def township_edit(township_id: int):
    """Edit a township's code, name or centre."""
    township = places.get_township(db.session, township_id)
    return _edit_place(
        "township", township, lambda: places.update_township(db.session, g.staff, township_id, _township_data())
    )


@console_bp.route("/places/villages/<int:village_id>", methods=["GET", "POST"])
@staff_required(*WRITE)
def village_edit(village_id: int):
    """Edit a village; leaving the coordinates empty keeps its centre."""
    village = places.get_village(db.session, village_id)
    return _edit_place(
        "village",
        village,
        lambda: places.update_village(db.session, g.staff, village_id, _village_data(creating=False)),
    )


@console_bp.route("/places/sites/<int:site_id>", methods=["GET", "POST"])
@staff_required(*WRITE)
def site_edit(site_id: int):
    """Edit a unit site; leaving the coordinates empty keeps its centre."""
    site = places.get_site(db.session, site_id)
    return _edit_place(
        "site", site, lambda: places.update_site(db.session, g.staff, site_id, _site_data(creating=False))
    )
