"""Object storage for photos and derived files: one interface, two backends.

Phones upload straight to the backend with a presigned multipart POST (wx.uploadFile), and
readers get short-lived presigned GET URLs, so the database only ever holds object keys.
``S3Storage`` talks to AWS S3, MinIO, Tencent COS or Aliyun OSS through boto3;
``LocalStorage`` is the embedded default for a laptop: files in a directory, with the Flask
app itself accepting the signed uploads and serving the signed downloads.

These classes never read Flask's request: the routes pass the form fields, the stream and
the query arguments in.

The package's interface is re-exported here, with the factory that picks the backend: `base`
holds what every backend implements, `local` and `s3` one backend each.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from server.storage.base import (
    SEALED_PREFIX,
    UPLOAD_CONTENT_TYPES,
    UPLOAD_PREFIX,
    UPLOAD_RETENTION_DAYS,
    ObjectInfo,
    ObjectMissing,
    Storage,
    StorageError,
    UploadRejected,
    UploadTicket,
    validate_key,
)
from server.storage.local import LocalStorage

if TYPE_CHECKING:
    from server.storage.s3 import S3Storage

__all__ = [
    "SEALED_PREFIX",
    "UPLOAD_CONTENT_TYPES",
    "UPLOAD_PREFIX",
    "UPLOAD_RETENTION_DAYS",
    "LocalStorage",
    "ObjectInfo",
    "ObjectMissing",
    "S3Storage",
    "Storage",
    "StorageError",
    "UploadRejected",
    "UploadTicket",
    "storage_from_config",
    "validate_key",
]


def __getattr__(name: str):
    # The S3 backend is imported when first asked for: boto3 takes ~0.12 s to import, which a
    # process on local storage (the laptop default, most tests) need not pay.
    if name == "S3Storage":
        from server.storage.s3 import S3Storage

        return S3Storage
    raise AttributeError(f"module 'server.storage' has no attribute {name!r}")


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
        from server.storage.s3 import S3Storage

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
