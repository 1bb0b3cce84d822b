"""Rate limits that hold across worker processes and app nodes: sliding windows in the database."""

from __future__ import annotations

import math
from datetime import timedelta

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from server import tenancy
from server.errors import ApiError
from server.models import AuditHead, RateEvent, utcnow
from server.services import audit

HOUR, DAY = 3600, 86400


def parse_limits(text: str) -> list[tuple[int, int]]:
    """'5/hour,20/day' → [(5, 3600), (20, 86400)]."""
    units = {"minute": 60, "hour": HOUR, "day": DAY}
    out = []
    for part in filter(None, (p.strip() for p in text.split(","))):
        count, _, unit = part.partition("/")
        out.append((int(count), units[unit.strip()]))
    return out


def hit(session: Session, keys: list[str], limits: list[tuple[int, int]], message: str | None = None) -> None:
    """Count one action for every key, or raise ApiError(rate_limited) with Retry-After.

    Runs inside the caller's transaction, so a refused or failed action counts nothing; the
    caller's commit ends the lock that makes counting and inserting atomic across workers.
    """
    # Count and insert under the audit chain's head lock, which every audited write takes anyway:
    # on MariaDB (READ COMMITTED) two transactions would otherwise both count four of five and
    # both pass. SQLite's BEGIN IMMEDIATE already serializes writers.
    # The lock is taken by writing the row (and writing it back), not by SELECT … FOR UPDATE: on a
    # Galera cluster a read lock stays on its own node, so two nodes would both count and both
    # pass; a written row is in the transaction's write set, and Galera aborts the later of two
    # such transactions with 1213 at commit, which the API runs again (server/api/__init__.py).
    # The head is the chain of the county the action is in: counties never wait on each other.
    chain = tenancy.chain_for(session, None)
    head = AuditHead.__table__
    if session.execute(update(head).where(head.c.chain == chain).values(seq=head.c.seq + 1)).rowcount == 0:
        audit.lock_head(session, chain)  # the chain's first action: make its head, then lock it
        session.execute(update(head).where(head.c.chain == chain).values(seq=head.c.seq + 1))
    session.execute(update(head).where(head.c.chain == chain).values(seq=head.c.seq - 1))
    now = utcnow()
    longest = max(window for _, window in limits)
    for key in keys:
        for limit, window in limits:
            since = now - timedelta(seconds=window)
            count, oldest = session.execute(
                select(func.count(RateEvent.id), func.min(RateEvent.at)).where(
                    RateEvent.key == key, RateEvent.at > since
                )
            ).one()
            if count >= limit:
                retry = max(1, math.ceil((oldest + timedelta(seconds=window) - now).total_seconds()))
                raise ApiError(
                    "rate_limited",
                    message,
                    {"retry_after": retry, "limit": limit, "window_s": window},
                    headers={"Retry-After": str(retry)},
                )
    for key in keys:
        # Forget what no window can see any more, so the table stays small.
        session.execute(delete(RateEvent).where(RateEvent.key == key, RateEvent.at < now - timedelta(seconds=longest)))
        session.add(RateEvent(key=key, at=now))


def blocked(session: Session, keys: list[str], limits: list[tuple[int, int]]) -> int | None:
    """Seconds until an action is allowed again, or None when no key is over its limit (counts nothing)."""
    now = utcnow()
    worst = None
    for key in keys:
        for limit, window in limits:
            count, oldest = session.execute(
                select(func.count(RateEvent.id), func.min(RateEvent.at)).where(
                    RateEvent.key == key, RateEvent.at > now - timedelta(seconds=window)
                )
            ).one()
            if count >= limit:
                retry = max(1, math.ceil((oldest + timedelta(seconds=window) - now).total_seconds()))
                worst = max(worst or 0, retry)
    return worst


def record(session: Session, keys: list[str], limits: list[tuple[int, int]]) -> None:
    """Count one event for every key without checking (e.g. a failed login), in the caller's transaction."""
    now = utcnow()
    longest = max(window for _, window in limits)
    for key in keys:
        session.execute(delete(RateEvent).where(RateEvent.key == key, RateEvent.at < now - timedelta(seconds=longest)))
        session.add(RateEvent(key=key, at=now))


def backoff(session: Session, key: str, window: int, free: int, cap: int) -> int | None:
    """Seconds to wait under a growing delay, or None: after `free` events in `window` seconds
    each further one doubles the pause after the latest event (1 s, 2 s, 4 s, … at most `cap`)."""
    now = utcnow()
    count, latest = session.execute(
        select(func.count(RateEvent.id), func.max(RateEvent.at)).where(
            RateEvent.key == key, RateEvent.at > now - timedelta(seconds=window)
        )
    ).one()
    if count < free:
        return None
    pause = min(2 ** (count - free), cap)
    wait = math.ceil((latest + timedelta(seconds=pause) - now).total_seconds())
    return wait if wait > 0 else None
