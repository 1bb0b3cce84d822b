"""The shared photo pipeline: ticket → direct upload to storage → complete (verify, derive, flag).

Owner-agnostic: visits, villagers' feedback, monthly reports and rectification replies each
describe their photos with an `OwnerContext`; `server.app.register_photo_owners` names them all
(`register_owner`), and they share the one duplicate index.
"""

from __future__ import annotations

import hashlib
import io
import secrets
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from flask import current_app
from PIL import Image
from sqlalchemy import Integer, Select, literal_column, or_, select
from sqlalchemy.exc import NoResultFound
from sqlalchemy.orm import Session

from server import geo, tenancy
from server.db import bit_xor, hamming_distance, joined_in_order
from server.errors import ApiError
from server.imaging import meta, phash
from server.imaging.decode import PhotoRejected, ProcessedPhoto, process_photo
from server.imaging.exif import ExifInfo
from server.imaging.watermark import Watermark
from server.metrics import PHOTOS
from server.models import Photo, PhotoHashBand, User, utcnow
from server.services import audit, idempotency
from server.services.common import for_update, wgs84_point
from server.services.projects import Place
from server.storage import SEALED_PREFIX, UPLOAD_PREFIX, ObjectMissing, Storage, StorageError
from server.telemetry import current_request_id
from server.timefmt import parse_datetime

CONTENT_TYPES = {"image/jpeg": "jpg", "image/png": "png", "image/webp": "webp"}
# The sealed original is stored with the type of what it was verified to be, not what was declared.
FORMAT_TYPES = {"JPEG": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp"}
FAR_MARGIN_M = 200
EXIF_TIME_TOLERANCE = timedelta(minutes=10)
VERIFY_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"  # 31 symbols: 10 of them ≈ 49.5 bits
_READ_CHUNK = 256 * 1024
# Stored thumbnails read for the finer look at coarse near-duplicate matches, at most, per photo.
_MAX_FINE_LOOKS = 5

# Flags the phone declares with the ticket (kept when the photo's checks are judged): taken
# without a location fix, or compressed on the phone, with the inspector's consent, to fit the limit.
TICKET_FLAGS = ("no_fix", "compressed")

# Reasons an uploaded object is refused, with the HTTP status of the answer.
REJECT_STATUS = {
    "photo_too_large": 413,
    "photo_empty": 422,
    "photo_not_image": 422,
    "photo_unsupported_format": 422,
    "photo_truncated": 422,
    "photo_too_many_pixels": 422,
    "photo_size_mismatch": 422,
    "photo_too_small": 422,
    "photo_processing_failed": 422,
}


@dataclass(frozen=True)
class OwnerContext:
    """What the pipeline needs to know of a photo's owner."""

    place: Place | None  # for capture_far / exif_gps_far and the watermark
    person: str  # shown on the watermark
    title: str | None  # e.g. the project title
    can_complete: Callable[[User], bool]
    after_ready: Callable[[Session, Photo], None] | None = None
    strip_location: bool = False  # seal the original without GPS/XMP (villagers' photos)
    # The owner's county: where the complete looks for near-duplicates (None: the uploader's, the
    # only county's, or not known until the record is sent, as with a villager's draft photo).
    county_id: int | None = None


# owner_kind -> function(session, photo) -> OwnerContext; filled by server.app.register_photo_owners.
OWNERS: dict[str, Callable[[Session, Photo], OwnerContext]] = {}


def register_owner(kind: str, owner: Callable[[Session, Photo], OwnerContext]) -> None:
    """Name the owner of photos of `kind`; registering the same owner again changes nothing."""
    if OWNERS.get(kind, owner) != owner:
        raise ValueError(f"photo owner kind {kind!r} is already registered to {OWNERS[kind]!r}")
    OWNERS[kind] = owner


@dataclass(frozen=True)
class DraftOwner:
    """Photos taken before their record is sent belong to their uploader alone, with no place yet."""

    title: str

    def __call__(self, session: Session, photo: Photo) -> OwnerContext:
        """The draft photo's context: only its uploader may complete it."""
        uploader = session.get(User, photo.uploader_id)
        return OwnerContext(
            place=None,
            person=uploader.name if uploader else "",
            title=self.title,
            can_complete=lambda u: u.id == photo.uploader_id,
            county_id=uploader.county_id if uploader else None,
        )


def request_draft_photo(
    session: Session, user: User, body: dict[str, Any], *, draft_kind: str, owner_kind: str, write_kind: str
) -> tuple[Photo, bool]:
    """A ticket for a photo of a record still being written (a draft of its uploader); once per client_id."""

    def create() -> Photo:
        photo = new_photo(owner_kind=draft_kind, owner_id=user.id, user=user, body=body, visit_id=None)
        session.add(photo)
        session.flush()
        audit.append(session, user, "photo.ticket", "photo", photo.id, {"owner": owner_kind})
        return photo

    return idempotency.run(
        session,
        user=user,
        kind=write_kind,
        target=owner_kind,
        body=body,
        create=create,
        load=lambda i: session.get(Photo, i),
    )


def storage() -> Storage:
    """The app's storage backend."""
    return current_app.extensions["storage"]


def new_verify_code() -> str:
    """A 10-character code printed on the watermark; not guessable."""
    return "".join(secrets.choice(VERIFY_ALPHABET) for _ in range(10))


def new_photo(*, owner_kind: str, owner_id: int, user: User, body: dict[str, Any], visit_id: int | None) -> Photo:
    """A pending photo row for a ticket request (validated content type and size)."""
    content_type = body["content_type"].lower()
    if content_type in ("image/heic", "image/heif"):
        raise ApiError(
            "validation_failed",
            "不支持 HEIC 格式照片,请在手机相机设置中选择“兼容性最佳”(JPEG)",
            {"field": "content_type"},
        )
    if content_type not in CONTENT_TYPES:
        raise ApiError("validation_failed", "只支持 JPEG、PNG 或 WebP 格式的照片", {"field": "content_type"})
    limit = current_app.config["MAX_PHOTO_BYTES"]
    if body["size"] > limit:
        raise ApiError(
            "photo_too_large", f"照片不能超过 {limit // (1024 * 1024)} MB", {"field": "size", "max_bytes": limit}
        )
    now = utcnow()
    name = f"{owner_kind}/{now:%Y/%m}/{uuid.uuid4().hex}.{CONTENT_TYPES[content_type]}"
    photo = Photo(
        owner_kind=owner_kind,
        owner_id=owner_id,
        visit_id=visit_id,
        uploader_id=user.id,
        client_id=body["client_id"],
        content_type=content_type,
        declared_size=body["size"],
        upload_key=UPLOAD_PREFIX + name,
        object_key=SEALED_PREFIX + name,
        verify_code=new_verify_code(),
        status="pending",
        flags=[],
        sent_at=parse_datetime(body["sent_at"]) if body.get("sent_at") else None,
        taken_at=parse_datetime(body["taken_at"]) if body.get("taken_at") else None,
    )
    if body.get("lat") is not None or body.get("lng") is not None:
        photo.lat, photo.lng = wgs84_point(body)
        photo.input_coord_type = body.get("coord_type", "wgs84")
    elif body.get("no_fix"):
        photo.flags = ["no_fix"]
    if body.get("compressed"):
        photo.flags = [*photo.flags, "compressed"]
    return photo


def upload_ticket(photo: Photo) -> dict[str, Any]:
    """A freshly signed upload ticket for a pending photo's upload key."""
    ticket = storage().presign_upload(
        photo.upload_key,
        content_type=photo.content_type,
        max_bytes=current_app.config["MAX_PHOTO_BYTES"],
        expires_in=current_app.config["PHOTO_TICKET_SECONDS"],
    )
    return {
        "url": ticket.url,
        "fields": ticket.fields,
        "expires_at": ticket.expires_at.isoformat(),
        "file_field": "file",
    }


def photo_for(session: Session, user: User, photo_id: int) -> tuple[Photo, OwnerContext]:
    """A photo the user may complete, with its owner's context; 404 otherwise."""
    photo = session.get(Photo, photo_id)
    ctx = owner_context(session, photo) if photo is not None else None
    if ctx is not None and ctx.can_complete(user):
        return photo, ctx
    raise ApiError("not_found", "找不到该照片", {"id": photo_id})


def rejection(photo: Photo) -> ApiError:
    """The error answered for a rejected photo (the same every time it is asked about)."""
    code = photo.reject_code or "photo_rejected"
    details = {"photo_id": photo.id, "reason": code}
    if code == "photo_too_large":  # so that the phone can offer to compress it
        details["max_bytes"] = current_app.config["MAX_PHOTO_BYTES"]
    return ApiError(code, photo.reject_reason, details, status=REJECT_STATUS.get(code, 422))


def _fetch(key: str, limit: int) -> tuple[bytes, str]:
    """The uploaded object's bytes, read at once, and their sha256; PhotoRejected past the size limit."""
    # One read into one buffer: the decode, the hash and a seal that must send the bytes again all
    # use it as it is (reading in chunks into a spooled copy cost 2-3 ms more CPU per 4 MB photo).
    data = storage().read(key, limit=limit)
    if len(data) > limit:
        raise PhotoRejected("photo_too_large", f"照片不能超过 {limit // (1024 * 1024)} MB", {"max_bytes": limit})
    return data, hashlib.sha256(data).hexdigest()


def complete(session: Session, user: User, photo_id: int) -> Photo:
    """Verify the uploaded object, seal it and make the photo ready (or rejected); idempotent.

    Exactly the verified bytes (for villagers' photos: those bytes without location) are
    written to the photo's sealed key, which no upload ticket can name, and the upload is
    discarded: a later upload with a still-valid ticket changes nothing that is served.
    Storage trouble leaves the photo pending (503) and nothing is lost; an object that is
    not an acceptable photo, or that processing fails on, is deleted and the photo rejected
    with the reason.
    """
    photo, ctx = photo_for(session, user, photo_id)
    if photo.status == "rejected":
        raise rejection(photo)
    if photo.status == "ready":
        return photo
    upload_key, sealed_key = photo.upload_key, photo.object_key
    owner = (photo.owner_kind, photo.owner_id)
    limit = current_app.config["MAX_PHOTO_BYTES"]
    watermark = Watermark(
        time=utcnow(),
        place=ctx.place.label if ctx.place else "",
        person=ctx.person,
        verify_code=photo.verify_code,
        title=ctx.title,
    )
    session.commit()  # end the read transaction: fetching and decoding take a while

    try:
        # No HEAD first: the GET answers a missing object with ObjectMissing (below) and _fetch
        # stops at the size limit, so one storage call less per photo.
        upload, upload_sha256 = _fetch(upload_key, limit)
        processed, sealed = _verify(upload, watermark, ctx.strip_location, photo_id)
        sealed_type = FORMAT_TYPES[processed.format]
        if sealed is None:  # the upload itself: copied server-side where the backend can vouch for it
            size, sha256 = len(upload), upload_sha256
            version = storage().seal_upload(
                upload_key, sealed_key, io.BytesIO(upload), sha256=sha256, content_type=sealed_type
            )
        else:
            size, sha256 = len(sealed), hashlib.sha256(sealed).hexdigest()
            version = storage().put_sealed(sealed_key, sealed, content_type=sealed_type)
        base = sealed_key.rsplit(".", 1)[0]
        # The preview's watermark shows the minute it was made, so two retries of one complete can
        # make different previews: each is stored under a name of its own and the photo keeps the
        # winner's, so no retry writes over the preview whose hash the photo records.
        thumb_key, preview_key = f"{base}.thumb.jpg", f"{base}.{processed.preview_sha256[:16]}.preview.jpg"
        storage().put(thumb_key, processed.thumb_jpeg, content_type="image/jpeg")
        storage().put(preview_key, processed.preview_jpeg, content_type="image/jpeg")
    except PhotoRejected as exc:
        return _reject(session, user, photo_id, exc)
    except ObjectMissing:
        if settled := _settled_meanwhile(session, photo_id):
            return settled
        raise ApiError("photo_not_uploaded", details={"photo_id": photo_id}) from None
    except StorageError as exc:
        if settled := _settled_meanwhile(session, photo_id):
            return settled
        current_app.logger.warning("storage unavailable while completing photo %s: %s", photo_id, exc)
        PHOTOS.labels("storage_unavailable").inc()
        raise ApiError("storage_unavailable", details={"photo_id": photo_id}) from None

    photo = session.execute(for_update(select(Photo).where(Photo.id == photo_id))).scalar_one()
    if photo.status != "pending":  # a concurrent complete finished first
        session.commit()
        _discard_derivatives({thumb_key, preview_key} - {photo.thumb_key, photo.preview_key}, photo_id)
        if photo.status == "rejected":
            raise rejection(photo)
        return photo
    if (photo.owner_kind, photo.owner_id) != owner:
        # Taken into a record meanwhile (a 月报 draft saved while this ran): the flags, the index and
        # what happens once ready are the new owner's. The watermark already made keeps the old.
        ctx = owner_context(session, photo) or ctx
    # Looked up before the row changes, so that its queries flush nothing: the photo's update
    # (and the monthly counts' listener) then runs once, at the end.
    county = index_county(session, ctx)
    duplicate = find_duplicate(session, photo, sha256, processed, county)
    exif = processed.exif
    photo.status, photo.completed_at = "ready", utcnow()
    photo.size, photo.sha256, photo.preview_sha256 = size, sha256, processed.preview_sha256
    photo.upload_sha256, photo.object_version = upload_sha256, version
    photo.phash = f"{processed.phash:016x}"
    flat = phash.is_flat(processed.structure, processed.phash)
    photo.region_hashes = None if flat else phash.format_hashes(processed.region_hashes)
    photo.width, photo.height, photo.format = processed.width, processed.height, processed.format
    photo.thumb_key, photo.preview_key = thumb_key, preview_key
    photo.exif = {**exif.as_dict(), "edit_evidence": edit_evidence(exif, photo.taken_at)} if exif else None
    photo.duplicate_of_id = duplicate.id if duplicate else None
    photo.flags = photo_flags(photo, ctx.place, exif, duplicate)
    if not flat:
        session.add_all(hash_rows(photo.id, processed.region_hashes, county))
    if ctx.after_ready:
        ctx.after_ready(session, photo)
    audit.append(
        session,
        user,
        "photo.complete",
        "photo",
        photo.id,
        {
            "sha256": sha256,
            "upload_sha256": upload_sha256,
            "preview_sha256": photo.preview_sha256,
            "flags": photo.flags,
            "duplicate_of": photo.duplicate_of_id,
        },
    )
    session.commit()
    PHOTOS.labels("ready").inc()
    _discard_upload(upload_key, sealed_key, photo_id)
    return photo


def _settled_meanwhile(session: Session, photo_id: int) -> Photo | None:
    """The photo if a concurrent complete made it ready since this one read it pending; its rejection if it rejected it.

    The complete that wins discards the upload once the photo's new state is committed, so a
    retry that read the photo pending just before finds no object to fetch (or, on S3, to copy)
    and, reading again, the winner's outcome: its answer is the winner's, not "not uploaded" or
    "storage unavailable". None while the photo is still pending.
    """
    query = select(Photo).where(Photo.id == photo_id).execution_options(populate_existing=True)
    photo = session.execute(query).scalar_one()
    session.commit()
    if photo.status == "rejected":
        raise rejection(photo) from None
    return photo if photo.status == "ready" else None


def _verify(upload: bytes, watermark: Watermark, strip: bool, photo_id: int):
    """Process the upload; with strip, also the location-free bytes to seal (else None: seal the upload).

    A file the pipeline refuses raises PhotoRejected with its reason; any other failure is a
    bug or a file no rule foresaw, and becomes the rejection 'photo_processing_failed', logged
    with the request id, rather than a 500 that every retry would repeat.
    """
    try:
        processed = process_photo(io.BytesIO(upload), watermark=watermark)
        if not strip:
            return processed, None
        return processed, meta.strip_location(upload, processed.format)
    except PhotoRejected:
        raise
    except Exception as exc:
        current_app.logger.exception("processing photo %s failed (request %s)", photo_id, current_request_id())
        raise PhotoRejected(
            "photo_processing_failed", "照片无法处理,请重新拍摄后上传。", {"error": type(exc).__name__}
        ) from exc


def _discard_upload(upload_key: str, sealed_key: str, photo_id: int) -> None:
    """Remove the upload once its bytes are sealed; what fails here the upload lifecycle removes later."""
    if upload_key == sealed_key:  # a photo verified before originals were sealed apart
        return
    try:
        storage().discard_upload(upload_key)
    except StorageError as exc:
        current_app.logger.warning("could not discard the upload of photo %s: %s", photo_id, exc)


def _discard_derivatives(keys: set[str], photo_id: int) -> None:
    """Remove the thumbnail or preview a complete made but lost to another's; what fails here stays unused."""
    for key in sorted(keys):
        try:
            storage().delete(key)
        except StorageError as exc:
            current_app.logger.warning("could not delete unused %s of photo %s: %s", key, photo_id, exc)


def _reject(session: Session, user: User, photo_id: int, exc: PhotoRejected) -> Photo:
    photo = session.execute(for_update(select(Photo).where(Photo.id == photo_id))).scalar_one()
    rejected_now = photo.status == "pending"
    if rejected_now:
        photo.status, photo.reject_code, photo.reject_reason = "rejected", exc.code, exc.message
        photo.completed_at = utcnow()
        audit.append(session, user, "photo.reject", "photo", photo.id, {"reason": exc.code})
    session.commit()
    if rejected_now:
        PHOTOS.labels("rejected").inc()
        # Only once the rejection is committed: a retry that then finds no upload reads it (as
        # after a photo is made ready).
        _discard_upload(photo.upload_key, photo.object_key, photo_id)
    if photo.status == "rejected":
        raise rejection(photo)
    return photo


def recheck(session: Session, photo: Photo, user: User | None = None) -> str:
    """Re-hash the sealed original as storage serves it; record and return intact, altered or missing.

    StorageError (the store is down) propagates and records nothing. With a user, the check
    is an audit entry (the console's 重新核验); the public verification page records only the result.
    """
    digest = hashlib.sha256()
    try:
        with storage().open(photo.object_key, version=photo.object_version) as src:
            while chunk := src.read(_READ_CHUNK):
                digest.update(chunk)
        result = "intact" if digest.hexdigest() == photo.sha256 else "altered"
    except ObjectMissing:
        result = "missing"
    photo.checked_at, photo.check_result = utcnow(), result
    if result != "intact":
        current_app.logger.warning("sealed original of photo %s is %s", photo.id, result)
    if user is not None:
        audit.append(session, user, "photo.recheck", "photo", photo.id, {"result": result})
    return result


def stored_exif(photo: Photo) -> ExifInfo | None:
    """The EXIF summary kept on a photo row, as the pipeline's ExifInfo."""
    return ExifInfo.from_dict(photo.exif) if photo.exif else None


def edit_evidence(exif: ExifInfo, reported_taken_at: datetime | None) -> dict[str, str] | None:
    """Why a photo looks edited, or None: its Software tag names an editor, or it has no capture time
    and its last-modified time (IFD0 DateTime) is not the capture time the phone reported."""
    evidence = {}
    if editor := exif.editor():
        evidence["software"] = editor
    if (
        exif.taken_at is None
        and exif.modified_at is not None
        and reported_taken_at is not None
        and abs(exif.modified_at - reported_taken_at) > EXIF_TIME_TOLERANCE
    ):
        evidence["modified_at"] = exif.modified_at.isoformat()
    return evidence or None


def ready_drafts(session: Session, user: User, draft_kind: str) -> list[Photo]:
    """The user's checked photos of one draft kind not yet attached to anything, oldest first."""
    stmt = select(Photo).where(
        Photo.owner_kind == draft_kind,
        Photo.owner_id == user.id,
        Photo.uploader_id == user.id,
        Photo.status == "ready",
    )
    return list(session.scalars(stmt.order_by(Photo.id)))


def attach_drafts(
    photo_list: list[Photo], place: Place | None, session: Session, owner_kind: str, owner_id: int
) -> None:
    """Give ready draft photos their owner; their place flags are judged now that the place is known."""
    for photo in photo_list:
        duplicate = session.get(Photo, photo.duplicate_of_id) if photo.duplicate_of_id else None
        photo.flags = photo_flags(photo, place, stored_exif(photo), duplicate)
        photo.owner_kind, photo.owner_id = owner_kind, owner_id


def photo_flags(photo: Photo, place: Place | None, exif, duplicate: Photo | None) -> list[str]:
    """Integrity flags of a completed photo (with those its ticket declared)."""
    flags = [f for f in photo.flags or [] if f in TICKET_FLAGS]
    if place is not None and photo.lat is not None:
        d = geo.distance_to_place_m(photo.lat, photo.lng, center=(place.lat, place.lng), boundary=place.boundary)
        if d > place.radius_m + FAR_MARGIN_M:
            flags.append("capture_far")
    if exif is None:
        flags.append("no_exif")
    else:
        if place is not None and exif.lat is not None and exif.lng is not None:
            d = geo.distance_to_place_m(exif.lat, exif.lng, center=(place.lat, place.lng), boundary=place.boundary)
            if d > place.radius_m + FAR_MARGIN_M:
                flags.append("exif_gps_far")
        if (
            exif.taken_at is not None
            and photo.taken_at is not None
            and (abs(exif.taken_at - photo.taken_at) > EXIF_TIME_TOLERANCE)
        ):
            flags.append("exif_time_mismatch")
        if edit_evidence(exif, photo.taken_at):
            flags.append("exif_edited")
    if duplicate is not None:
        flags.append("duplicate")
    return flags


def find_duplicate(
    session: Session, photo: Photo, sha256: str, processed: ProcessedPhoto, county_id: int | None
) -> Photo | None:
    """An earlier ready photo with the same bytes, or a near-identical one of the same county owned by someone else.

    Near-identical means a canonical region hash of one within phash.NEAR_DUPLICATE_DISTANCE of
    a canonical region hash of the other (crops, rotations, flips, re-encodes and screenshots
    of an earlier photo), confirmed on a finer grid from both thumbnails. Every stored region
    hash is cut into bands and the index is asked, per new hash and band, for the stored hashes
    whose band value is within phash.BAND_RADIUS bits of the new hash's and whose whole hash is
    within that distance (near_candidates): every stored hash within the distance is found.

    Identical bytes are looked for in every county (one indexed equality); near-identical ones in
    `county_id`'s photos (every county's when it is None, as for a villager's photo before its
    feedback names the project): a county's index rows are a hundredth of a province's, and the
    nightly pass (services.cross_county) looks across counties.
    """
    exact = session.scalars(
        select(Photo)
        .where(Photo.sha256 == sha256, Photo.id != photo.id, Photo.status == "ready")
        .order_by(Photo.id)
        .limit(1)
    ).first()
    if exact is not None:
        return exact
    if phash.is_flat(processed.structure, processed.phash):
        # A flat frame (lens covered, blank wall) hashes to noise or ~all zeros: every such photo
        # would "match" every other. Only identical bytes count for those.
        return None
    query = phash.query_hashes(processed.region_hashes)
    return confirmed_duplicate(session, near_candidates(session, photo, query, county_id), query, processed.thumb_jpeg)


def confirmed_duplicate(
    session: Session,
    candidates: list[tuple[int, str, str | None]],
    query: dict[int, list[tuple[int, int]]],
    thumb_jpeg: bytes,
    *,
    strict: bool = False,
) -> Photo | None:
    """The first of the `candidates` (near_candidates' rows) with a region pairing with one of the `query`
    hashes (phash.query_hashes) that the finer look at both thumbnails confirms; the new photo's is `thumb_jpeg`.
    A candidate's thumbnail storage cannot serve confirms the match, unless `strict` (StorageError raised)."""
    new_thumb = None
    for photo_id, region_hashes, thumb_key in candidates:
        pairs = phash.coarse_pairs(query, phash.parse_hashes(region_hashes))
        new_thumb = new_thumb or Image.open(io.BytesIO(thumb_jpeg))
        if pairs and _confirmed(new_thumb, photo_id, thumb_key, pairs, strict=strict):
            return session.get(Photo, photo_id)
    return None


def near_candidates(
    session: Session, photo: Photo, query: Iterable[int], county_id: int | None = None
) -> list[tuple[int, str, str | None]]:
    """The indexed half of the near-duplicate lookup: the earliest _MAX_FINE_LOOKS photos of other owners
    (in `county_id`, or any county for None) with a region hash within phash.NEAR_DUPLICATE_DISTANCE
    of one of the `query` hashes, as (photo_id, region_hashes, thumb_key)."""
    return earliest_candidates(session, photo, near_photo_ids(query, county_id))


def earliest_candidates(
    session: Session, photo: Photo, near: Select | None, *, completed_before: datetime | None = None
) -> list[tuple[int, str, str | None]]:
    """The earliest _MAX_FINE_LOOKS photos of other owners among those an index query `near` (a select
    of photo_id) names, as near_candidates answers them (scripts/bench_review.py times its baselines so);
    with `completed_before`, only photos completed before then (a later pass over a stored photo)."""
    if near is None:
        return []
    earlier = () if completed_before is None else (Photo.completed_at < completed_before,)
    near = near.subquery()
    # Only the earliest candidates get the finer look, so only those are fetched: a sort of the
    # few true candidates, never of every row sharing a band value.
    return [
        tuple(row)
        for row in session.execute(
            select(Photo.id, Photo.region_hashes, Photo.thumb_key)
            .join(near, near.c.photo_id == Photo.id)
            .where(
                Photo.id != photo.id,
                Photo.region_hashes.is_not(None),
                or_(Photo.owner_kind != photo.owner_kind, Photo.owner_id != photo.owner_id),
                *earlier,
            )
            .order_by(Photo.id)
            .limit(_MAX_FINE_LOOKS)
        )
    ]


def near_photo_ids(
    query: Iterable[int], county_id: int | None = None, *, other_than: int | None = None
) -> Select | None:
    """The index query: the photo_id of every stored region hash within phash.NEAR_DUPLICATE_DISTANCE of a `query`
    hash, in the county `county_id` (None: in any county, and of none), or outside the county
    `other_than` (the nightly pass: what a complete there did not search); None for no hashes."""
    # A join of three row sources, in this order: the query's band values (one row per query hash
    # and band, with the whole hash), the ways to flip up to BAND_RADIUS bits of each band
    # (phash.band_flips: 723 rows), and the index, reached by its (band, value) prefix with the
    # probed value computed from the two rows before it. The database filters the index rows by
    # distance inside the index, so only true candidates come out. A stored hash within the
    # distance always has such a band value (generalised pigeonhole): nothing within it is missed.
    # The statement is ~10 KB (8.5 KB of it the constant flips), where IN lists of every probed
    # value (723 per query hash: ~500 KB for 13 hashes) cost SQLAlchemy, the parser and the range
    # optimizer more than the index reads themselves: 20.7 -> 5.2 ms of app CPU per photo complete
    # (scripts/profile_photos.py), and see scripts/bench_review.py for the database's side. Within
    # one county the index is reached by (band, value, county_id): only that county's rows are read.
    rows = [(band, value, phash.db_hash(h)) for h in query for band, value in enumerate(phash.hash_bands(h))]
    if not rows:
        return None
    table = PhotoHashBand.__tablename__

    def probes(column: str):
        return literal_column(f"probes.{column}", Integer)

    def flips(column: str):
        return literal_column(f"flips.{column}", Integer)

    def bands(column: str):
        return literal_column(f"{table}.{column}", Integer)

    # Rows of no county yet (a villager's photo before its feedback is sent) are not a county's: no
    # one but that villager has the picture until it is sent, and the villager's next photo, of no
    # county either, searches every county. Asking for them too would double a county's ~9,400 probes.
    in_county = () if county_id is None else (bands("county_id") == int(county_id),)
    if other_than is not None:
        in_county += (or_(bands("county_id") != int(other_than), bands("county_id").is_(None)),)
    return (
        select(bands("photo_id").label("photo_id"))
        .distinct()
        # In this order on both databases: without table statistics SQLite would rather scan the
        # index whole than join it last.
        .select_from(
            joined_in_order(
                f"({_rows_sql(('band', 'value', 'hash'), rows)}) AS probes", f"({_FLIPS_SQL}) AS flips", table
            )
        )
        .where(
            flips("band") == probes("band"),
            bands("band") == probes("band"),
            bands("value") == bit_xor(probes("value"), flips("mask")),
            hamming_distance(bands("hash"), probes("hash")) <= literal_column(str(phash.NEAR_DUPLICATE_DISTANCE)),
            *in_county,
        )
    )


def _rows_sql(names: tuple[str, ...], rows: list[tuple[int, ...]]) -> str:
    """Rows of integers as SQL: one SELECT naming the columns, the other rows as one VALUES list
    (a single construct for MariaDB and SQLite to parse). Only integers made by the code (hash bands,
    hashes, masks) are ever written here; int() makes sure nothing else can be."""
    sql = "SELECT " + ", ".join(f"{int(n)} AS {name}" for n, name in zip(rows[0], names, strict=True))
    if len(rows) > 1:
        sql += " UNION ALL VALUES " + ", ".join(f"({', '.join(str(int(n)) for n in row)})" for row in rows[1:])
    return sql


_FLIPS_SQL = _rows_sql(
    ("band", "mask"), [(band, mask) for band, masks in enumerate(phash.band_flips()) for mask in masks]
)


def _confirmed(
    new_thumb: Image.Image, photo_id: int, thumb_key: str | None, pairs: list, *, strict: bool = False
) -> bool:
    """The finer look at a coarse match, on the stored photo's thumbnail; a match stands when it cannot be read
    (with `strict`, storage that does not answer raises StorageError instead: a later pass can wait for it)."""
    try:
        with storage().open(thumb_key) as src:
            data = src.read()
        with Image.open(io.BytesIO(data)) as old_thumb:
            return phash.confirmed(new_thumb, old_thumb, pairs)
    except (ObjectMissing, StorageError, OSError, ValueError, TypeError) as exc:
        if strict and isinstance(exc, StorageError):
            raise
        # A reviewer flag, never a rejection: better one flag too many than a reused photo missed.
        current_app.logger.warning("cannot read the thumbnail of photo %s for the near-duplicate check", photo_id)
        return True


def hash_rows(photo_id: int, region_hashes: tuple[phash.RegionHash, ...], county_id: int | None) -> list[PhotoHashBand]:
    """The band rows that index a photo's canonical region hashes, in its owner's county."""
    return [
        PhotoHashBand(
            photo_id=photo_id, kind=kind, band=band, value=value, hash=phash.db_hash(h.value), county_id=county_id
        )
        for kind, h in enumerate(region_hashes)
        for band, value in enumerate(phash.hash_bands(h.value))
    ]


def rehash(session: Session, *, batch: int = 200) -> dict[str, int]:
    """Give ready photos without region hashes (stored before migration 0012, or cleared by 0017) their hashes and index rows.

    The hashes are taken from the stored 320 px thumbnail, the image complete() hashes; a flat
    frame keeps none (it is matched by identical bytes only). Answers counts by outcome.
    """
    counts = {"hashed": 0, "flat": 0, "unreadable": 0}
    last_id = 0
    while True:
        chunk = session.scalars(
            select(Photo)
            .where(
                Photo.status == "ready", Photo.region_hashes.is_(None), Photo.thumb_key.is_not(None), Photo.id > last_id
            )
            .order_by(Photo.id)
            .limit(batch)
        ).all()
        if not chunk:
            return counts
        for photo in chunk:
            last_id = photo.id
            try:
                with storage().open(photo.thumb_key) as src:
                    data = src.read()
                with Image.open(io.BytesIO(data)) as thumb:
                    region_hashes, structure = phash.region_hashes(thumb)
            except (ObjectMissing, StorageError, OSError, ValueError):
                current_app.logger.warning("cannot hash the thumbnail of photo %s", photo.id, exc_info=True)
                counts["unreadable"] += 1
                continue
            if phash.is_flat(structure, int(photo.phash or "0", 16)):
                counts["flat"] += 1
                continue
            photo.region_hashes = phash.format_hashes(region_hashes)
            session.execute(PhotoHashBand.__table__.delete().where(PhotoHashBand.photo_id == photo.id))
            session.add_all(hash_rows(photo.id, region_hashes, index_county(session, owner_context(session, photo))))
            counts["hashed"] += 1
        session.commit()


def owner_context(session: Session, photo: Photo) -> OwnerContext | None:
    """The context of a photo's owner; None for a kind no owner registered, or an owner not there
    (another county's, for a caller limited to their own)."""
    try:
        return OWNERS[photo.owner_kind](session, photo)
    except (KeyError, NoResultFound):
        return None


def index_county(session: Session, ctx: OwnerContext | None) -> int | None:
    """The county a photo's index rows are kept in: its owner's, else the deployment's only county."""
    county = ctx.county_id if ctx is not None else None
    return county if county is not None else tenancy.only_county(session)


def index_in_county(session: Session, photo_ids: list[int], county_id: int | None) -> None:
    """Put photos whose county is known only now (a villager's drafts, sent with their feedback) in that county's index."""
    if photo_ids and county_id is not None:
        session.execute(
            PhotoHashBand.__table__.update().where(PhotoHashBand.photo_id.in_(photo_ids)).values(county_id=county_id)
        )


def urls(photo: Photo) -> dict[str, str | None]:
    """Short-lived presigned URLs of a ready photo's original and derivatives."""
    if photo.status != "ready":
        return {"thumb_url": None, "preview_url": None, "original_url": None}
    seconds = current_app.config["PHOTO_URL_SECONDS"]
    s = storage()
    return {
        "thumb_url": s.presign_get(photo.thumb_key, expires_in=seconds),
        "preview_url": s.presign_get(photo.preview_key, expires_in=seconds),
        "original_url": s.presign_get(
            photo.object_key,
            expires_in=seconds,
            version=photo.object_version,
            download_name=f"photo-{photo.id}.{photo.object_key.rsplit('.', 1)[-1]}",
        ),
    }
