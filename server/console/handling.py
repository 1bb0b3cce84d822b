"""What every console form does when its service refuses: roll back, let some errors through, show the rest.

A handler wraps its service call in `refused()` and, when the service raised, renders its page
again with the error:

    with refused(passthrough=(403, 404)) as refusal:
        order = rectification.review(db.session, g.staff, order_id, data)
    if refusal.error:
        return _render_detail(..., refusal.error.message, refusal.error.status)

Errors whose status is in `passthrough` reach the app's error handler instead (a page that
does not exist, or that the user may not see, is that page, not the form with a message).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from server.db import db
from server.errors import ApiError


@dataclass
class Refusal:
    """The service's ApiError once the block has ended, or None when it went through."""

    error: ApiError | None = None


@contextmanager
def refused(*, passthrough: tuple[int, ...] = ()) -> Iterator[Refusal]:
    """Catch the block's ApiError: roll the session back, re-raise `passthrough` statuses, keep the rest."""
    refusal = Refusal()
    try:
        yield refusal
    except ApiError as exc:
        db.session.rollback()
        if exc.status in passthrough:
            raise
        refusal.error = exc
