"""S3Storage: a bucket on AWS S3 or an S3-compatible service, through boto3."""

from __future__ import annotations

import base64
import contextlib
import io
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any, BinaryIO
from urllib.parse import quote

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError, ParamValidationError

from server.storage.base import (
    CHUNK_SIZE,
    SEALED_PREFIX,
    UPLOAD_PREFIX,
    UPLOAD_RETENTION_DAYS,
    ObjectInfo,
    ObjectMissing,
    Storage,
    StorageError,
    UploadTicket,
    check_upload_request,
    validate_key,
)

_MISSING_CODES = {"NoSuchKey", "404", "NotFound"}


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

    def presign_upload(self, key: str, *, content_type: str, max_bytes: int, expires_in: int = 900) -> UploadTicket:
        """Presigned POST whose policy makes S3 enforce the size range and the exact content type."""
        check_upload_request(key, content_type, max_bytes)
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
            return self.client.generate_presigned_url("get_object", Params=params, ExpiresIn=expires_in)

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
        return io.BufferedReader(_S3Reader(response["Body"], key), buffer_size=CHUNK_SIZE)

    def read(self, key: str, *, limit: int) -> bytes:
        """GetObject's body read at once, at most limit + 1 bytes; StorageError on network failures.

        No buffered stream in between: open()'s reader copied a 4 MB photo twice more and cost ~2 ms.
        """
        with self._errors("get", validate_key(key)):
            body = self.client.get_object(Bucket=self.bucket, Key=key)["Body"]
        try:
            with self._errors("get"):
                return body.read(limit + 1)
        finally:
            body.close()

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

    def seal_upload(self, upload_key: str, key: str, data: BinaryIO, *, sha256: str, content_type: str) -> str | None:
        """CopyObject of the upload to the sealed key, kept only when S3's SHA-256 of the copy is `sha256`; else put_sealed(data).

        The copy saves sending the photo back (and signing or encrypting it). The upload key
        can still be written with a live ticket, so the copy's own checksum, computed by S3,
        must prove that the verified bytes were copied; a service that answers none, or other
        bytes, gets the verified ones PUT over the copy. Under Object Lock the bytes are PUT
        (with the checksum and retention put_sealed sends): S3-compatible services differ on what
        a retained copy needs, and a refused copy would leave the photo pending.
        """
        if not validate_key(key).startswith(SEALED_PREFIX):
            raise ValueError(f"not a sealed key: {key!r}")
        if self.object_lock_mode:
            return self.put_sealed(key, data, content_type=content_type)
        with self._errors("copy sealed"):
            response = self.client.copy_object(
                Bucket=self.bucket,
                Key=key,
                CopySource={"Bucket": self.bucket, "Key": validate_key(upload_key)},
                MetadataDirective="REPLACE",
                ContentType=content_type,
                ChecksumAlgorithm="SHA256",
            )
        checksum = response.get("CopyObjectResult", {}).get("ChecksumSHA256")
        if checksum == base64.b64encode(bytes.fromhex(sha256)).decode("ascii"):
            return response.get("VersionId")
        return self.put_sealed(key, data, content_type=content_type)

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
            kwargs["ObjectLockRetainUntilDate"] = datetime.now(UTC) + timedelta(days=self.object_lock_days)
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
                    self.client.delete_object(Bucket=self.bucket, Key=key, VersionId=item["VersionId"])

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
            self.client.put_bucket_lifecycle_configuration(Bucket=self.bucket, LifecycleConfiguration={"Rules": [rule]})
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
