"""The county boundary: one deployment serves a city's or a province's counties, each sees its own.

A county's staff (admin, reviewer, leader, inspector …) carry `User.county_id`. When one of them
signs in, `enter` limits the request's session to that county: every ORM query of a county-owned
model (`CountyOwned`: townships, villages, projects, visits, feedback, rounds …) gets
`county_id = :county` added, and users of other counties disappear, so an object of another
county is simply not found (the API answers 404, as for any object out of scope). The limit is
added by the session itself (`do_orm_execute`), not by each query, so a query written tomorrow is
limited too. `execution_options(all_counties=True)` lifts it for the few reads that must see
every county (the near-duplicate lookup does not need to: photo hash rows are not county-owned).

City and province accounts (staff with no county) see every county and write nothing: `refuse_writes`.
Villagers have no county either: they act on a project, whose county their writes take.

A new county-owned row takes its county, in order, from the county its write was named for
(`act_in`), from the session's county, from a parent row it points at (a visit from its assignment,
a village from its township), or from the only county when the deployment has one; otherwise the
flush fails rather than write a row of no county.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import event, inspect, or_, select
from sqlalchemy.orm import ORMExecuteState, Session, with_loader_criteria

from server.errors import ApiError
from server.models import County, CountyOwned, User

SCOPE = "county_scope"  # session.info: the county whose rows the session may see (absent: all)
ACTING = "acting_county"  # session.info: the county an unscoped caller (a villager, a job) acts in
DEPLOYMENT_CHAIN = 0  # the audit chain of city and province accounts' actions
# Roles that make an account staff rather than a villager (only staff are limited or read-only).
_NON_STAFF = {"villager"}


def is_deployment_staff(user: User | None) -> bool:
    """A city or province account: staff roles and no county (reads every county, writes nothing)."""
    return user is not None and user.county_id is None and any(r not in _NON_STAFF for r in user.roles)


def enter(session: Session, user: User) -> None:
    """Limit the session to the user's county (county staff); city and province accounts see all."""
    if user.county_id is not None:
        session.info[SCOPE] = user.county_id
    else:
        session.info.pop(SCOPE, None)


def limit(session: Session, county_id: int | None) -> None:
    """Limit the session to one county (None: lift the limit), e.g. for a job working county by county."""
    if county_id is None:
        session.info.pop(SCOPE, None)
    else:
        session.info[SCOPE] = county_id


def act_in(session: Session, county_id: int | None) -> None:
    """Name the county an unscoped caller's writes are for (its rows' default and its audit chain)."""
    session.info[ACTING] = county_id


@contextmanager
def acting_in(session: Session, county_id: int) -> Iterator[None]:
    """`act_in` for a block only (a deployment operator's action for one county, or for the deployment: 0)."""
    before = session.info.get(ACTING)
    session.info[ACTING] = county_id
    try:
        yield
    finally:
        session.info[ACTING] = before


def scope_of(session: Session) -> int | None:
    """The county the session is limited to, or None."""
    return session.info.get(SCOPE)


def county_for(session: Session, actor: User | None) -> int | None:
    """The county an action is done in: the one named for it, the session's, the actor's, or the only one."""
    for county in (session.info.get(ACTING), session.info.get(SCOPE), actor.county_id if actor is not None else None):
        if county:  # 0 names the deployment's chain, not a county
            return county
    return only_county(session)


def county_of_user(session: Session, actor: User | None) -> County | None:
    """The County row an action is done in (None for a city or province account acting unscoped)."""
    county = county_for(session, actor)
    return session.get(County, county) if county is not None else None


def chain_for(session: Session, actor: User | None) -> int:
    """The audit chain an action goes to: the county it is done in, else the deployment's chain.

    A write named for a county (`act_in`: feedback on a project) goes to that county's chain; county
    staff write to their county's; a job to the only county when there is one; city and province
    accounts and anything else to the deployment chain.
    """
    if session.info.get(ACTING) is not None:
        return session.info[ACTING]
    if session.info.get(SCOPE) is not None:
        return session.info[SCOPE]
    if actor is not None and actor.county_id is not None:
        return actor.county_id
    if is_deployment_staff(actor):
        return DEPLOYMENT_CHAIN
    only = only_county(session)
    return only if only is not None else DEPLOYMENT_CHAIN


def only_county(session: Session) -> int | None:
    """The deployment's county when it has exactly one (cached for the session), else None."""
    if "only_county" not in session.info:
        ids = session.scalars(select(County.id).order_by(County.id).limit(2)).all()
        session.info["only_county"] = ids[0] if len(ids) == 1 else None
    return session.info["only_county"]


def refuse_writes(user: User) -> None:
    """City and province accounts read every county and change nothing: 403 for any write."""
    if is_deployment_staff(user):
        raise ApiError("forbidden", "市级、省级账号只能查看各县数据,不能修改", {"reason": "read_only_account"})


def register() -> None:
    """Install the limit and the new rows' county on every session (create_app calls it; idempotent)."""
    for name, listener in (("do_orm_execute", _limit_to_county), ("before_flush", _assign_counties)):
        if not event.contains(Session, name, listener):
            event.listen(Session, name, listener)


def _limit_to_county(state: ORMExecuteState) -> None:
    county = state.session.info.get(SCOPE)
    if county is None or state.execution_options.get("all_counties"):
        return
    if state.is_column_load or state.is_relationship_load:
        return  # the options of the statement that loaded the object already carry the limit
    if not (state.is_select or state.is_update or state.is_delete):
        return
    state.statement = state.statement.options(
        with_loader_criteria(CountyOwned, lambda cls: cls.county_id == county, include_aliases=True),
        # Staff of the county and accounts of no county (villagers, city and province leaders).
        with_loader_criteria(
            User, lambda cls: or_(cls.county_id == county, cls.county_id.is_(None)), include_aliases=True
        ),
    )


def _assign_counties(session: Session, _context, _instances) -> None:
    with session.no_autoflush:
        for obj in list(session.new):
            if isinstance(obj, CountyOwned) and obj.county_id is None:
                obj.county_id = _county_of_new(session, obj)
            elif isinstance(obj, User) and obj.county_id is None and _county_staff(obj):
                obj.county_id = session.info.get(SCOPE) or only_county(session)


def _county_staff(user: User) -> bool:
    """A new account that belongs to a county: staff roles, not made a city or province account on purpose."""
    return not getattr(user, "deployment_wide", False) and any(r.role not in _NON_STAFF for r in user.role_rows)


def _county_of_new(session: Session, obj: Any) -> int:
    """The county a new row belongs to (see the module docstring for the order).

    A limited session names it without a query: its staff cannot see another county's parent rows,
    and the one write that reaches across (feedback on any county's project) names its county (act_in).
    """
    county = session.info.get(ACTING) or session.info.get(SCOPE) or _parent_county(session, obj) or only_county(session)
    if county is None:
        raise RuntimeError(f"a new {type(obj).__name__} has no county: name one with tenancy.act_in")
    return county


def _parent_county(session: Session, obj: Any, depth: int = 0) -> int | None:
    """The county of a county-owned row the new one points at, by relationship or foreign key."""
    if depth > 4:
        return None
    mapper = inspect(obj).mapper
    for rel in mapper.relationships:
        if rel.direction.name != "MANYTOONE" or not issubclass(rel.mapper.class_, CountyOwned):
            continue
        parent = obj.__dict__.get(rel.key)  # only what is already in memory: no lazy load here
        if parent is not None:
            county = parent.county_id or _parent_county(session, parent, depth + 1)
            if county:
                return county
    for column in mapper.local_table.columns:
        for fk in column.foreign_keys:
            target = _owned_class(fk.column.table)
            if target is None or column.key == "county_id":
                continue
            value = getattr(obj, mapper.get_property_by_column(column).key, None)
            if value is not None:
                county = session.scalar(
                    select(target.county_id).where(fk.column == value).execution_options(all_counties=True)
                )
                if county:
                    return county
    return None


_OWNED_BY_TABLE: dict[Any, type | None] = {}


def _owned_class(table) -> type | None:
    """The county-owned model mapped to a table, or None."""
    if table not in _OWNED_BY_TABLE:
        from server.models import Base

        found = None
        for mapper in Base.registry.mappers:
            if mapper.local_table is table and issubclass(mapper.class_, CountyOwned):
                found = mapper.class_
        _OWNED_BY_TABLE[table] = found
    return _OWNED_BY_TABLE[table]
