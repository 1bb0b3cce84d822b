"""Small helpers shared by the services: lookups that 404, pagination, coordinate input."""

from __future__ import annotations

from typing import Any, Generic, NamedTuple, TypeVar

from sqlalchemy import Select, func, or_, select
from sqlalchemy.dialects import mysql, sqlite
from sqlalchemy.orm import Session

from server import geo
from server.errors import ApiError
from server.models import RowClaim

T = TypeVar("T")


def get_or_404(session: Session, model: type[T], object_id: Any, what: str = "记录") -> T:
    """The row with this primary key, or ApiError(not_found)."""
    obj = session.get(model, object_id) if isinstance(object_id, int) else None
    if obj is None:
        raise ApiError("not_found", f"找不到该{what}", {"id": object_id})
    return obj


def for_update(stmt: Select) -> Select:
    """`stmt` locking its rows, with the rows re-read even when the session already holds them.

    Sessions keep objects across commits (expire_on_commit=False): without populate_existing,
    a row locked after another transaction changed it would still show the old values.
    """
    return stmt.with_for_update().execution_options(populate_existing=True)


def claim(session: Session, kind: str, object_id: Any) -> None:
    """Write the claim row of one object in the current transaction, before reading what to decide on.

    A Galera cluster does not replicate FOR UPDATE locks: two nodes would both read the same state
    and both act on it. A written row is in the transaction's write set, so of two claims of one
    object on two nodes the later transaction fails with 1213 (retried by the API), whichever way
    they overlap (server/models/claims.py, docs/galera.md). One node alone: the row lock is a wait.
    """
    table = RowClaim.__table__
    values = {"name": f"{kind}:{object_id}", "claims": 1}
    bumped = {"claims": table.c.claims + 1}
    if session.get_bind().dialect.name == "mysql":
        stmt = mysql.insert(table).values(values).on_duplicate_key_update(**bumped)
    else:
        stmt = sqlite.insert(table).values(values).on_conflict_do_update(index_elements=["name"], set_=bumped)
    session.execute(stmt)


class Page(NamedTuple, Generic[T]):
    """Rows of a list (one page of it, or all of it) and how many the whole list holds."""

    items: list[T]
    total: int


def paginate(session: Session, stmt: Select, page: int = 1, per_page: int | None = None) -> Page:
    """One page of a select and the total row count; every row when `per_page` is None."""
    if per_page is None:
        rows = list(session.scalars(stmt).unique().all())
        return Page(rows, len(rows))
    total = session.scalar(select(func.count()).select_from(stmt.order_by(None).subquery()))
    rows = session.scalars(stmt.limit(per_page).offset((page - 1) * per_page)).unique().all()
    return Page(list(rows), int(total or 0))


def search(stmt: Select, q: str | None, *columns) -> Select:
    """`stmt` narrowed to rows where any of `columns` contains `q` (when given).

    autoescape: a % or _ typed into a search box is a character, not a wildcard.
    """
    if q:
        stmt = stmt.where(or_(*(c.contains(q, autoescape=True) for c in columns)))
    return stmt


def wgs84_point(data: dict[str, Any]) -> tuple[float, float]:
    """The (lat, lng) of a request body in WGS-84, converting from its coord_type."""
    try:
        lat, lng = geo.validate_point(data.get("lat"), data.get("lng"))
        return geo.to_wgs84(lat, lng, data.get("coord_type", "wgs84"))
    except geo.InvalidCoordinate as exc:
        raise ApiError("invalid_coordinate", exc.message, {"field": exc.field}) from None


def boundary_or_none(value: Any) -> dict | None:
    """A validated GeoJSON Polygon (WGS-84), or None when absent."""
    if value is None:
        return None
    try:
        return geo.validate_polygon(value)
    except geo.InvalidCoordinate as exc:
        raise ApiError("invalid_coordinate", exc.message, {"field": "boundary"}) from None


def require_unique(
    session: Session,
    model: type,
    column,
    value: Any,
    field: str,
    exclude_id: int | None = None,
    *,
    per_county: bool = False,
) -> None:
    """ApiError(conflict) when another row already holds `value` in `column`.

    Codes and usernames are unique in the whole deployment, so other counties' rows count too;
    `per_county` names (a reporting unit's, a team's) are unique within the caller's county.
    """
    stmt = select(model.id).where(column == value).execution_options(all_counties=not per_county)
    if exclude_id is not None:
        stmt = stmt.where(model.id != exclude_id)
    if session.scalar(stmt) is not None:
        raise ApiError("conflict", f"{field} 已存在:{value}", {"field": field, "value": value})
