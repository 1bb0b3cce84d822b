"""Completing an upload: the server verifies the stored object itself."""

from __future__ import annotations

from server.api import endpoint, serialize
from server.db import db
from server.services import photos


def ticket_answer(photo, created: bool):
    """The answer to a ticket request (visit, feedback or rectification photo): 201 first, 200 on retry.

    A pending photo gets a freshly signed upload; a ready or rejected one gets none.
    """
    upload = photos.upload_ticket(photo) if photo.status == "pending" else None
    if upload:
        upload["url"] = serialize.absolute(upload["url"])
    return {"photo_id": photo.id, "photo": serialize.photo(photo), "upload": upload}, 201 if created else 200


@endpoint(
    "/photos/<int:photo_id>/complete",
    "POST",
    summary="Verify the uploaded object (size, image, EXIF, hashes, derivatives, flags); idempotent",
    tag="photos",
    errors=(401, 404, 409, 413, 422, 503),
)
def complete_photo(user, photo_id):
    photo = photos.complete(db.session, user, photo_id)
    return serialize.photo(photo, photos.urls(photo))
