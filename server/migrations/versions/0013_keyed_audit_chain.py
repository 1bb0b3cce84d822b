"""audit chain keyed with AUDIT_KEY: one keyed entry seals the unkeyed entries before it

Revision ID: 0013
Revises: 0009
Create Date: 2026-12-06 22:50:00.000000

Entries written before this revision are hashed with plain SHA-256, which anyone with write
access to the database can recompute. This revision appends one `audit.rekey` entry hashed
with HMAC under AUDIT_KEY that records the old head (its seq and hash): from then on no older
entry can change without breaking that keyed entry. An empty chain needs nothing. The key comes
from the app running `init-db` (or from the environment, as the app would read it).
"""

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import context, op

import server.models
from server.services import audit

revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None

_log = sa.table(
    "audit_log", sa.column("seq", sa.BigInteger), sa.column("at", server.models.UTCDateTime()),
    sa.column("actor_id", sa.Integer), sa.column("action", sa.String), sa.column("object_type", sa.String),
    sa.column("object_id", sa.String), sa.column("data", sa.JSON), sa.column("prev_hash", sa.String),
    sa.column("hash", sa.String),
)
_head = sa.table("audit_head", sa.column("id", sa.Integer), sa.column("seq", sa.BigInteger),
                 sa.column("hash", sa.String))


def _audit_key() -> str:
    key = context.config.attributes.get("audit_key")
    if key:
        return key
    from server.config import load_config

    return load_config()["AUDIT_KEY"]


def upgrade() -> None:
    conn = op.get_bind()
    head = conn.execute(sa.select(_head.c.seq, _head.c.hash).where(_head.c.id == 1)).one_or_none()
    if head is None or head.seq == 0:
        return
    content = {
        "seq": head.seq + 1, "at": datetime.now(UTC), "actor_id": None, "action": audit.REKEY_ACTION,
        "object_type": "audit", "object_id": "chain",
        "data": {"old_head_seq": head.seq, "old_head_hash": head.hash}, "prev_hash": head.hash,
    }
    digest = audit.entry_hash(key=audit.chain_key(_audit_key()), **{**content, "at": content["at"].isoformat()})
    conn.execute(_log.insert().values(**content, hash=digest))
    conn.execute(_head.update().where(_head.c.id == 1).values(seq=content["seq"], hash=digest))


def downgrade() -> None:
    # The keyed entries stay: removing them would itself be the rewrite the keys exist to expose.
    pass
