"""Photo evidence and the hash bands of its near-duplicate index."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Double,
    ForeignKey,
    Index,
    Integer,
    SmallInteger,
    String,
)
from sqlalchemy.orm import Mapped, mapped_column

from server.models.base import (
    Base,
    utcnow,
)


class Photo(Base):
    """A photo in the shared pipeline; its owner is a visit today, feedback and reports later."""

    __tablename__ = "photos"
    id: Mapped[int] = mapped_column(primary_key=True)
    # active_history: the monthly stats (services.visit_stats) need the old value of a change.
    owner_kind: Mapped[str] = mapped_column(String(16), active_history=True)
    owner_id: Mapped[int] = mapped_column(Integer)
    visit_id: Mapped[int | None] = mapped_column(ForeignKey("visits.id"), index=True, active_history=True)
    uploader_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    client_id: Mapped[str] = mapped_column(String(64), unique=True)
    status: Mapped[str] = mapped_column(String(16), default="pending", active_history=True)
    reject_code: Mapped[str | None] = mapped_column(String(48))
    reject_reason: Mapped[str | None] = mapped_column(String(255))
    content_type: Mapped[str] = mapped_column(String(64))
    declared_size: Mapped[int] = mapped_column(Integer)
    size: Mapped[int | None] = mapped_column(Integer)
    # The key the phone's ticket names; the served original is object_key, written at
    # complete with exactly the verified bytes (below SEALED_PREFIX, which no ticket can name).
    upload_key: Mapped[str] = mapped_column(String(255))
    object_key: Mapped[str] = mapped_column(String(255))
    object_version: Mapped[str | None] = mapped_column(String(255))  # S3 Object Lock: read by this version
    thumb_key: Mapped[str | None] = mapped_column(String(255))
    preview_key: Mapped[str | None] = mapped_column(String(255))
    sha256: Mapped[str | None] = mapped_column(String(64), index=True)  # of the sealed original
    # Of the bytes as uploaded: differs from sha256 where location was stripped (feedback).
    upload_sha256: Mapped[str | None] = mapped_column(String(64))
    checked_at: Mapped[datetime | None] = mapped_column()  # last re-hash of the sealed original
    check_result: Mapped[str | None] = mapped_column(String(16))  # intact | altered | missing
    preview_sha256: Mapped[str | None] = mapped_column(String(64), index=True)
    phash: Mapped[str | None] = mapped_column(String(16))  # 64-bit dHash as 16 hex digits
    # server.imaging.phash canonical region hashes (10 x 16 hex digits and the orientation digit,
    # comma-separated); None for a flat frame or before rehash-photos.
    region_hashes: Mapped[str | None] = mapped_column(String(179))
    verify_code: Mapped[str] = mapped_column(String(10), unique=True)
    taken_at: Mapped[datetime | None] = mapped_column()
    lat: Mapped[float | None] = mapped_column(Double)
    lng: Mapped[float | None] = mapped_column(Double)
    input_coord_type: Mapped[str | None] = mapped_column(String(8))
    width: Mapped[int | None] = mapped_column(Integer)
    height: Mapped[int | None] = mapped_column(Integer)
    format: Mapped[str | None] = mapped_column(String(8))
    exif: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    flags: Mapped[list[Any]] = mapped_column(JSON, default=list, active_history=True)
    duplicate_of_id: Mapped[int | None] = mapped_column(ForeignKey("photos.id"))
    sent_at: Mapped[datetime | None] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    completed_at: Mapped[datetime | None] = mapped_column()

    # completed_at: the nightly cross-county pass reads the photos completed since its last run.
    __table_args__ = (
        Index("ix_photos_owner", "owner_kind", "owner_id"),
        Index("ix_photos_completed_at", "completed_at"),
    )


class PhotoHashBand(Base):
    """One band of one region hash of a photo (kind = index in phash.REGIONS): finds near-duplicates without a scan."""

    __tablename__ = "photo_hash_bands"
    photo_id: Mapped[int] = mapped_column(ForeignKey("photos.id", ondelete="CASCADE"), primary_key=True)
    kind: Mapped[int] = mapped_column(SmallInteger, primary_key=True)
    band: Mapped[int] = mapped_column(SmallInteger, primary_key=True)
    value: Mapped[int] = mapped_column(Integer)
    # The whole region hash (phash.db_hash: signed, the same 64 bits), so the lookup measures the
    # Hamming distance inside the index instead of fetching every row that shares a band value.
    hash: Mapped[int] = mapped_column(BigInteger)
    # The county of the photo's owner (None until a villager's draft photo is sent with its
    # feedback): a complete searches its own county's photos, a nightly pass every county's
    # (services.cross_county). No foreign key: InnoDB would add an index of its own for one.
    county_id: Mapped[int | None] = mapped_column(Integer)

    # Covering: a probe is an index range scan on (band, value), or on (band, value, county_id)
    # within one county, that filters on hash and answers photo_id and kind without reading the
    # table (InnoDB stores them once, SQLite needs them named).
    __table_args__ = (Index("ix_photo_hash_bands_near", "band", "value", "county_id", "hash", "photo_id", "kind"),)
