"""Object storage for photos and derived files: one interface, two backends.

Phones upload straight to the backend with a presigned multipart POST (wx.uploadFile), and
readers get short-lived presigned GET URLs, so the database only ever holds object keys.
``S3Storage`` talks to AWS S3, MinIO, Tencent COS or Aliyun OSS through boto3;
``LocalStorage`` is the embedded default for a laptop: files in a directory, with the Flask
app itself accepting the signed uploads and serving the signed downloads.

These classes never read Flask's request: the routes pass the form fields, the stream and
the query arguments in.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import io
import json
import os
import re
import stat
import tempfile
import time
from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, BinaryIO
from urllib.parse import quote, urlencode

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError, ParamValidationError

# Same character set on every backend, so a key that works on a laptop works on S3/COS/OSS.
# Segments may not start with "." so "..", hidden files and our own temp/sidecar files are
# unreachable through a key.
_KEY_SEGMENT = r"[A-Za-z0-9_-][A-Za-z0-9_.-]*"
_KEY_RE = re.compile(rf"{_KEY_SEGMENT}(?:/{_KEY_SEGMENT})*")
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
_SWEEP_INTERVAL_SECONDS = 3600
_CHUNK_SIZE = 256 * 1024
_MISSING_CODES = {"NoSuchKey", "404", "NotFound"}


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
    if len(key) > _KEY_MAX_LENGTH or not _KEY_RE.fullmatch(key):
        raise ValueError(f"invalid storage key: {key!r}")
    return key


def _check_upload_request(key: str, content_type: str, max_bytes: int) -> None:
    validate_key(key)
    if key.startswith(SEALED_PREFIX):
        raise ValueError(f"a sealed key cannot be uploaded to: {key!r}")
    if content_type not in UPLOAD_CONTENT_TYPES:
        raise ValueError(
            f"upload content type must be one of {sorted(UPLOAD_CONTENT_TYPES)}: {content_type!r}"
        )
    if max_bytes < 1:
        raise ValueError(f"max_bytes must be positive: {max_bytes}")


class Storage(ABC):
    """Object storage addressed by keys; URLs are only ever presigned on demand."""

    name: str

    @abstractmethod
    def presign_upload(
        self, key: str, *, content_type: str, max_bytes: int, expires_in: int = 900
    ) -> UploadTicket:
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

    @abstractmethod
    def put(self, key: str, data: bytes | BinaryIO, *, content_type: str) -> None:
        """Store data under key, replacing any previous object."""

    @abstractmethod
    def put_sealed(self, key: str, data: bytes | BinaryIO, *, content_type: str) -> str | None:
        """Store a verified original under a key below SEALED_PREFIX; the version id to read it by, if the backend keeps versions."""

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


def _b64encode(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _b64decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _size_label(max_bytes: int) -> str:
    if max_bytes >= 1024 * 1024:
        return f"{max_bytes / (1024 * 1024):g} MB"
    return f"{max_bytes / 1024:g} KB"


class LocalStorage(Storage):
    """Files under a directory; the app's own routes accept signed uploads and serve signed GETs.

    The upload route passes its form and file stream to ``accept_upload``; the download route
    passes its query arguments to ``verify_get`` and serves the returned file, using the
    (signed) ``name`` argument, when present, as the attachment's download name.
    """

    name = "local"
    UPLOAD_PATH = "/api/v1/storage/upload"
    OBJECT_PATH = "/api/v1/storage/object"

    def __init__(self, root: str | Path, *, secret_key: str, public_base_url: str = "") -> None:
        if not secret_key:
            raise ValueError("LocalStorage needs a secret_key to sign URLs")
        self.root = Path(root).resolve()
        # Created up front so /healthz is green on a fresh laptop and a bad path fails at start-up.
        self.root.mkdir(parents=True, exist_ok=True)
        self.public_base_url = public_base_url.rstrip("/")
        # Separate derived keys: an upload signature can never be replayed as a download one.
        master = secret_key.encode("utf-8")
        self._upload_key = hmac.new(master, b"storage-upload-v1", hashlib.sha256).digest()
        self._get_key = hmac.new(master, b"storage-get-v1", hashlib.sha256).digest()
        self._last_sweep = 0.0

    def _path(self, key: str) -> Path:
        return self.root / validate_key(key)

    @staticmethod
    def _meta_path(path: Path) -> Path:
        return path.with_name(f".{path.name}.content-type")

    @staticmethod
    def _sealed_marker(path: Path) -> Path:
        # Left where an upload was once its bytes were sealed: the upload route then refuses
        # the key for as long as any ticket for it can live (the sweep removes it later).
        return path.with_name(f".{path.name}.sealed")

    @staticmethod
    def _sign(key: bytes, message: str) -> str:
        return _b64encode(hmac.new(key, message.encode("utf-8"), hashlib.sha256).digest())

    def presign_upload(
        self, key: str, *, content_type: str, max_bytes: int, expires_in: int = 900
    ) -> UploadTicket:
        """Signed policy for a multipart POST to the app's upload route (mirrors S3's POST policy, exact Content-Type)."""
        _check_upload_request(key, content_type, max_bytes)
        expires = int(time.time()) + expires_in
        policy = _b64encode(
            json.dumps(
                {
                    "key": key,
                    "max_bytes": max_bytes,
                    "content_type": content_type,
                    "expires": expires,
                },
                separators=(",", ":"),
            ).encode("utf-8")
        )
        return UploadTicket(
            url=f"{self.public_base_url}{self.UPLOAD_PATH}",
            fields={
                "key": key,
                "Content-Type": content_type,
                "policy": policy,
                "signature": self._sign(self._upload_key, policy),
            },
            expires_at=datetime.fromtimestamp(expires, UTC),
        )

    def accept_upload(
        self, fields: Mapping[str, str], stream: BinaryIO, *, content_type: str | None
    ) -> None:
        """Verify the signed policy (signature, expiry, key matches, exact Content-Type, key not sealed: 'upload_sealed' 409) and store the stream atomically (temp file in the same dir + os.replace), streaming in chunks and aborting (UploadRejected code 'upload_too_large', 413) as soon as more than max_bytes arrived; empty → 'upload_empty' 400; bad/expired signature → 'upload_signature_invalid' / 'upload_expired' 403. Nothing partial is ever left behind."""
        invalid = UploadRejected(
            "upload_signature_invalid", "上传凭证无效，请重新获取后再上传", 403
        )
        policy_text = fields.get("policy", "")
        signature = fields.get("signature", "")
        if not policy_text or not hmac.compare_digest(
            signature.encode("utf-8"), self._sign(self._upload_key, policy_text).encode("utf-8")
        ):
            raise invalid
        policy = json.loads(_b64decode(policy_text))
        if time.time() >= policy["expires"]:
            raise UploadRejected("upload_expired", "上传凭证已过期，请重新获取后再上传", 403)
        key = fields.get("key", "")
        if key != policy["key"]:
            raise invalid
        # As on S3, the form field decides the stored type; the file part's own type is only a
        # fallback for clients that leave the field out. It must be the declared type exactly.
        stored_type = fields.get("Content-Type") or content_type or ""
        if stored_type != policy.get("content_type"):
            raise UploadRejected("upload_content_type_invalid", "只能上传图片文件", 400)
        if self._sealed_marker(self._path(key)).exists():
            raise UploadRejected("upload_sealed", "这张照片已校验封存,不能再次上传", 409)
        self._store(key, stream, stored_type, max_bytes=policy["max_bytes"])
        if time.time() - self._last_sweep > _SWEEP_INTERVAL_SECONDS:
            self.expire_uploads()

    def presign_get(
        self,
        key: str,
        *,
        expires_in: int = 600,
        download_name: str | None = None,
        version: str | None = None,
    ) -> str:
        """Signed URL of the app's download route; download_name is signed along with the key (files have no versions)."""
        validate_key(key)
        expires = int(time.time()) + expires_in
        args = {"key": key, "expires": str(expires)}
        if download_name:
            args["name"] = download_name
        args["sig"] = self._sign(self._get_key, self._get_message(args))
        return f"{self.public_base_url}{self.OBJECT_PATH}?{urlencode(args, quote_via=quote)}"

    @staticmethod
    def _get_message(args: Mapping[str, str]) -> str:
        # The key holds no newline (validated) and the name comes last, so this is unambiguous.
        return f"{args.get('key', '')}\n{args.get('expires', '')}\n{args.get('name', '')}"

    def verify_get(self, args: Mapping[str, str]) -> Path:
        """Check a presigned GET's expiry and signature and return the file's path; UploadRejected(403) otherwise, ObjectMissing if gone."""
        expected = self._sign(self._get_key, self._get_message(args))
        if (
            not hmac.compare_digest(args.get("sig", "").encode("utf-8"), expected.encode("utf-8"))
            or not args.get("expires", "").isdigit()
        ):
            raise UploadRejected("download_signature_invalid", "链接无效", 403)
        if time.time() >= int(args["expires"]):
            raise UploadRejected("download_expired", "链接已过期，请刷新页面后重试", 403)
        path = self._path(args["key"])
        if not path.is_file():
            raise ObjectMissing(args["key"])
        return path

    def head(self, key: str) -> ObjectInfo | None:
        """Size and content type from the file and its sidecar, or None when missing."""
        path = self._path(key)
        try:
            status = path.stat()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise StorageError(f"cannot stat {key}: {exc}") from exc
        # "a" is only a directory when keys like "a/b" exist; as on S3, that is no object.
        if not stat.S_ISREG(status.st_mode):
            return None
        try:
            content_type: str | None = self._meta_path(path).read_text("utf-8")
        except FileNotFoundError:
            # Files copied in by hand have no sidecar; the size is still true.
            content_type = None
        except OSError as exc:
            raise StorageError(f"cannot read metadata of {key}: {exc}") from exc
        return ObjectInfo(size=status.st_size, content_type=content_type)

    def open(self, key: str, *, version: str | None = None) -> BinaryIO:
        """The file opened for binary reading (files have no versions)."""
        path = self._path(key)
        try:
            return path.open("rb")
        except (FileNotFoundError, IsADirectoryError) as exc:
            raise ObjectMissing(key) from exc
        except OSError as exc:
            raise StorageError(f"cannot open {key}: {exc}") from exc

    def put(self, key: str, data: bytes | BinaryIO, *, content_type: str) -> None:
        """Write data atomically under key with its content type in a sidecar file."""
        stream = io.BytesIO(data) if isinstance(data, bytes | bytearray) else data
        self._store(key, stream, content_type, max_bytes=None)

    def put_sealed(self, key: str, data: bytes | BinaryIO, *, content_type: str) -> str | None:
        """Write a sealed original once; sealing the same bytes again (a retried complete) is a no-op, other bytes a StorageError."""
        if not validate_key(key).startswith(SEALED_PREFIX):
            raise ValueError(f"not a sealed key: {key!r}")
        raw = data if isinstance(data, bytes | bytearray) else data.read()
        path = self._path(key)
        if path.is_file():
            if hashlib.sha256(path.read_bytes()).digest() != hashlib.sha256(raw).digest():
                raise StorageError(f"sealed object {key} exists with other content")
            return None
        self.put(key, raw, content_type=content_type)
        return None

    def discard_upload(self, key: str) -> None:
        """Mark the upload key sealed (refusing later uploads to it), then delete the upload."""
        path = self._path(key)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._sealed_marker(path).touch()
        except OSError as exc:
            raise StorageError(f"cannot mark {key} sealed: {exc}") from exc
        self.delete(key)

    def expire_uploads(self) -> int:
        """Delete files (and seal markers) under UPLOAD_PREFIX older than UPLOAD_RETENTION_DAYS."""
        self._last_sweep = time.time()
        cutoff = self._last_sweep - UPLOAD_RETENTION_DAYS * 86400
        removed = 0
        try:
            for directory, _subdirs, files in os.walk(self.root / UPLOAD_PREFIX):
                for name in files:
                    path = Path(directory) / name
                    with contextlib.suppress(FileNotFoundError):
                        if path.stat().st_mtime < cutoff:
                            path.unlink()
                            removed += not name.startswith(".")
        except OSError as exc:
            raise StorageError(f"cannot sweep uploads under {self.root}: {exc}") from exc
        return removed

    def delete(self, key: str) -> None:
        """Remove the file and its sidecar; missing files are fine."""
        path = self._path(key)
        try:
            path.unlink(missing_ok=True)
            self._meta_path(path).unlink(missing_ok=True)
        except OSError as exc:
            raise StorageError(f"cannot delete {key}: {exc}") from exc

    def ping(self) -> None:
        """Raise StorageError unless the root directory exists and is writable."""
        if not self.root.is_dir() or not os.access(self.root, os.W_OK | os.X_OK):
            raise StorageError(f"storage directory {self.root} is missing or not writable")

    def iter_keys(self, prefix: str = "") -> Iterator[str]:
        """Relative paths of the files under the root, leaving out temp and sidecar files."""
        # Walk only the deepest folder the prefix names, as S3 lists only matching keys.
        folder, _, _ = prefix.rpartition("/")
        top = self.root / folder if folder and _KEY_RE.fullmatch(folder) else self.root
        try:
            for directory, subdirs, files in os.walk(top):
                subdirs[:] = [d for d in subdirs if not d.startswith(".")]
                base = Path(directory).relative_to(self.root)
                for name in files:
                    key = (base / name).as_posix()
                    if not name.startswith(".") and key.startswith(prefix):
                        yield key
        except OSError as exc:
            raise StorageError(f"cannot list {self.root}: {exc}") from exc

    def _store(
        self, key: str, stream: BinaryIO, content_type: str, *, max_bytes: int | None
    ) -> None:
        """Copy stream to key via a temp file; max_bytes turns on the upload size checks."""
        path = self._path(key)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            # Temp files start with "." so no key can name them, and live in the target
            # directory so os.replace is an atomic rename on the same file system.
            fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=".partial-")
        except OSError as exc:
            raise StorageError(f"cannot write {key}: {exc}") from exc
        try:
            with os.fdopen(fd, "wb") as out:
                size = 0
                while chunk := stream.read(_CHUNK_SIZE):
                    size += len(chunk)
                    if max_bytes is not None and size > max_bytes:
                        raise UploadRejected(
                            "upload_too_large", f"照片太大，不能超过 {_size_label(max_bytes)}", 413
                        )
                    out.write(chunk)
                if max_bytes is not None and size == 0:
                    raise UploadRejected(
                        "upload_empty", "上传的文件是空的，请重新拍摄后再上传", 400
                    )
                out.flush()
                # Without fsync a power cut after the rename can leave an empty photo behind.
                os.fsync(out.fileno())
            self._write_meta(path, content_type)
            os.replace(tmp_name, path)
        except BaseException as exc:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp_name)
            if isinstance(exc, OSError):
                raise StorageError(f"cannot write {key}: {exc}") from exc
            raise

    def _write_meta(self, path: Path, content_type: str) -> None:
        # Written (atomically) before the object itself, so a visible object always has its type.
        fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=".partial-")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                out.write(content_type)
            os.replace(tmp_name, self._meta_path(path))
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp_name)
            raise


class _S3Reader(io.RawIOBase):
    """Raw stream over a botocore StreamingBody that turns mid-read network errors into StorageError."""

    def __init__(self, body: Any, key: str) -> None:
        super().__init__()
        self._body = body
        self._key = key

    def readable(self) -> bool:
        """Always readable."""
        return True

    def readinto(self, buffer: Any) -> int:
        """Fill buffer from the response body; 0 at the end."""
        try:
            data = self._body.read(len(buffer))
        except BotoCoreError as exc:
            raise StorageError(f"S3 read of {self._key} failed: {exc}") from exc
        buffer[: len(data)] = data
        return len(data)

    def close(self) -> None:
        """Release the HTTP connection."""
        if not self.closed:
            self._body.close()
        super().close()


def _content_disposition(download_name: str) -> str:
    # RFC 6266: an ASCII fallback for old clients plus the UTF-8 name for Chinese file names.
    fallback = re.sub(r"[^A-Za-z0-9._ -]", "_", download_name) or "download"
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(download_name, safe='')}"


class S3Storage(Storage):
    """A bucket on AWS S3 or an S3-compatible service (MinIO, Tencent COS, Aliyun OSS)."""

    name = "s3"

    def __init__(
        self,
        *,
        bucket: str,
        endpoint_url: str | None = None,
        region: str | None = None,
        access_key_id: str | None = None,
        secret_access_key: str | None = None,
        addressing_style: str = "auto",
        timeout: float = 10,
        object_lock_mode: str | None = None,
        object_lock_days: int = 0,
    ) -> None:
        if addressing_style not in ("auto", "path", "virtual"):
            raise ValueError(f"unknown S3 addressing style: {addressing_style!r}")
        if object_lock_mode not in (None, "GOVERNANCE", "COMPLIANCE"):
            raise ValueError(f"unknown S3 object lock mode: {object_lock_mode!r}")
        if object_lock_mode and object_lock_days < 1:
            raise ValueError("S3 object lock needs a retention of at least one day")
        self.bucket = bucket
        # With Object Lock each sealed original is kept under retention and read by its
        # VersionId: a later PUT or DELETE to the key makes a new version that is never served.
        self.object_lock_mode = object_lock_mode
        self.object_lock_days = object_lock_days
        config = Config(
            signature_version="s3v4",
            s3={"addressing_style": addressing_style},
            # A hung S3 must free the worker thread well before the phone gives up (wx.request
            # waits 60 s): at most two attempts of `timeout` seconds each per call.
            connect_timeout=timeout,
            read_timeout=timeout,
            retries={"mode": "standard", "max_attempts": 2},
            # botocore >= 1.36 adds CRC checksums (aws-chunked trailers on streams) by default,
            # which several S3-compatible services reject; send them only where S3 demands them.
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
        )
        # A session of our own: boto3's default session is not safe to share across threads.
        session = boto3.session.Session(
            aws_access_key_id=access_key_id or None,
            aws_secret_access_key=secret_access_key or None,
            region_name=region or None,
        )
        self.client = session.client("s3", endpoint_url=endpoint_url or None, config=config)

    @contextlib.contextmanager
    def _errors(self, action: str, missing: str | None = None) -> Iterator[None]:
        """Translate botocore errors: a 404 → ObjectMissing(missing) when given, else StorageError."""
        try:
            yield
        except ClientError as exc:
            error = exc.response.get("Error", {})
            code = str(error.get("Code", ""))
            if missing is not None and code in _MISSING_CODES:
                raise ObjectMissing(missing) from exc
            raise StorageError(f"S3 {action} failed: {code} {error.get('Message', '')}") from exc
        except ParamValidationError:
            # A bug in our call, not an outage: retrying later would not help.
            raise
        except BotoCoreError as exc:
            raise StorageError(f"S3 {action} failed: {exc}") from exc

    def presign_upload(
        self, key: str, *, content_type: str, max_bytes: int, expires_in: int = 900
    ) -> UploadTicket:
        """Presigned POST whose policy makes S3 enforce the size range and the exact content type."""
        _check_upload_request(key, content_type, max_bytes)
        expires_at = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=expires_in)
        with self._errors("presign upload"):
            post = self.client.generate_presigned_post(
                self.bucket,
                key,
                Fields={"Content-Type": content_type},
                Conditions=[
                    ["content-length-range", 1, max_bytes],
                    ["eq", "$Content-Type", content_type],
                ],
                ExpiresIn=expires_in,
            )
        return UploadTicket(url=post["url"], fields=dict(post["fields"]), expires_at=expires_at)

    def presign_get(
        self,
        key: str,
        *,
        expires_in: int = 600,
        download_name: str | None = None,
        version: str | None = None,
    ) -> str:
        """Presigned GetObject URL (of that version, when given); download_name asks S3 for an attachment Content-Disposition."""
        params = {"Bucket": self.bucket, "Key": validate_key(key)}
        if version:
            params["VersionId"] = version
        if download_name:
            params["ResponseContentDisposition"] = _content_disposition(download_name)
        with self._errors("presign get"):
            return self.client.generate_presigned_url(
                "get_object", Params=params, ExpiresIn=expires_in
            )

    def head(self, key: str) -> ObjectInfo | None:
        """HeadObject; None when the key does not exist."""
        try:
            with self._errors("head", validate_key(key)):
                response = self.client.head_object(Bucket=self.bucket, Key=key)
        except ObjectMissing:
            # HEAD answers carry no error body, so a missing bucket is a bare 404 as well;
            # confirm the bucket so a misconfiguration is an outage, not "never uploaded".
            self.ping()
            return None
        return ObjectInfo(size=response["ContentLength"], content_type=response.get("ContentType"))

    def open(self, key: str, *, version: str | None = None) -> BinaryIO:
        """GetObject body (of that version, when given) as a buffered stream that raises StorageError on network failures."""
        kwargs = {"VersionId": version} if version else {}
        with self._errors("get", validate_key(key)):
            response = self.client.get_object(Bucket=self.bucket, Key=key, **kwargs)
        return io.BufferedReader(_S3Reader(response["Body"], key), buffer_size=_CHUNK_SIZE)

    def put(self, key: str, data: bytes | BinaryIO, *, content_type: str) -> None:
        """PutObject with the given content type."""
        validate_key(key)
        if not isinstance(data, bytes | bytearray) and not data.seekable():
            # botocore rewinds the body to sign and to retry it, so a one-way stream is buffered.
            data = data.read()
        with self._errors("put"):
            self.client.put_object(Bucket=self.bucket, Key=key, Body=data, ContentType=content_type)

    def put_sealed(self, key: str, data: bytes | BinaryIO, *, content_type: str) -> str | None:
        """PutObject of a verified original, under per-object retention when Object Lock is on; its VersionId."""
        if not validate_key(key).startswith(SEALED_PREFIX):
            raise ValueError(f"not a sealed key: {key!r}")
        return self._put_locked(key, data, content_type=content_type, what="put sealed")

    def put_retained(self, key: str, data: bytes, *, content_type: str) -> str | None:
        """PutObject of an audit checkpoint, under per-object retention when Object Lock is on; its VersionId."""
        return self._put_locked(validate_key(key), data, content_type=content_type, what="put retained")

    def _put_locked(self, key: str, data: bytes | BinaryIO, *, content_type: str, what: str) -> str | None:
        """PutObject with Object Lock retention when configured; its VersionId."""
        if not isinstance(data, bytes | bytearray) and not data.seekable():
            data = data.read()
        kwargs: dict[str, Any] = {}
        if self.object_lock_mode:
            kwargs["ObjectLockMode"] = self.object_lock_mode
            kwargs["ObjectLockRetainUntilDate"] = datetime.now(UTC) + timedelta(
                days=self.object_lock_days
            )
            # S3 requires a checksum on a PUT that sets retention.
            kwargs["ChecksumAlgorithm"] = "SHA256"
        with self._errors(what):
            response = self.client.put_object(
                Bucket=self.bucket, Key=key, Body=data, ContentType=content_type, **kwargs
            )
        return response.get("VersionId")

    def discard_upload(self, key: str) -> None:
        """Delete the upload; in a versioned (Object Lock) bucket every version of it, so none lingers."""
        validate_key(key)
        if not self.object_lock_mode:
            self.delete(key)
            return
        with self._errors("delete upload"):
            listing = self.client.list_object_versions(Bucket=self.bucket, Prefix=key)
            for item in [*listing.get("Versions", []), *listing.get("DeleteMarkers", [])]:
                if item["Key"] == key:
                    self.client.delete_object(
                        Bucket=self.bucket, Key=key, VersionId=item["VersionId"]
                    )

    def expire_uploads(self) -> int:
        """Put the bucket's lifecycle rule: uploads (and old versions of them) expire after UPLOAD_RETENTION_DAYS; S3 does the deleting, so 0."""
        rule = {
            "ID": "expire-left-behind-uploads",
            "Filter": {"Prefix": UPLOAD_PREFIX},
            "Status": "Enabled",
            "Expiration": {"Days": UPLOAD_RETENTION_DAYS},
            "NoncurrentVersionExpiration": {"NoncurrentDays": 1},
            "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 1},
        }
        with self._errors("put lifecycle"):
            self.client.put_bucket_lifecycle_configuration(
                Bucket=self.bucket, LifecycleConfiguration={"Rules": [rule]}
            )
        return 0

    def delete(self, key: str) -> None:
        """DeleteObject, which S3 answers with success for missing keys too."""
        with self._errors("delete"):
            self.client.delete_object(Bucket=self.bucket, Key=validate_key(key))

    def ping(self) -> None:
        """HeadBucket: checks the endpoint, the credentials and that the bucket exists."""
        with self._errors("ping"):
            self.client.head_bucket(Bucket=self.bucket)

    def iter_keys(self, prefix: str = "") -> Iterator[str]:
        """ListObjectsV2, page by page."""
        paginator = self.client.get_paginator("list_objects_v2")
        with self._errors("list"):
            for page in paginator.paginate(Bucket=self.bucket, Prefix=prefix):
                for item in page.get("Contents", []):
                    yield item["Key"]

    def ensure_bucket(self) -> None:
        """Create the bucket if it does not exist yet (demo set-up and tests)."""
        # A missing bucket surfaces as ObjectMissing here; every other failure as StorageError.
        with contextlib.suppress(ObjectMissing), self._errors("head bucket", self.bucket):
            self.client.head_bucket(Bucket=self.bucket)
            return
        kwargs: dict[str, Any] = {"Bucket": self.bucket}
        if self.object_lock_mode:
            kwargs["ObjectLockEnabledForBucket"] = True
        region = self.client.meta.region_name
        # us-east-1 is the one region that rejects an explicit LocationConstraint.
        if region and region != "us-east-1":
            kwargs["CreateBucketConfiguration"] = {"LocationConstraint": region}
        with self._errors("create bucket"):
            self.client.create_bucket(**kwargs)


def storage_from_config(cfg: Mapping[str, Any]) -> Storage:
    """Build the backend from app config keys: STORAGE_BACKEND ('local' default | 's3'), STORAGE_DIR, SECRET_KEY, PUBLIC_BASE_URL, S3_ENDPOINT_URL, S3_BUCKET, S3_REGION, S3_ACCESS_KEY_ID, S3_SECRET_ACCESS_KEY, S3_ADDRESSING_STYLE ('auto'|'path'|'virtual'), S3_TIMEOUT_SECONDS, S3_OBJECT_LOCK_MODE, S3_OBJECT_LOCK_DAYS."""
    backend = cfg.get("STORAGE_BACKEND") or "local"
    if backend == "local":
        if not cfg.get("STORAGE_DIR"):
            raise ValueError("STORAGE_DIR must be set for the local storage backend")
        return LocalStorage(
            cfg["STORAGE_DIR"],
            secret_key=cfg.get("SECRET_KEY") or "",
            public_base_url=cfg.get("PUBLIC_BASE_URL") or "",
        )
    if backend == "s3":
        if not cfg.get("S3_BUCKET"):
            raise ValueError("S3_BUCKET must be set for the s3 storage backend")
        return S3Storage(
            bucket=cfg["S3_BUCKET"],
            endpoint_url=cfg.get("S3_ENDPOINT_URL") or None,
            region=cfg.get("S3_REGION") or None,
            access_key_id=cfg.get("S3_ACCESS_KEY_ID") or None,
            secret_access_key=cfg.get("S3_SECRET_ACCESS_KEY") or None,
            addressing_style=cfg.get("S3_ADDRESSING_STYLE") or "auto",
            timeout=cfg.get("S3_TIMEOUT_SECONDS") or 10,
            object_lock_mode=cfg.get("S3_OBJECT_LOCK_MODE") or None,
            object_lock_days=cfg.get("S3_OBJECT_LOCK_DAYS") or 0,
        )
    raise ValueError(f"unknown STORAGE_BACKEND: {backend!r} (expected 'local' or 's3')")
