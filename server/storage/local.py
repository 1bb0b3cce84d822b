"""LocalStorage, the embedded default: files in a directory, with the app itself accepting the
signed uploads and serving the signed downloads.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import io
import json
import os
import stat
import tempfile
import time
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO
from urllib.parse import quote, urlencode

from server.storage.base import (
    CHUNK_SIZE,
    KEY_RE,
    SEALED_PREFIX,
    UPLOAD_PREFIX,
    UPLOAD_RETENTION_DAYS,
    ObjectInfo,
    ObjectMissing,
    Storage,
    StorageError,
    UploadRejected,
    UploadTicket,
    check_upload_request,
    validate_key,
)

_SWEEP_INTERVAL_SECONDS = 3600


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

    def presign_upload(self, key: str, *, content_type: str, max_bytes: int, expires_in: int = 900) -> UploadTicket:
        """Signed policy for a multipart POST to the app's upload route (mirrors S3's POST policy, exact Content-Type)."""
        check_upload_request(key, content_type, max_bytes)
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

    def accept_upload(self, fields: Mapping[str, str], stream: BinaryIO, *, content_type: str | None) -> None:
        """Verify the signed policy (signature, expiry, key matches, exact Content-Type, key not sealed: 'upload_sealed' 409) and store the stream atomically (temp file in the same dir + os.replace), streaming in chunks and aborting (UploadRejected code 'upload_too_large', 413) as soon as more than max_bytes arrived; empty → 'upload_empty' 400; bad/expired signature → 'upload_signature_invalid' / 'upload_expired' 403. Nothing partial is ever left behind."""
        invalid = UploadRejected("upload_signature_invalid", "上传凭证无效，请重新获取后再上传", 403)
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
        top = self.root / folder if folder and KEY_RE.fullmatch(folder) else self.root
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

    def _store(self, key: str, stream: BinaryIO, content_type: str, *, max_bytes: int | None) -> None:
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
                while chunk := stream.read(CHUNK_SIZE):
                    size += len(chunk)
                    if max_bytes is not None and size > max_bytes:
                        raise UploadRejected("upload_too_large", f"照片太大，不能超过 {_size_label(max_bytes)}", 413)
                    out.write(chunk)
                if max_bytes is not None and size == 0:
                    raise UploadRejected("upload_empty", "上传的文件是空的，请重新拍摄后再上传", 400)
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
