"""One visit's photo evidence: its originals and a manifest of hashes, times, places and flags, as a
ZIP streamed while the originals are read.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import logging
import re
import zipfile
from collections.abc import Iterator
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from server.clock import CHINA
from server.errors import ApiError
from server.models import CheckIn, Photo, User, Visit, utcnow
from server.services import audit
from server.services.exports.visits import visit_heads
from server.services.exports.workbook import Download, csv_text
from server.services.flag_words import label as flag_label
from server.services.photos import storage
from server.storage import ObjectMissing, Storage, StorageError

log = logging.getLogger(__name__)

_CHUNK = 256 * 1024


def _iso(value: datetime | None) -> str | None:
    return value.astimezone(CHINA).isoformat(timespec="seconds") if value else None


MANIFEST_COLUMNS = [
    ("file", "文件"),
    ("photo_id", "照片编号"),
    ("sha256", "SHA-256"),
    ("intact", "与上传时一致"),
    ("size", "大小(字节)"),
    ("taken_at", "拍摄时间(手机)"),
    ("completed_at", "服务器接收完成时间"),
    ("exif_taken_at", "EXIF 拍摄时间"),
    ("lat", "拍摄纬度(WGS-84)"),
    ("lng", "拍摄经度(WGS-84)"),
    ("distance_m", "拍摄点距村/地点(米)"),
    ("exif_lat", "EXIF 纬度(WGS-84)"),
    ("exif_lng", "EXIF 经度(WGS-84)"),
    ("exif_distance_m", "EXIF 位置距村/地点(米)"),
    ("flags", "标记"),
    ("verify_code", "验真码"),
    ("duplicate_of", "重复于照片"),
]


class _Sink:
    """A write-only stream that hands over what ZipFile wrote so far (ZipFile needs no seeking)."""

    def __init__(self) -> None:
        self._parts: list[bytes] = []

    def write(self, data: bytes) -> int:
        """Keep a chunk until the next drain."""
        self._parts.append(bytes(data))
        return len(data)

    def flush(self) -> None:
        """Nothing to flush: drain() takes the data."""

    def drain(self) -> bytes:
        """Everything written since the last drain."""
        out, self._parts = b"".join(self._parts), []
        return out


def _zip_time(value: datetime | None) -> tuple[int, int, int, int, int, int]:
    local = (value or utcnow()).astimezone(CHINA)
    return (max(local.year, 1980), local.month, local.day, local.hour, local.minute, local.second)


def evidence_zip(session: Session, user: User, visit: Visit) -> Download:
    """A visit's original photos and a manifest (hashes, times, places, flags) as a streamed ZIP.

    The visit must already be in the user's scope. Photos are read from storage one at a time
    while the ZIP is sent, so memory stays flat; each is hashed on the way and the manifest,
    written last, says whether the bytes are still those recorded at upload.
    """
    head = visit_heads(session, select(Visit).where(Visit.id == visit.id))[0]
    photos = list(
        session.scalars(
            select(Photo)
            .where(Photo.visit_id == visit.id, Photo.owner_kind == "visit", Photo.status == "ready")
            .order_by(Photo.id)
        )
    )
    checkins = list(
        session.scalars(select(CheckIn).where(CheckIn.visit_id == visit.id).order_by(CheckIn.client_time, CheckIn.id))
    )
    entries = []
    for p in photos:
        exif = p.exif or {}
        entries.append(
            {
                "file": f"photos/photo-{p.id}.{p.object_key.rsplit('.', 1)[-1]}",
                "photo_id": p.id,
                "sha256": None,
                "sha256_at_upload": p.sha256,
                "intact": None,
                "size": p.size,
                "content_type": p.content_type,
                "taken_at": _iso(p.taken_at),
                "completed_at": _iso(p.completed_at),
                "exif_taken_at": exif.get("taken_at"),
                "lat": p.lat,
                "lng": p.lng,
                "distance_m": head.distance_m(p.lat, p.lng),
                "exif_lat": exif.get("lat"),
                "exif_lng": exif.get("lng"),
                "exif_distance_m": head.distance_m(exif.get("lat"), exif.get("lng")),
                "flags": list(p.flags or []),
                "verify_code": p.verify_code,
                "duplicate_of": p.duplicate_of_id,
                "_key": p.object_key,
                "_version": p.object_version,
                "_time": p.completed_at,
            }
        )
    manifest = {
        "visit": {
            "id": head.id,
            "project": head.project,
            "township": head.township,
            "place": head.place,
            "place_center_wgs84": list(head.center) if head.center else None,
            "radius_m": head.radius_m,
            "status": head.status,
            "started_at": _iso(head.started_at),
            "submitted_at": _iso(head.submitted_at),
            "flags": head.flags,
        },
        "coordinates": "WGS-84 decimal degrees; times are ISO 8601 (China time unless the camera said otherwise)",
        "exported_by": user.name or user.username,
        "exported_at": _iso(utcnow()),
        "photos": entries,
        "checkins": [
            {
                "id": c.id,
                "client_time": _iso(c.client_time),
                "received_at": _iso(c.received_at),
                "lat": c.lat,
                "lng": c.lng,
                "accuracy_m": c.accuracy_m,
                "distance_m": c.distance_m,
                "within_geofence": c.within_geofence,
                "flags": list(c.flags or []),
            }
            for c in checkins
        ],
    }
    backend = storage()
    # Fail before the first byte while an error page can still be shown: once the ZIP is on
    # its way, an outage can only cut the download short.
    try:
        backend.ping()
    except StorageError:
        raise ApiError("storage_unavailable", details={"visit_id": visit.id}) from None
    audit.append(session, user, "export.evidence", "visit", visit.id, {"photos": len(entries)})
    session.commit()
    place = re.sub(r"[^\w-]", "", head.place)[:20]
    return Download(
        f"暗访证据-{visit.id}-{place}.zip",
        f"visit-{visit.id}-evidence.zip",
        "application/zip",
        _stream_zip(backend, manifest),
    )


def _stream_zip(backend: Storage, manifest: dict[str, Any]) -> Iterator[bytes]:
    """Yield the ZIP piece by piece: each original as it is read, then the manifest."""
    sink = _Sink()
    with zipfile.ZipFile(sink, "w") as zf:
        for entry in manifest["photos"]:
            key, version, when = entry.pop("_key"), entry.pop("_version"), entry.pop("_time")
            try:
                src = backend.open(key, version=version)
            except ObjectMissing:
                log.warning("evidence export: object %s of photo %s is missing", key, entry["photo_id"])
                entry.update(file=None, intact=False, missing=True)
                continue
            info = zipfile.ZipInfo(entry["file"], date_time=_zip_time(when))
            info.compress_type = zipfile.ZIP_STORED  # JPEGs do not compress
            digest = hashlib.sha256()
            with src, zf.open(info, "w") as dest:
                while chunk := src.read(_CHUNK):
                    digest.update(chunk)
                    dest.write(chunk)
                    if part := sink.drain():
                        yield part
            entry["sha256"] = digest.hexdigest()
            entry["intact"] = entry["sha256"] == entry["sha256_at_upload"]
            yield sink.drain()
        zf.writestr(
            zipfile.ZipInfo("manifest.json", date_time=_zip_time(None)),
            json.dumps(manifest, ensure_ascii=False, indent=2),
            compress_type=zipfile.ZIP_DEFLATED,
        )
        zf.writestr(
            zipfile.ZipInfo("manifest.csv", date_time=_zip_time(None)),
            _manifest_csv(manifest["photos"]).encode("utf-8-sig"),
            compress_type=zipfile.ZIP_DEFLATED,
        )
    yield sink.drain()


def _manifest_csv(entries: list[dict[str, Any]]) -> str:
    """The photo part of the manifest for Excel (UTF-8 with BOM, Chinese headers)."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow([label for _, label in MANIFEST_COLUMNS])
    for e in entries:
        row = []
        for key, _ in MANIFEST_COLUMNS:
            value = e.get(key)
            if key == "flags":
                value = "、".join(flag_label(f) for f in value)
            elif key == "intact":
                value = {True: "是", False: "否"}.get(value, "")
            row.append("" if value is None else csv_text(value))
        writer.writerow(row)
    return out.getvalue()
