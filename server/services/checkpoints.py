"""Signed checkpoints of the audit chain's head, kept in object storage outside the database.

A checkpoint is a small JSON object `{"format", "seq", "hash", "at", "reason", "signature"}`:
the chain's head (seq and hash) at a moment, signed with HMAC-SHA256 under a key derived from
AUDIT_KEY. One is written at least hourly (`flask --app server audit-checkpoint`, run by
deploy/systemd/secretary-projects-audit-checkpoint.timer or the compose service
`audit-checkpoint`) and right after every round draw and close and every grade finalization.
Each goes to its own key under `audit/checkpoints/` (never overwritten), and a copy to
`audit/latest-checkpoint.json`, which the public page /audit shows so anyone can copy the hash
elsewhere. `verify-audit` reads them all: a chain with fewer entries than a checkpoint records
was truncated, one whose entry differs from a checkpoint's hash was rewritten.

Each audit chain (one per county, 0 for the deployment) is checkpointed and published on its own.
The first county's chain keeps the paths above; chain N writes under `audit/chains/N/`, and its
checkpoints (format /2) sign the chain number too, so one chain's checkpoint copied among another's
fails its check.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from flask import current_app
from sqlalchemy import select
from sqlalchemy.orm import Session

from server import tenancy
from server.models import AuditHead
from server.services.audit import Anchor
from server.storage import ObjectMissing, Storage, StorageError

log = logging.getLogger(__name__)

FORMAT = "sp-audit-checkpoint/1"
CHAIN_FORMAT = "sp-audit-checkpoint/2"  # names its chain; every chain but the first county's
PREFIX = "audit/checkpoints/"
LATEST = "audit/latest-checkpoint.json"


def prefix(chain: int) -> str:
    """Where a chain's checkpoints are kept."""
    return PREFIX if chain == 1 else f"audit/chains/{chain}/checkpoints/"


def latest_key(chain: int) -> str:
    """Where a chain's newest checkpoint is copied for the public page."""
    return LATEST if chain == 1 else f"audit/chains/{chain}/latest-checkpoint.json"


CONTENT_TYPE = "application/json"
# How long a checkpoint must stay undeletable where the store can enforce it (Object Lock).


def signing_key(audit_key: str) -> bytes:
    """The checkpoints' HMAC key, derived from AUDIT_KEY apart from the chain's own key."""
    return hmac.new(audit_key.encode(), b"sp-audit-checkpoint-v1", hashlib.sha256).digest()


@dataclass(frozen=True)
class Checkpoint:
    """The chain's head at a moment, as signed."""

    seq: int
    hash: str
    at: str
    reason: str
    signature: str
    chain: int = 1

    def _fields(self) -> dict[str, Any]:
        fields = {"seq": self.seq, "hash": self.hash, "at": self.at, "reason": self.reason}
        if self.chain == 1:
            return {"format": FORMAT, **fields}
        return {"format": CHAIN_FORMAT, "chain": self.chain, **fields}

    def signed_part(self) -> bytes:
        """The canonical JSON the signature covers."""
        return json.dumps(self._fields(), sort_keys=True, separators=(",", ":")).encode()

    def document(self) -> dict[str, Any]:
        """The stored JSON object."""
        return {**self._fields(), "signature": self.signature}

    def object_key(self) -> str:
        """Its own key: sorted by seq, then time, and never reused."""
        stamp = datetime.fromisoformat(self.at).strftime("%Y%m%dT%H%M%S%fZ")
        return f"{prefix(self.chain)}{self.seq:012d}-{stamp}.json"


def _sign(key: bytes, cp: Checkpoint) -> str:
    return hmac.new(key, cp.signed_part(), hashlib.sha256).hexdigest()


def make(
    audit_key: str, seq: int, head_hash: str, reason: str, at: datetime | None = None, chain: int = 1
) -> Checkpoint:
    """A signed checkpoint of one chain's (seq, hash) taken now (or at `at`)."""
    stamp = (at or datetime.now(UTC)).astimezone(UTC).isoformat(timespec="microseconds")
    unsigned = Checkpoint(seq, head_hash, stamp, reason, "", chain)
    return Checkpoint(seq, head_hash, stamp, reason, _sign(signing_key(audit_key), unsigned), chain)


def parse(raw: bytes, audit_key: str) -> Checkpoint:
    """A stored checkpoint, its signature checked; ValueError says what is wrong."""
    try:
        doc = json.loads(raw)
        chain = int(doc["chain"]) if doc.get("format") == CHAIN_FORMAT else 1
        cp = Checkpoint(
            int(doc["seq"]), str(doc["hash"]), str(doc["at"]), str(doc["reason"]), str(doc["signature"]), chain
        )
    except (ValueError, KeyError, TypeError) as exc:
        raise ValueError(f"not a checkpoint ({exc.__class__.__name__})") from None
    if doc.get("format") not in (FORMAT, CHAIN_FORMAT) or (doc["format"] == CHAIN_FORMAT and chain == 1):
        raise ValueError(f"unknown format {doc.get('format')!r}")
    if not hmac.compare_digest(_sign(signing_key(audit_key), cp), cp.signature):
        raise ValueError("signature does not match (forged, edited, or made with another AUDIT_KEY)")
    return cp


def _put_retained(storage: Storage, key: str, body: bytes) -> None:
    """Store a checkpoint; under S3 Object Lock it is retained per object like the sealed originals."""
    storage.put_retained(key, body, content_type=CONTENT_TYPE)


def write(session: Session, storage: Storage, audit_key: str, reason: str, chain: int = 1) -> Checkpoint:
    """Sign a chain's committed head and store it; raises StorageError when storage fails."""
    seq, head_hash = session.execute(select(AuditHead.seq, AuditHead.hash).where(AuditHead.chain == chain)).one()
    # End the read at once (SQLite's transactions take the write lock); nothing was changed, and
    # a commit, unlike a rollback, leaves the caller's loaded objects as they are.
    session.commit()
    cp = make(audit_key, seq, head_hash, reason, chain=chain)
    body = json.dumps(cp.document(), sort_keys=True).encode()
    _put_retained(storage, cp.object_key(), body)
    storage.put(latest_key(chain), body, content_type=CONTENT_TYPE)
    return cp


def after(session: Session, reason: str) -> Checkpoint | None:
    """Checkpoint the session's chain right after a decisive step has committed; a storage failure is logged.

    The step itself has already happened; the next scheduled checkpoint covers it anyway.
    """
    chain = tenancy.chain_for(session, None)
    try:
        return write(session, current_app.extensions["storage"], current_app.config["AUDIT_KEY"], reason, chain)
    except StorageError as exc:
        log.warning("audit checkpoint after %s not written: %s", reason, exc)
        return None


def read_all(storage: Storage, audit_key: str, chain: int = 1) -> tuple[list[tuple[str, Checkpoint]], list[str]]:
    """Every stored checkpoint of a chain as (object key, checkpoint), and one line per object that fails its check."""
    good, problems = [], []
    for key in sorted(storage.iter_keys(prefix(chain))):
        try:
            with storage.open(key) as fh:
                cp = parse(fh.read(), audit_key)
        except ObjectMissing:
            continue  # deleted while listing; a deletion shows as a gap no other way
        except ValueError as exc:
            problems.append(f"{key}: {exc}")
            continue
        if cp.chain != chain:
            problems.append(f"{key}: a checkpoint of chain {cp.chain} among chain {chain}'s")
            continue
        good.append((key, cp))
    return good, problems


def anchors(checkpoints: list[tuple[str, Checkpoint]]) -> list[Anchor]:
    """The checkpoints as anchors for audit.verify."""
    return [Anchor(cp.seq, cp.hash, f"checkpoint {key} ({cp.at})") for key, cp in checkpoints]


def latest(storage: Storage, audit_key: str, chain: int = 1) -> Checkpoint | None:
    """A chain's newest checkpoint (for the public page), or None when none was written or it fails its check."""
    try:
        with storage.open(latest_key(chain)) as fh:
            cp = parse(fh.read(), audit_key)
            return cp if cp.chain == chain else None
    except ObjectMissing:
        return None
    except ValueError as exc:
        log.warning("the latest audit checkpoint is not valid: %s", exc)
        return None
