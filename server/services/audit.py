"""The append-only audit log: a hash chain keyed with AUDIT_KEY and anchored by checkpoints.

Each entry's hash is HMAC-SHA256, under a key derived from AUDIT_KEY (never stored in the
database), of the canonical JSON of its content and its predecessor's hash. Someone with write
access to the database can still edit or delete rows, but cannot compute the hashes that
would make the change fit. Deleting the newest entries and resetting the head row leaves a
shorter chain that does fit; the signed checkpoints written outside the database
(`server.services.checkpoints`) catch that: `verify` compares the chain with every one.

Each county has its own chain (`chain` = the county's id), so appends in one county never wait
for another's head row; actions of city and province accounts go to the deployment chain 0
(server.tenancy.chain_for says which chain an action goes to).

Chains begun before the key existed keep their plain SHA-256 entries: migration 0013 appended
one keyed `audit.rekey` entry recording that old head (seq and hash), which pins every older
entry under the key. Unkeyed entries are accepted only before that entry.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from flask import current_app
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from server import tenancy
from server.models import AuditEntry, AuditHead, User, utcnow
from server.services.common import for_update

GENESIS = "0" * 64
REKEY_ACTION = "audit.rekey"


def chain_key(audit_key: str) -> bytes:
    """The HMAC key of the entries, derived from AUDIT_KEY (the checkpoints use another)."""
    return hmac.new(audit_key.encode(), b"sp-audit-chain-v1", hashlib.sha256).digest()


def current_chain_key() -> bytes:
    """The chain key of the running app."""
    return chain_key(current_app.config["AUDIT_KEY"])


def _payload(
    *,
    seq: int,
    at: str,
    actor_id: int | None,
    action: str,
    object_type: str,
    object_id: str,
    data: dict[str, Any],
    prev_hash: str,
) -> bytes:
    return json.dumps(
        {
            "seq": seq,
            "at": at,
            "actor_id": actor_id,
            "action": action,
            "object_type": object_type,
            "object_id": object_id,
            "data": data,
            "prev_hash": prev_hash,
        },
        ensure_ascii=False,
        sort_keys=True,
        separators=(",", ":"),
    ).encode()


def entry_hash(*, key: bytes, **content: Any) -> str:
    """HMAC-SHA256 under the chain key over the canonical JSON of an entry's content and prev_hash."""
    return hmac.new(key, _payload(**content), hashlib.sha256).hexdigest()


def legacy_entry_hash(**content: Any) -> str:
    """Plain SHA-256 of the same JSON: how entries were hashed before the chain was keyed."""
    return hashlib.sha256(_payload(**content)).hexdigest()


def _content(e: AuditEntry) -> dict[str, Any]:
    return {
        "seq": e.seq,
        "at": e.at.isoformat(),
        "actor_id": e.actor_id,
        "action": e.action,
        "object_type": e.object_type,
        "object_id": e.object_id,
        "data": e.data,
        "prev_hash": e.prev_hash,
    }


def append(
    session: Session,
    actor: User | None,
    action: str,
    object_type: str,
    object_id: Any,
    data: dict[str, Any] | None = None,
) -> AuditEntry:
    """Add an entry to its chain inside the caller's transaction (locks the chain's head row)."""
    chain = tenancy.chain_for(session, actor)
    head = lock_head(session, chain)
    entry = AuditEntry(
        chain=chain,
        seq=head.seq + 1,
        at=utcnow(),
        actor_id=actor.id if actor else None,
        action=action,
        object_type=object_type,
        object_id=str(object_id),
        data=data or {},
        prev_hash=head.hash,
    )
    entry.hash = entry_hash(key=current_chain_key(), **_content(entry))
    head.seq, head.hash = entry.seq, entry.hash
    session.add(entry)
    return entry


def lock_head(session: Session, chain: int) -> AuditHead:
    """The chain's head row, locked for the caller's transaction; made at the chain's first entry."""
    stmt = for_update(select(AuditHead).where(AuditHead.chain == chain))
    head = session.execute(stmt).scalar_one_or_none()
    if head is None:
        try:
            with session.begin_nested():
                session.add(AuditHead(chain=chain, seq=0, hash=GENESIS))
        except IntegrityError:
            pass  # another transaction made it first: lock theirs
        head = session.execute(stmt).scalar_one()
    return head


def chains(session: Session) -> list[int]:
    """Every chain that has a head: the counties' and the deployment's."""
    return list(session.scalars(select(AuditHead.chain).order_by(AuditHead.chain)))


@dataclass(frozen=True)
class Anchor:
    """A (seq, hash) the chain must still contain: a checkpoint, or a hash copied from the public page."""

    seq: int
    hash: str
    label: str


@dataclass
class ChainReport:
    """The result of verifying the chain (and how many anchors it was compared with)."""

    ok: bool
    entries: int
    first_bad_seq: int | None = None
    reason: str = ""
    anchors: int = 0


def verify(
    session: Session,
    batch: int = 5000,
    *,
    chain: int = 1,
    key: bytes | None = None,
    anchors: Iterable[Anchor] = (),
) -> ChainReport:
    """Recompute every hash of one chain in order and compare with the anchors; report the first thing that does not fit."""
    key = key if key is not None else current_chain_key()
    anchors = sorted(anchors, key=lambda a: a.seq)
    wanted = {a.seq for a in anchors}
    seen: dict[int, str] = {0: GENESIS}
    prev, expected_seq, count, last_seq = GENESIS, 1, 0, 0
    keyed = False
    legacy: tuple[int, int, str] | None = None  # first seq, last seq, last hash of unsealed unkeyed entries
    while True:
        rows = (
            session.execute(
                select(AuditEntry)
                .where(AuditEntry.chain == chain, AuditEntry.seq > last_seq)
                .order_by(AuditEntry.seq)
                .limit(batch)
            )
            .scalars()
            .all()
        )
        if not rows:
            break
        for e in rows:
            if e.seq != expected_seq:
                # Name the entry that is missing (as at the end of the chain), not its successor.
                return ChainReport(False, count, expected_seq, f"expected seq {expected_seq}, found {e.seq}")
            if e.prev_hash != prev:
                return ChainReport(False, count, e.seq, "prev_hash does not match")
            content = _content(e)
            if hmac.compare_digest(entry_hash(key=key, **content), e.hash):
                if legacy is not None:
                    pin = e.data if isinstance(e.data, dict) else {}
                    if e.action != REKEY_ACTION or (pin.get("old_head_seq"), pin.get("old_head_hash")) != legacy[1:]:
                        return ChainReport(False, count, legacy[0], "unkeyed entries are not sealed by the keyed chain")
                    legacy = None
                keyed = True
            elif not keyed and legacy_entry_hash(**content) == e.hash:
                legacy = (legacy[0] if legacy else e.seq, e.seq, e.hash)
            else:
                return ChainReport(False, count, e.seq, "content does not match its hash (or AUDIT_KEY differs)")
            if e.seq in wanted:
                seen[e.seq] = e.hash
            prev, expected_seq, count, last_seq = e.hash, expected_seq + 1, count + 1, e.seq
        session.expunge_all()
    if legacy is not None:
        return ChainReport(False, count, legacy[0], "unkeyed entries are not sealed by the keyed chain")
    head = session.scalar(select(AuditHead).where(AuditHead.chain == chain))
    if head is not None and (head.seq != count or head.hash != prev):
        return ChainReport(False, count, head.seq, "entries are missing at the end of the chain")
    for a in anchors:
        if a.seq <= count and seen[a.seq] != a.hash:
            return ChainReport(False, count, a.seq, f"rewritten: entry {a.seq} differs from {a.label}", len(anchors))
    if anchors and anchors[-1].seq > count:
        a = anchors[-1]
        return ChainReport(
            False,
            count,
            count + 1,
            f"truncated: {a.label} records seq {a.seq}, the chain ends at seq {count}",
            len(anchors),
        )
    return ChainReport(True, count, anchors=len(anchors))
