"""Completing an upload: the server verifies the stored object itself."""

from __future__ import annotations

from server.api import endpoint, serialize
from server.db import db
from server.services import photos


@endpoint("/photos/<int:photo_id>/complete", "POST",
          summary="Verify the uploaded object (size, image, EXIF, hashes, derivatives, flags); idempotent",
          tag="photos", errors=(401, 404, 409, 413, 422, 503))
def complete_photo(user, photo_id):
    photo = photos.complete(db.session, user, photo_id)
    return serialize.photo(photo, photos.urls(photo))
