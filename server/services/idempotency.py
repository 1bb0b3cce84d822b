"""Client writes by client_id: the first call creates, a retry returns the same, a reuse is a 409."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from typing import Any, TypeVar

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from server.errors import ApiError
from server.models import ClientWrite, User

T = TypeVar("T")

# Not part of the identity of a write: a retry is sent later, with a later clock.
_VOLATILE = {"sent_at"}


def body_hash(kind: str, target: Any, body: dict[str, Any]) -> str:
    """A stable hash of what a write says (its kind, target and body less volatile fields)."""
    stable = {k: v for k, v in body.items() if k not in _VOLATILE}
    text = json.dumps([kind, target, stable], sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def _replay(prior: ClientWrite, user: User, kind: str, digest: str) -> int:
    if prior.user_id != user.id or prior.kind != kind or prior.body_hash != digest:
        raise ApiError(
            "client_id_conflict",
            details={"client_id": prior.client_id, "kind": prior.kind if prior.user_id == user.id else None},
        )
    return prior.object_id


def run(
    session: Session,
    *,
    user: User,
    kind: str,
    target: Any,
    body: dict[str, Any],
    create: Callable[[], Any],
    load: Callable[[int], T],
) -> tuple[T, bool]:
    """Create once per client_id and commit; return (object, created).

    `create` adds its rows (and audit entries) to the session and returns an object with
    an `id`; it may raise ApiError, in which case nothing is written.
    """
    client_id = body["client_id"]
    digest = body_hash(kind, target, body)
    prior = session.get(ClientWrite, client_id)
    if prior is not None:
        object_id = _replay(prior, user, kind, digest)
        return load(object_id), False
    try:
        obj = create()
        session.flush()
        session.add(ClientWrite(client_id=client_id, user_id=user.id, kind=kind, body_hash=digest, object_id=obj.id))
        session.commit()
    except IntegrityError:
        # A concurrent retry with the same client_id won the race: answer as a retry.
        session.rollback()
        prior = session.get(ClientWrite, client_id)
        if prior is None:
            raise
        return load(_replay(prior, user, kind, digest)), False
    except Exception:
        session.rollback()
        raise
    return obj, True
