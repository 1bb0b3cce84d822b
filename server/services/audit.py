"""The append-only, hash-chained audit log."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from server.models import AuditEntry, AuditHead, User, utcnow
from server.services.common import for_update

GENESIS = "0" * 64


def entry_hash(
    *, seq: int, at: str, actor_id: int | None, action: str, object_type: str,
    object_id: str, data: dict[str, Any], prev_hash: str,
) -> str:
    """SHA-256 over the canonical JSON of an entry's content and its predecessor's hash."""
    payload = json.dumps(
        {
            "seq": seq, "at": at, "actor_id": actor_id, "action": action,
            "object_type": object_type, "object_id": object_id, "data": data,
            "prev_hash": prev_hash,
        },
        ensure_ascii=False, sort_keys=True, separators=(",", ":"),
    )
    return hashlib.sha256(payload.encode()).hexdigest()


def append(
    session: Session, actor: User | None, action: str, object_type: str, object_id: Any,
    data: dict[str, Any] | None = None,
) -> AuditEntry:
    """Add an entry to the chain inside the caller's transaction (locks the chain's head row)."""
    head = session.execute(
        for_update(select(AuditHead).where(AuditHead.id == 1))
    ).scalar_one()
    at = utcnow()
    entry = AuditEntry(
        seq=head.seq + 1, at=at, actor_id=actor.id if actor else None, action=action,
        object_type=object_type, object_id=str(object_id), data=data or {},
        prev_hash=head.hash,
    )
    entry.hash = entry_hash(
        seq=entry.seq, at=at.isoformat(), actor_id=entry.actor_id, action=action,
        object_type=object_type, object_id=entry.object_id, data=entry.data,
        prev_hash=head.hash,
    )
    head.seq, head.hash = entry.seq, entry.hash
    session.add(entry)
    return entry


@dataclass
class ChainReport:
    """The result of verifying the chain."""

    ok: bool
    entries: int
    first_bad_seq: int | None = None
    reason: str = ""


def verify(session: Session, batch: int = 5000) -> ChainReport:
    """Recompute every hash in order; report the first entry that does not fit."""
    prev, expected_seq, count, last_id = GENESIS, 1, 0, 0
    while True:
        rows = session.execute(
            select(AuditEntry).where(AuditEntry.id > last_id).order_by(AuditEntry.id).limit(batch)
        ).scalars().all()
        if not rows:
            break
        for e in rows:
            if e.seq != expected_seq:
                # Name the entry that is missing (as at the end of the chain), not its successor.
                return ChainReport(False, count, expected_seq, f"expected seq {expected_seq}, found {e.seq}")
            if e.prev_hash != prev:
                return ChainReport(False, count, e.seq, "prev_hash does not match")
            recomputed = entry_hash(
                seq=e.seq, at=e.at.isoformat(), actor_id=e.actor_id, action=e.action,
                object_type=e.object_type, object_id=e.object_id, data=e.data,
                prev_hash=e.prev_hash,
            )
            if recomputed != e.hash:
                return ChainReport(False, count, e.seq, "content does not match its hash")
            prev, expected_seq, count, last_id = e.hash, expected_seq + 1, count + 1, e.id
        session.expunge_all()
    head = session.get(AuditHead, 1)
    if head is not None and (head.seq != count or head.hash != prev):
        return ChainReport(False, count, head.seq, "entries are missing at the end of the chain")
    return ChainReport(True, count)
