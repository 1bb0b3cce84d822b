"""The storage interface every backend implements: keys, prefixes, errors, upload tickets."""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import BinaryIO

# Same character set on every backend, so a key that works on a laptop works on S3/COS/OSS.
# Segments may not start with "." so "..", hidden files and our own temp/sidecar files are
# unreachable through a key.
_KEY_SEGMENT = r"[A-Za-z0-9_-][A-Za-z0-9_.-]*"
KEY_RE = re.compile(rf"{_KEY_SEGMENT}(?:/{_KEY_SEGMENT})*")
_KEY_MAX_LENGTH = 512
# The only types a ticket may declare; the policy demands the declared one exactly, so a file
# sent as image/svg+xml (a script the browser would run) never lands under a ticket's key.
UPLOAD_CONTENT_TYPES = frozenset({"image/jpeg", "image/png", "image/webp"})
# Phones upload under UPLOAD_PREFIX; a verified original is written under SEALED_PREFIX, which
# no upload ticket may name, so nothing sent after verification can replace what is served.
UPLOAD_PREFIX = "uploads/"
SEALED_PREFIX = "sealed/"
# Uploads older than this were abandoned or re-sent with a used ticket: the S3 lifecycle rule
# and the local sweep remove them. Far longer than any ticket lives (PHOTO_TICKET_SECONDS).
UPLOAD_RETENTION_DAYS = 7
CHUNK_SIZE = 256 * 1024


class StorageError(Exception):
    """The backend is unreachable or failing; callers keep the work pending and retry later."""


class ObjectMissing(Exception):
    """The key does not exist (for example, the phone never uploaded)."""


class UploadRejected(Exception):
    """LocalStorage refused a signed upload or download; carries an API error code."""

    def __init__(self, code: str, message: str, status: int) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status


@dataclass(frozen=True)
class ObjectInfo:
    """Size and content type of a stored object."""

    size: int
    content_type: str | None


@dataclass(frozen=True)
class UploadTicket:
    """Where and with which form fields a phone POSTs one file; expires_at is UTC."""

    url: str
    fields: dict[str, str]
    expires_at: datetime


def validate_key(key: str) -> str:
    """Return key unchanged if it is a safe relative object key, else raise ValueError."""
    if len(key) > _KEY_MAX_LENGTH or not KEY_RE.fullmatch(key):
        raise ValueError(f"invalid storage key: {key!r}")
    return key


def check_upload_request(key: str, content_type: str, max_bytes: int) -> None:
    """Refuse (ValueError) an upload ticket for a bad or sealed key, a type not allowed, or no room."""
    validate_key(key)
    if key.startswith(SEALED_PREFIX):
        raise ValueError(f"a sealed key cannot be uploaded to: {key!r}")
    if content_type not in UPLOAD_CONTENT_TYPES:
        raise ValueError(f"upload content type must be one of {sorted(UPLOAD_CONTENT_TYPES)}: {content_type!r}")
    if max_bytes < 1:
        raise ValueError(f"max_bytes must be positive: {max_bytes}")


class Storage(ABC):
    """Object storage addressed by keys; URLs are only ever presigned on demand."""

    name: str

    @abstractmethod
    def presign_upload(self, key: str, *, content_type: str, max_bytes: int, expires_in: int = 900) -> UploadTicket:
        """Ticket for a browser/phone-style multipart POST of one file (field `file`) to `key` (never under SEALED_PREFIX): size 1..max_bytes, Content-Type exactly the declared content_type (one of UPLOAD_CONTENT_TYPES, sent as the form field Content-Type)."""

    @abstractmethod
    def presign_get(
        self,
        key: str,
        *,
        expires_in: int = 600,
        download_name: str | None = None,
        version: str | None = None,
    ) -> str:
        """URL that lets anyone GET the object (that version of it, when given) until it expires; download_name makes it an attachment."""

    @abstractmethod
    def head(self, key: str) -> ObjectInfo | None:
        """Size and content type of the object, or None when it does not exist."""

    @abstractmethod
    def open(self, key: str, *, version: str | None = None) -> BinaryIO:
        """Streaming reader of the object (that version of it, when given); the caller closes it."""

    def read(self, key: str, *, limit: int) -> bytes:
        """The object's bytes, or its first limit + 1 when it is larger; ObjectMissing and StorageError as open()."""
        with self.open(key) as src:
            return src.read(limit + 1)

    @abstractmethod
    def put(self, key: str, data: bytes | BinaryIO, *, content_type: str) -> None:
        """Store data under key, replacing any previous object."""

    @abstractmethod
    def put_sealed(self, key: str, data: bytes | BinaryIO, *, content_type: str) -> str | None:
        """Store a verified original under a key below SEALED_PREFIX; the version id to read it by, if the backend keeps versions."""

    def seal_upload(self, upload_key: str, key: str, data: BinaryIO, *, sha256: str, content_type: str) -> str | None:
        """Seal the verified upload `data` (whose SHA-256 is `sha256`, hex), still stored under upload_key, at the sealed key.

        Answers the version id to read it by, if the backend keeps versions. This default sends
        the bytes (put_sealed); a backend that can copy server-side and prove the copy is exactly
        those bytes need not.
        """
        return self.put_sealed(key, data, content_type=content_type)

    def put_retained(self, key: str, data: bytes, *, content_type: str) -> str | None:
        """Store a record that must outlive tampering (an audit checkpoint): retained per object where the backend can; its version id."""
        self.put(key, data, content_type=content_type)
        return None

    @abstractmethod
    def discard_upload(self, key: str) -> None:
        """Remove an upload once its bytes are sealed; the backend makes sure a re-used ticket cannot bring them back into use."""

    @abstractmethod
    def expire_uploads(self) -> int:
        """Apply the clean-up of uploads older than UPLOAD_RETENTION_DAYS (S3: the lifecycle rule; local: a sweep); how many objects went."""

    @abstractmethod
    def delete(self, key: str) -> None:
        """Remove the object; a missing object is not an error."""

    @abstractmethod
    def ping(self) -> None:
        """Raise StorageError unless the backend is reachable and usable."""

    @abstractmethod
    def iter_keys(self, prefix: str = "") -> Iterator[str]:
        """Every object key starting with prefix, in no particular order (backups walk the whole store)."""
