"""Bookkeeping tables: idempotent client writes, the hash-chained audit log, rate events."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from server.models.base import (
    Base,
    utcnow,
)


class ClientWrite(Base):
    """Every write a phone made, by its client_id: what it was, so a retry gets the same answer."""

    __tablename__ = "client_writes"
    client_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    kind: Mapped[str] = mapped_column(String(32))
    body_hash: Mapped[str] = mapped_column(String(64))
    object_id: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class AuditEntry(Base):
    """An append-only, hash-chained audit log entry of one chain: a county's, or 0 for the deployment's."""

    __tablename__ = "audit_log"
    id: Mapped[int] = mapped_column(primary_key=True)
    chain: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    seq: Mapped[int] = mapped_column(BigInteger)
    at: Mapped[datetime] = mapped_column()
    actor_id: Mapped[int | None] = mapped_column(Integer)
    action: Mapped[str] = mapped_column(String(64))
    object_type: Mapped[str] = mapped_column(String(32))
    object_id: Mapped[str] = mapped_column(String(64))
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))

    __table_args__ = (
        Index("ix_audit_object", "object_type", "object_id"),
        UniqueConstraint("chain", "seq", name="uq_audit_log_chain_seq"),
    )


class AuditHead(Base):
    """The row that serializes appends to one audit chain (locked FOR UPDATE): one per county, 0 for the deployment."""

    __tablename__ = "audit_head"
    id: Mapped[int] = mapped_column(primary_key=True)
    chain: Mapped[int] = mapped_column(Integer, default=1, server_default="1")

    __table_args__ = (UniqueConstraint("chain", name="uq_audit_head_chain"),)
    seq: Mapped[int] = mapped_column(BigInteger, default=0)
    hash: Mapped[str] = mapped_column(String(64))


class RateEvent(Base):
    """One counted action for rate limits shared by every worker and node (sliding window)."""

    __tablename__ = "rate_events"
    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(96))
    at: Mapped[datetime] = mapped_column()

    __table_args__ = (Index("ix_rate_events_key_at", "key", "at"),)
