"""Monthly visit and photo counts per village, kept current inside every write transaction.

The dashboard of a county with a million visits cannot count five million photo rows per
page view. Instead every flush that adds, changes or deletes a visit or a visit photo adds
its difference to `visit_month_stats` (one row per China calendar month, township, village
and visit status) in the same transaction, so the counts commit or roll back with the rows
they count. Differences are applied as `count = count + delta` upserts, which stay right
when two transactions write the same row at once (the second waits for the first's row
lock); a recount from scratch inside a transaction would not.

A visit counts once under its status; a photo counts when it is a ready visit photo, and as
flagged when its flag list is not empty. `rebuild()` recomputes the whole table from the rows
(used by the migration that created it, by bulk loaders that bypass the ORM, and by
`flask --app server rebuild-stats`); `drift()` compares the two and is checked after every
test of the suite.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Integer, String, case, cast, delete, event, func, insert, select, text
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.dialects import mysql, sqlite
from sqlalchemy.orm import Session

from server.models import Photo, Visit, VisitMonthStat
from server.services.review import CHINA

Key = tuple[int, int, int, str]  # (month yyyymm, township_id or 0, village_id or 0, visit status)
COUNTS = ("visits", "photos", "flagged_photos")


def has_flags(column) -> Any:
    """SQL condition: a JSON flag list column holds at least one flag (SQLite and MariaDB alike)."""
    return func.coalesce(cast(column, String), "[]").not_in(("[]", "null"))


def month_of(moment: datetime) -> int:
    """The China calendar month of a moment, as yyyymm."""
    local = (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).astimezone(CHINA)
    return local.year * 100 + local.month


def month_range(year: int) -> tuple[int, int]:
    """The first and last yyyymm of a year."""
    return year * 100 + 1, year * 100 + 12


# ---- keeping the counts current ----------------------------------------------------------

def _old(obj: Any, attr: str) -> Any:
    """The value an attribute had when loaded (active_history makes it available)."""
    hist = sa_inspect(obj).attrs[attr].history
    if hist.deleted:
        return hist.deleted[0]
    if hist.unchanged:
        return hist.unchanged[0]
    return getattr(obj, attr)  # not changed in this flush


def _now(obj: Any, attr: str) -> Any:
    """The value an attribute will be written with (a column default fills in a None)."""
    value = getattr(obj, attr)
    if value is None:
        default = sa_inspect(type(obj)).columns[attr].default
        if default is not None and default.is_scalar:
            return default.arg
    return value


def _visit_key(started_at: datetime | None, township_id: int | None, village_id: int | None,
               status: str | None) -> Key | None:
    if started_at is None or status is None:
        return None
    return month_of(started_at), township_id or 0, village_id or 0, status


def _new_visit_key(v: Visit) -> Key | None:
    return _visit_key(v.started_at, v.township_id, v.village_id, _now(v, "status"))


def _old_visit_key(v: Visit) -> Key | None:
    return _visit_key(*(_old(v, a) for a in ("started_at", "township_id", "village_id", "status")))


def _photo_counts(owner_kind: str | None, status: str | None, flags: Any) -> tuple[int, int]:
    """(photos, flagged) a photo in this state contributes to its visit's bucket."""
    if owner_kind != "visit" or status != "ready":
        return 0, 0
    return 1, 1 if flags else 0


def _stored_photo_counts(session: Session, visit_id: int) -> tuple[int, int]:
    """The visit's ready photos as the database has them before this flush."""
    n, bad = session.execute(
        select(func.count(Photo.id), func.sum(case((has_flags(Photo.flags), 1), else_=0)))
        .where(Photo.visit_id == visit_id, Photo.owner_kind == "visit", Photo.status == "ready")
    ).one()
    return int(n or 0), int(bad or 0)


def _collect(session: Session) -> dict[Key, list[int]]:
    deltas: dict[Key, list[int]] = defaultdict(lambda: [0, 0, 0])

    def add(key: Key | None, visits: int, photos: int, flagged: int) -> None:
        if key is not None and (visits or photos or flagged):
            d = deltas[key]
            d[0] += visits
            d[1] += photos
            d[2] += flagged

    def visit_of(photo: Photo, visit_id: int | None) -> Visit | None:
        return session.get(Visit, visit_id) if visit_id is not None else None

    # Visits first: a visit that changes bucket takes its stored photos along, so that the
    # photo differences below all apply to the bucket the visit is in after this flush.
    for v in session.new:
        if isinstance(v, Visit):
            add(_new_visit_key(v), 1, 0, 0)
    for v in session.dirty:
        if isinstance(v, Visit) and session.is_modified(v):
            old, new = _old_visit_key(v), _new_visit_key(v)
            if old != new:
                photos, flagged = _stored_photo_counts(session, v.id)
                add(old, -1, -photos, -flagged)
                add(new, 1, photos, flagged)
    for v in session.deleted:
        if isinstance(v, Visit):
            photos, flagged = _stored_photo_counts(session, v.id)
            add(_old_visit_key(v), -1, -photos, -flagged)

    for p in session.new:
        if isinstance(p, Photo):
            photos, flagged = _photo_counts(p.owner_kind, _now(p, "status"), p.flags)
            if photos and (visit := visit_of(p, p.visit_id)) is not None:
                add(_new_visit_key(visit), 0, photos, flagged)
    for p in session.dirty:
        if isinstance(p, Photo) and session.is_modified(p):
            was = _photo_counts(_old(p, "owner_kind"), _old(p, "status"), _old(p, "flags"))
            now = _photo_counts(p.owner_kind, p.status, p.flags)
            if was != now or _old(p, "visit_id") != p.visit_id:
                if was[0] and (visit := visit_of(p, _old(p, "visit_id"))) is not None:
                    add(_new_visit_key(visit), 0, -was[0], -was[1])
                if now[0] and (visit := visit_of(p, p.visit_id)) is not None:
                    add(_new_visit_key(visit), 0, now[0], now[1])
    for p in session.deleted:
        if isinstance(p, Photo):
            was = _photo_counts(_old(p, "owner_kind"), _old(p, "status"), _old(p, "flags"))
            if was[0] and (visit := visit_of(p, _old(p, "visit_id"))) is not None:
                add(_new_visit_key(visit), 0, -was[0], -was[1])
    return {k: d for k, d in deltas.items() if any(d)}


def _upsert(session: Session, rows: list[dict[str, Any]]) -> None:
    table = VisitMonthStat.__table__
    dialect = session.get_bind().dialect.name
    if dialect == "mysql":
        stmt = mysql.insert(table)
        stmt = stmt.on_duplicate_key_update({c: table.c[c] + stmt.inserted[c] for c in COUNTS})
    elif dialect == "sqlite":
        stmt = sqlite.insert(table)
        stmt = stmt.on_conflict_do_update(index_elements=["month", "township_id", "village_id", "status"],
                                          set_={c: table.c[c] + stmt.excluded[c] for c in COUNTS})
    else:  # pragma: no cover - only SQLite and MySQL/MariaDB are supported
        raise RuntimeError(f"visit_month_stats has no upsert for {dialect}")
    session.connection().execute(stmt, rows)


@event.listens_for(Session, "before_flush")
def _before_flush(session: Session, _flush_context, _instances) -> None:
    if not any(isinstance(o, (Visit, Photo)) for o in (*session.new, *session.dirty, *session.deleted)):
        return
    with session.no_autoflush:
        deltas = _collect(session)
    if deltas:
        # Always in key order: two transactions touching the same rows lock them in one order.
        _upsert(session, [dict(zip(("month", "township_id", "village_id", "status"), k, strict=True))
                          | dict(zip(COUNTS, d, strict=True)) for k, d in sorted(deltas.items())])


# ---- recounting --------------------------------------------------------------------------

def _month_sql(session: Session, column) -> Any:
    """SQL for the China calendar month (yyyymm) of a stored naive-UTC datetime column."""
    if session.get_bind().dialect.name == "mysql":
        return cast(func.date_format(func.date_add(column, text("INTERVAL 8 HOUR")), "%Y%m"), Integer)
    return cast(func.strftime("%Y%m", column, "+8 hours"), Integer)


def recount(session: Session) -> select:
    """A select of every stats row as counted from the visits and photos tables."""
    photos = (select(Photo.visit_id.label("visit_id"), func.count(Photo.id).label("n"),
                     func.sum(case((has_flags(Photo.flags), 1), else_=0)).label("bad"))
              .where(Photo.owner_kind == "visit", Photo.status == "ready", Photo.visit_id.is_not(None))
              .group_by(Photo.visit_id).subquery())
    month = _month_sql(session, Visit.started_at).label("month")
    township = func.coalesce(Visit.township_id, 0).label("township_id")
    village = func.coalesce(Visit.village_id, 0).label("village_id")
    return (select(month, township, village, Visit.status.label("status"),
                   func.count(Visit.id).label("visits"),
                   func.coalesce(func.sum(photos.c.n), 0).label("photos"),
                   func.coalesce(func.sum(photos.c.bad), 0).label("flagged_photos"))
            .outerjoin(photos, photos.c.visit_id == Visit.id)
            .group_by(month, township, village, Visit.status))


def rebuild(session: Session) -> int:
    """Replace the whole table with a fresh count; returns the number of rows written."""
    session.execute(delete(VisitMonthStat))
    stmt = recount(session)
    session.execute(insert(VisitMonthStat).from_select(
        ["month", "township_id", "village_id", "status", *COUNTS], stmt))
    return session.scalar(select(func.count()).select_from(VisitMonthStat)) or 0


def drift(session: Session) -> dict[Key, tuple[tuple[int, ...], tuple[int, ...]]]:
    """Rows where the kept counts differ from a fresh count: key -> (kept, counted)."""
    kept = {(r.month, r.township_id, r.village_id, r.status): (r.visits, r.photos, r.flagged_photos)
            for r in session.scalars(select(VisitMonthStat))}
    counted = {(int(r.month), r.township_id, r.village_id, r.status):
               (int(r.visits), int(r.photos), int(r.flagged_photos)) for r in session.execute(recount(session))}
    zero = (0, 0, 0)
    return {k: (kept.get(k, zero), counted.get(k, zero))
            for k in kept.keys() | counted.keys() if kept.get(k, zero) != counted.get(k, zero)}
