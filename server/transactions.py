"""Running a request's unit of work again when the database refused it for a concurrent one.

MySQL picks a deadlock victim (or times out a lock wait) among transactions that are each fine
alone, and a Galera cluster refuses the later of two conflicting commits the same way (1213):
with several phones and staff writing the same counts, audit chain and rows, a write can be that
victim. Every write is rolled back whole (and a phone's is idempotent by client_id), so the
request is simply run again, as MySQL's manual advises, before anyone sees an error. Likewise a
unique key another transaction took between this one's check and its insert (READ COMMITTED: two
admins creating one username): run again, the check then sees the row. The API's `endpoint` and
every console form (server/console) run their views this way, and the nightly cross-county pass
each of its batches.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from functools import wraps
from typing import Any

from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session

TRANSACTION_ATTEMPTS = 3
_CONFLICT_CODES = {1213, 1205, 1062}  # ER_LOCK_DEADLOCK, ER_LOCK_WAIT_TIMEOUT, ER_DUP_ENTRY
log = logging.getLogger(__name__)


def is_transaction_conflict(exc: OperationalError | IntegrityError) -> bool:
    """True for a deadlock, a lock-wait timeout or a concurrent duplicate key (worth re-running),
    not an unreachable database."""
    args = getattr(exc.orig, "args", ())
    return bool(args) and args[0] in _CONFLICT_CODES


def _retry_after_conflict(
    exc: OperationalError | IntegrityError, name: str, attempt: int, session: Session | None
) -> None:
    from server.db import db

    log.warning("transaction conflict in %s (attempt %d), running it again: %s", name, attempt, exc.orig)
    (session if session is not None else db.session).rollback()
    time.sleep(random.uniform(0.005, 0.05) * attempt)  # noqa: S311 - jitter, not security


def run_again_on_conflict(
    fn: Callable, before_again: Callable[[], None] | None = None, session: Session | None = None
) -> Callable:
    """`fn` run up to TRANSACTION_ATTEMPTS times while it fails with a transaction conflict.

    In a request, a conflict that persists answers 503 (server/errors.py); a duplicate key that
    persists in fresh transactions is no race but a bug, and stays a 500. `before_again` readies
    the request for another run (the console rewinds uploaded files). `session` is the one rolled
    back between runs (default: the request's, `db.session`).
    """

    @wraps(fn)
    def run(*args: Any, **kwargs: Any):
        for attempt in range(1, TRANSACTION_ATTEMPTS + 1):
            try:
                return fn(*args, **kwargs)
            except (OperationalError, IntegrityError) as exc:
                if attempt == TRANSACTION_ATTEMPTS or not is_transaction_conflict(exc):
                    raise
                _retry_after_conflict(exc, fn.__name__, attempt, session)
                if before_again is not None:
                    before_again()
        raise AssertionError("unreachable")

    return run
