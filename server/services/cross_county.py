"""The nightly look across counties for reused photos (`flask --app server cross-county-duplicates`).

A photo's complete looks for near-duplicates among its own county's photos only
(photos.find_duplicate): a county holds about a hundredth of a province's index rows, so the lookup
stays fast as the province grows (docs/capacity.md). A cheater's earlier photo is nearly always of
their own county, but one taken from another county (a colleague's over the border, a picture seen
on a public page) would then pass the complete. This pass closes that gap. Every night it takes
the photos completed since its last run, in the order they completed, and asks the same index, of
every other county, for earlier photos within the distance, confirmed on the finer grid from both
thumbnails, as a complete does (from the region hashes of the stored thumbnail, which the complete
hashed before its JPEG encoding: a bit may differ). A match is flagged as a complete would have
flagged it (`duplicate_of` and the "duplicate" flag on the photo and, for a visit photo, on its
visit: a reviewer flag shown side by side, never a rejection), with an audit entry in the photo's
county. Identical bytes were already looked for in every county at the complete.

One run at a time (leases). The cursor (JobCursor) moves after every batch, so a run that is
stopped resumes after the last batch it finished; it never reads photos completed in the last
LAG_SECONDS, whose transactions may still be committing with an earlier completed_at. A run stops
itself after RUN_SECONDS, well inside its lease, and the next night goes on from there; when
storage does not answer (the photo's thumbnail or a candidate's) it stops without moving past the
photo it could not check.
"""

from __future__ import annotations

import io
import logging
import time
from datetime import datetime, timedelta

from PIL import Image
from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from server import tenancy
from server.imaging import phash
from server.models import JobCursor, Photo, utcnow
from server.services import audit, leases, photos
from server.storage import ObjectMissing, StorageError
from server.transactions import run_again_on_conflict

log = logging.getLogger(__name__)

JOB = "cross-county-duplicates"
LAG_SECONDS = 600
# A run's lease, and the time after which it stops at the end of a batch (the rest waits for the next night).
JOB_SECONDS = 6 * 3600
RUN_SECONDS = 5 * 3600
OUTCOMES = ("checked", "flagged", "unreadable")  # of check(), counted by a run


@leases.one_run_at_a_time(JOB, seconds=JOB_SECONDS)
def run(session: Session, *, batch: int = 100) -> dict[str, int]:
    """Check every photo completed since the last run against the other counties'; answers counts by outcome
    (and "unfinished": 1 when it stopped at RUN_SECONDS with photos left, "storage_unavailable": 1 when
    storage failed: the batch it was in is done again next time)."""
    counts = dict.fromkeys(OUTCOMES, 0)
    stop_at = time.monotonic() + RUN_SECONDS
    horizon = utcnow() - timedelta(seconds=LAG_SECONDS)
    # A batch flags photos and visits, takes visit rows and the audit chain's head, as completes and
    # submits do by day: when the database picks it as a deadlock's victim, the batch is run again.
    next_batch = run_again_on_conflict(_next_batch, session=session)
    while True:
        done = next_batch(session, horizon, batch)
        if done is None:
            return counts
        if done.get("storage_unavailable"):
            counts["storage_unavailable"] = 1
            return counts
        for outcome, n in done.items():
            counts[outcome] += n
        if time.monotonic() > stop_at:
            counts["unfinished"] = 1
            return counts


def _next_batch(session: Session, horizon: datetime, batch: int) -> dict[str, int] | None:
    """Check the next `batch` photos after the cursor and move the cursor past them, in one transaction.

    Answers counts by outcome; {"storage_unavailable": 1} when storage failed (nothing of the batch is
    kept); None when no photo is left."""
    cursor = session.get(JobCursor, JOB)
    if cursor is None:
        cursor = JobCursor(name=JOB, done_until=None, last_id=0)
        session.add(cursor)
    stmt = select(Photo).where(Photo.status == "ready", Photo.region_hashes.is_not(None), Photo.completed_at <= horizon)
    if cursor.done_until is not None:
        stmt = stmt.where(
            or_(
                Photo.completed_at > cursor.done_until,
                and_(Photo.completed_at == cursor.done_until, Photo.id > cursor.last_id),
            )
        )
    chunk = session.scalars(stmt.order_by(Photo.completed_at, Photo.id).limit(batch)).all()
    if not chunk:
        session.commit()
        return None
    done = dict.fromkeys(OUTCOMES, 0)
    try:
        for photo in chunk:
            if photo.duplicate_of_id is None:
                done[check(session, photo)] += 1
            cursor.done_until, cursor.last_id = photo.completed_at, photo.id
    except StorageError as exc:
        session.rollback()  # the batch is done again next time: it counts for nothing now
        log.warning("storage unavailable during the cross-county check, stopping: %s", exc)
        return {"storage_unavailable": 1}
    cursor.updated_at = utcnow()
    session.commit()
    return done


def check(session: Session, photo: Photo) -> str:
    """Look for an earlier photo of any county that `photo` copies; flag it when found ("flagged", else "checked")."""
    try:
        with photos.storage().open(photo.thumb_key) as src:
            thumb_jpeg = src.read()
        with Image.open(io.BytesIO(thumb_jpeg)) as thumb:
            regions, _structure = phash.region_hashes(thumb)
    except (ObjectMissing, OSError, ValueError):  # StorageError (storage down) stops the run instead
        log.warning("cannot read the thumbnail of photo %s for the cross-county check", photo.id)
        return "unreadable"
    # The region hashes of the stored thumbnail, with the close orientations a complete looks up too;
    # asked of the other counties only: its own county's were searched at its complete, and their
    # look-alikes (the same notice board every month) would take the few finer looks.
    query = phash.query_hashes(regions)
    ctx = photos.owner_context(session, photo)
    own = photos.index_county(session, ctx)
    candidates = photos.earliest_candidates(
        session, photo, photos.near_photo_ids(query, other_than=own), completed_before=photo.completed_at
    )
    duplicate = photos.confirmed_duplicate(session, candidates, query, thumb_jpeg, strict=True)
    if duplicate is None:
        return "checked"
    photo.duplicate_of_id = duplicate.id
    if "duplicate" not in (photo.flags or []):
        photo.flags = [*(photo.flags or []), "duplicate"]
    if ctx is not None and ctx.after_ready:  # the owner takes the photo's flags (a visit: its flag index and counts)
        ctx.after_ready(session, photo)
    with tenancy.acting_in(session, own if own is not None else tenancy.DEPLOYMENT_CHAIN):
        audit.append(
            session, None, "photo.duplicate_found", "photo", photo.id, {"duplicate_of": duplicate.id, "by": JOB}
        )
    return "flagged"
