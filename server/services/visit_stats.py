"""Monthly visit, photo and flag counts, kept current inside every write transaction.

The console of a county with a million visits cannot count five million photo rows (the
dashboard) or a million visits (the visit list's total and flag counts) per page view. Two
small tables hold the counts instead:

- `visit_month_stats`: visits, ready photos and flagged photos per China calendar month,
  township, village and visit status (the dashboard, which needs villages for coverage);
- `visit_list_counts`: visits per month, township and status, in all (flag "") and per
  integrity flag (the visit list).

Every flush that adds, changes or deletes a visit or a visit photo adds its difference in the
same transaction (`before_flush`, a listener on every Session that `server.app.register_listeners`
installs), and `flag_visit` adds the flags it inserts (and
`unflag_visit` removes those it deletes), so the counts commit or roll back with the rows they
count. Differences are applied as
`count = count + delta` upserts, which stay right when two transactions write the same row at
once (the second waits for the first's row lock); a recount inside a transaction would not.

`rebuild()` recomputes both tables from the rows (used by the migration that created them,
by bulk loaders that bypass the ORM, and by `flask --app server rebuild-stats`); `drift()`
compares kept and fresh counts and is checked after every test of the suite.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import (
    Integer,
    String,
    case,
    cast,
    delete,
    func,
    insert,
    literal,
    select,
    text,
)
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.dialects import mysql, sqlite
from sqlalchemy.orm import Session
from sqlalchemy.orm.util import identity_key

from server.clock import CHINA
from server.models import Photo, Visit, VisitFlag, VisitListCount, VisitMonthStat

MonthKey = tuple[int, int, int, str]  # (yyyymm, township_id or 0, village_id or 0, visit status)
ListKey = tuple[int, int, str, str]  # (yyyymm, township_id or 0, visit status, flag or "")
MONTH_COUNTS = ("visits", "photos", "flagged_photos")
ALL_VISITS = ""  # the flag value of visit_list_counts rows that count every visit


def has_flags(column) -> Any:
    """SQL condition: a JSON flag list column holds at least one flag (SQLite and MariaDB alike)."""
    return func.coalesce(cast(column, String), "[]").not_in(("[]", "null"))


def month_key(moment: datetime) -> int:
    """The China calendar month of a moment as the yyyymm the count tables are keyed by."""
    local = (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).astimezone(CHINA)
    return local.year * 100 + local.month


def month_key_of_day(day: date) -> int:
    """The yyyymm of a calendar day."""
    return day.year * 100 + day.month


def month_range(year: int) -> tuple[int, int]:
    """The first and last yyyymm of a year."""
    return year * 100 + 1, year * 100 + 12


# ---- keeping the counts current ----------------------------------------------------------


class _Deltas:
    """The differences one flush makes to both tables."""

    def __init__(self) -> None:
        self.month: dict[MonthKey, list[int]] = defaultdict(lambda: [0, 0, 0])
        self.list: dict[ListKey, int] = defaultdict(int)

    def visit(
        self, place: tuple[int, int, int, str] | None, sign: int, photos: tuple[int, int], flags: list[str]
    ) -> None:
        """Add (sign 1) or remove (-1) a visit with its photos and flags at a place."""
        if place is None:
            return
        self.photos(place, sign, 1, *photos)
        month, township, _village, status = place
        for flag in (ALL_VISITS, *flags):
            self.list[(month, township, status, flag)] += sign

    def photos(
        self, place: tuple[int, int, int, str] | None, sign: int, visits: int, photos: int, flagged: int
    ) -> None:
        if place is None or not (visits or photos or flagged):
            return
        d = self.month[place]
        d[0] += sign * visits
        d[1] += sign * photos
        d[2] += sign * flagged

    def apply(self, session: Session) -> None:
        # Always in key order: two transactions touching the same rows lock them in one order.
        months = [
            dict(zip(("month", "township_id", "village_id", "status"), k, strict=True))
            | dict(zip(MONTH_COUNTS, d, strict=True))
            for k, d in sorted(self.month.items())
            if any(d)
        ]
        lists = [
            dict(zip(("month", "township_id", "status", "flag"), k, strict=True)) | {"visits": n}
            for k, n in sorted(self.list.items())
            if n
        ]
        if months:
            _upsert(session, VisitMonthStat, months)
        if lists:
            _upsert(session, VisitListCount, lists)


def _upsert(session: Session, model: type, rows: list[dict[str, Any]]) -> None:
    """Add each row's counts to the stored row with its key (inserting it when missing)."""
    table = model.__table__
    counts = [c.name for c in table.columns if not c.primary_key]
    dialect = session.get_bind().dialect.name
    if dialect == "mysql":
        stmt = mysql.insert(table)
        stmt = stmt.on_duplicate_key_update({c: table.c[c] + stmt.inserted[c] for c in counts})
    elif dialect == "sqlite":
        stmt = sqlite.insert(table)
        stmt = stmt.on_conflict_do_update(
            index_elements=[c.name for c in table.primary_key], set_={c: table.c[c] + stmt.excluded[c] for c in counts}
        )
    else:  # pragma: no cover - only SQLite and MySQL/MariaDB are supported
        raise RuntimeError(f"{table.name} has no upsert for {dialect}")
    session.connection().execute(stmt, rows)


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


def _place(
    started_at: datetime | None, township_id: int | None, village_id: int | None, status: str | None
) -> tuple[int, int, int, str] | None:
    if started_at is None or status is None:
        return None
    return month_key(started_at), township_id or 0, village_id or 0, status


def _new_place(v: Visit) -> tuple[int, int, int, str] | None:
    return _place(v.started_at, v.township_id, v.village_id, _now(v, "status"))


def _old_place(v: Visit) -> tuple[int, int, int, str] | None:
    return _place(*(_old(v, a) for a in ("started_at", "township_id", "village_id", "status")))


def _photo_counts(owner_kind: str | None, status: str | None, flags: Any) -> tuple[int, int]:
    """(photos, flagged) a photo in this state contributes to its visit's counts."""
    if owner_kind != "visit" or status != "ready":
        return 0, 0
    return 1, 1 if flags else 0


def _stored(session: Session, visit_id: int) -> tuple[tuple[int, int], list[str]]:
    """The visit's ready photos (count, flagged) and flags as stored before this flush."""
    n, bad = session.execute(
        select(func.count(Photo.id), func.sum(case((has_flags(Photo.flags), 1), else_=0))).where(
            Photo.visit_id == visit_id, Photo.owner_kind == "visit", Photo.status == "ready"
        )
    ).one()
    flags = list(session.scalars(select(VisitFlag.flag).where(VisitFlag.visit_id == visit_id)))
    return (int(n or 0), int(bad or 0)), flags


def _collect(session: Session) -> _Deltas:
    deltas = _Deltas()

    places: dict[int, tuple[int, int, int, str] | None] = {}

    def place_of(visit_id: int | None) -> tuple[int, int, int, str] | None:
        if visit_id is None:
            return None
        visit = session.identity_map.get(identity_key(Visit, visit_id))
        if visit is not None:  # with this flush's changes
            return _new_place(visit)
        if visit_id not in places:
            # Four columns, not the visit with its assignment, project and team: every photo
            # completion passes here.
            row = session.execute(
                select(Visit.started_at, Visit.township_id, Visit.village_id, Visit.status).where(Visit.id == visit_id)
            ).first()
            places[visit_id] = _place(*row) if row is not None else None
        return places[visit_id]

    # Visits first: a visit that changes place takes its stored photos and flags along, so
    # that the photo differences below all apply to where the visit is after this flush.
    for v in session.new:
        if isinstance(v, Visit):
            deltas.visit(_new_place(v), 1, (0, 0), [])
    for v in session.dirty:
        if isinstance(v, Visit) and session.is_modified(v):
            old, new = _old_place(v), _new_place(v)
            if old != new:
                photos, flags = _stored(session, v.id)
                deltas.visit(old, -1, photos, flags)
                deltas.visit(new, 1, photos, flags)
    for v in session.deleted:
        if isinstance(v, Visit):
            photos, flags = _stored(session, v.id)
            deltas.visit(_old_place(v), -1, photos, flags)

    for p in session.new:
        if isinstance(p, Photo):
            deltas.photos(place_of(p.visit_id), 1, 0, *_photo_counts(p.owner_kind, _now(p, "status"), p.flags))
    for p in session.dirty:
        if isinstance(p, Photo) and session.is_modified(p):
            was = _photo_counts(_old(p, "owner_kind"), _old(p, "status"), _old(p, "flags"))
            now = _photo_counts(p.owner_kind, p.status, p.flags)
            if was != now or _old(p, "visit_id") != p.visit_id:
                deltas.photos(place_of(_old(p, "visit_id")), -1, 0, *was)
                deltas.photos(place_of(p.visit_id), 1, 0, *now)
    for p in session.deleted:
        if isinstance(p, Photo):
            deltas.photos(
                place_of(_old(p, "visit_id")),
                -1,
                0,
                *_photo_counts(_old(p, "owner_kind"), _old(p, "status"), _old(p, "flags")),
            )
    return deltas


def before_flush(session: Session, _flush_context, _instances) -> None:
    """Session listener (server.app.register_listeners): add this flush's differences to the counts."""
    if not any(isinstance(o, (Visit, Photo)) for o in (*session.new, *session.dirty, *session.deleted)):
        return
    with session.no_autoflush:
        deltas = _collect(session)
    deltas.apply(session)


def count_new_flags(session: Session, visit: Visit, flags: list[str], *, sign: int = 1) -> None:
    """Count flags just inserted on a stored visit (visit_flags is written without the ORM);
    sign -1 uncounts flags just deleted. The visit's own changes must be flushed already."""
    deltas = _Deltas()
    month, township, _village, status = _new_place(visit)
    for flag in flags:
        deltas.list[(month, township, status, flag)] += sign
    deltas.apply(session)


# ---- recounting --------------------------------------------------------------------------


def _month_sql(session: Session, column) -> Any:
    """SQL for the China calendar month (yyyymm) of a stored naive-UTC datetime column."""
    if session.get_bind().dialect.name == "mysql":
        return cast(func.date_format(func.date_add(column, text("INTERVAL 8 HOUR")), "%Y%m"), Integer)
    return cast(func.strftime("%Y%m", column, "+8 hours"), Integer)


def recount_months(session: Session):
    """A select of every visit_month_stats row as counted from the visits and photos."""
    photos = (
        select(
            Photo.visit_id.label("visit_id"),
            func.count(Photo.id).label("n"),
            func.sum(case((has_flags(Photo.flags), 1), else_=0)).label("bad"),
        )
        .where(Photo.owner_kind == "visit", Photo.status == "ready", Photo.visit_id.is_not(None))
        .group_by(Photo.visit_id)
        .subquery()
    )
    month = _month_sql(session, Visit.started_at).label("month")
    township = func.coalesce(Visit.township_id, 0).label("township_id")
    village = func.coalesce(Visit.village_id, 0).label("village_id")
    return (
        select(
            month,
            township,
            village,
            Visit.status.label("status"),
            func.count(Visit.id).label("visits"),
            func.coalesce(func.sum(photos.c.n), 0).label("photos"),
            func.coalesce(func.sum(photos.c.bad), 0).label("flagged_photos"),
        )
        .outerjoin(photos, photos.c.visit_id == Visit.id)
        .group_by(month, township, village, Visit.status)
    )


def recount_lists(session: Session):
    """A select of every visit_list_counts row as counted from the visits and their flags."""
    month = _month_sql(session, Visit.started_at).label("month")
    township = func.coalesce(Visit.township_id, 0).label("township_id")
    every = select(
        month,
        township,
        Visit.status.label("status"),
        literal(ALL_VISITS).label("flag"),
        func.count(Visit.id).label("visits"),
    ).group_by(month, township, Visit.status)
    flagged = (
        select(
            month,
            township,
            Visit.status.label("status"),
            VisitFlag.flag.label("flag"),
            func.count(Visit.id).label("visits"),
        )
        .join(VisitFlag, VisitFlag.visit_id == Visit.id)
        .group_by(month, township, Visit.status, VisitFlag.flag)
    )
    return every.union_all(flagged)


def rebuild(session: Session) -> int:
    """Replace both tables with a fresh count; returns the number of rows written."""
    session.execute(delete(VisitMonthStat))
    session.execute(delete(VisitListCount))
    session.execute(
        insert(VisitMonthStat).from_select(
            ["month", "township_id", "village_id", "status", *MONTH_COUNTS], recount_months(session)
        )
    )
    session.execute(
        insert(VisitListCount).from_select(["month", "township_id", "status", "flag", "visits"], recount_lists(session))
    )
    return sum(session.scalar(select(func.count()).select_from(m)) or 0 for m in (VisitMonthStat, VisitListCount))


def drift(session: Session) -> dict[tuple, tuple]:
    """Rows where the kept counts differ from a fresh count: (table, key) -> (kept, counted)."""
    out: dict[tuple, tuple] = {}
    for model, recount, width in ((VisitMonthStat, recount_months, 3), (VisitListCount, recount_lists, 1)):
        pk = [c.name for c in model.__table__.primary_key]
        counts = [c.name for c in model.__table__.columns if not c.primary_key]
        kept = {
            tuple(r[: len(pk)]): tuple(r[len(pk) :])
            for r in session.execute(select(*(model.__table__.c[c] for c in (*pk, *counts))))
        }
        counted = {
            (int(r[0]), *r[1 : len(pk)]): tuple(int(x) for x in r[len(pk) :]) for r in session.execute(recount(session))
        }
        zero = (0,) * width
        for k in kept.keys() | counted.keys():
            if kept.get(k, zero) != counted.get(k, zero):
                out[(model.__tablename__, *k)] = (kept.get(k, zero), counted.get(k, zero))
    return out


# ---- reading the list's counts -----------------------------------------------------------


def _last_day(day: date) -> date:
    nxt = date(day.year + day.month // 12, day.month % 12 + 1, 1)
    return date.fromordinal(nxt.toordinal() - 1)


def _shift(month: int, by: int) -> int:
    """The yyyymm `by` months after (or before) another."""
    n = (month // 100) * 12 + month % 100 - 1 + by
    return (n // 12) * 100 + n % 12 + 1


def split_by_month(
    date_from: date | None, date_to: date | None
) -> tuple[tuple[int | None, int | None] | None, list[tuple[date, date]]]:
    """The whole months inside [date_from, date_to] as (first, last) yyyymm (None: open-ended),
    or None when there are none, and the day ranges of the partial months left over."""
    if date_from is not None and date_to is not None and date_from > date_to:
        return None, []
    partial: list[tuple[date, date]] = []
    lo = hi = None
    if date_from is not None:
        end = _last_day(date_from)
        if date_from.day == 1 and (date_to is None or date_to >= end):
            lo = month_key_of_day(date_from)
        else:
            partial.append((date_from, end if date_to is None or date_to > end else date_to))
            if date_to is not None and date_to <= end:
                return None, partial
            lo = _shift(month_key_of_day(end), 1)
    if date_to is not None:
        if date_to == _last_day(date_to):
            hi = month_key_of_day(date_to)
        else:
            partial.append((date_to.replace(day=1), date_to))
            hi = _shift(month_key_of_day(date_to), -1)
    whole = (lo, hi) if lo is None or hi is None or lo <= hi else None
    return whole, partial


def list_counts(
    session: Session,
    where: list,
    months: tuple[int | None, int | None],
    *,
    flag: str | None = None,
    by_flag: bool = False,
) -> int | dict[str, int]:
    """Visits in whole months from visit_list_counts: in all or with one flag, or per flag."""
    lo, hi = months
    conditions = list(where)
    if lo is not None:
        conditions.append(VisitListCount.month >= lo)
    if hi is not None:
        conditions.append(VisitListCount.month <= hi)
    if by_flag:
        stmt = (
            select(VisitListCount.flag, func.sum(VisitListCount.visits))
            .where(VisitListCount.flag != ALL_VISITS, *conditions)
            .group_by(VisitListCount.flag)
        )
        return {f: int(n) for f, n in session.execute(stmt) if n}
    return int(
        session.scalar(
            select(func.sum(VisitListCount.visits)).where(VisitListCount.flag == (flag or ALL_VISITS), *conditions)
        )
        or 0
    )
