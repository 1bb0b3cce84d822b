"""Leases of jobs every node runs on a timer (the daily reminders): one run at a time, cluster-wide.

A reminder is sent before its row says so, so two runs at once would both send it. On one
database the row lock made the second run wait and find it sent; on a Galera cluster the lock
stays on its node. A run therefore first takes its job's lease, a row it writes and commits:
of two runs starting together on two nodes one commit is refused (1213), and a run starting
while another holds the lease finds it held. A lease left by a run that died ends by itself.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from functools import wraps

from sqlalchemy import select
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from server.models import RowClaim, utcnow
from server.services.common import claim, for_update

log = logging.getLogger(__name__)

# ER_LOCK_DEADLOCK: what Galera answers the later of two conflicting commits (and a deadlock on one node).
_CONFLICT = 1213
# The reminder units' TimeoutStartSec (deploy/systemd): systemd has stopped a run by then.
JOB_SECONDS = 1800
# What a run that found the lease held counts, instead of the reminders it left to the other run.
BUSY = "another_run"


def take(session: Session, job: str, seconds: int) -> bool:
    """Hold the lease of `job` for `seconds` (committed) unless another run holds it; True when taken."""
    name = f"lease:{job}"
    try:
        claim(session, "lease", job)
        row = session.scalars(for_update(select(RowClaim).where(RowClaim.name == name))).one()
        now = utcnow()
        if row.held_until is not None and row.held_until > now:
            session.rollback()
            return False
        row.held_until = now + timedelta(seconds=seconds)
        session.commit()
    except OperationalError as exc:
        session.rollback()
        if getattr(exc.orig, "args", (None,))[0] != _CONFLICT:
            raise
        log.info("lease %s taken by another node at the same moment", job)
        return False
    return True


def release(session: Session, job: str) -> None:
    """Give the lease of `job` back (committed), so that the next run need not wait for it to end."""
    session.rollback()
    row = session.get(RowClaim, f"lease:{job}", populate_existing=True)
    if row is not None:
        row.held_until = None
        session.commit()


@contextmanager
def held(session: Session, job: str, seconds: int) -> Iterator[bool]:
    """`with held(s, "remind-reports", 1800) as mine:` the block runs with the lease when `mine`."""
    mine = take(session, job, seconds)
    try:
        yield mine
    finally:
        if mine:
            release(session, job)


def one_run_at_a_time(job: str, seconds: int = JOB_SECONDS) -> Callable:
    """Decorate a job `fn(session, …) -> counts`: it runs under the lease of `job`, else answers {BUSY: 1}."""

    def decorate(fn: Callable[..., dict[str, int]]) -> Callable[..., dict[str, int]]:
        @wraps(fn)
        def run(session: Session, *args, **kwargs) -> dict[str, int]:
            with held(session, job, seconds) as mine:
                return fn(session, *args, **kwargs) if mine else {BUSY: 1}

        return run

    return decorate
