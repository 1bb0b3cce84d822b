"""The local storage backend's signed upload and download URLs (embedded default only)."""

from __future__ import annotations

from flask import current_app, request, send_file

from server.api import endpoint
from server.errors import ApiError
from server.storage import LocalStorage, ObjectMissing, UploadRejected


def _local() -> LocalStorage:
    s = current_app.extensions["storage"]
    if not isinstance(s, LocalStorage):
        raise ApiError("not_found", "未使用本地存储")
    return s


@endpoint(
    "/storage/upload",
    "POST",
    summary="Signed multipart upload (local storage): the ticket's fields, then the file field `file`",
    tag="photos",
    auth=False,
    status=204,
    errors=(400, 403, 404, 409, 413),
    content_type="multipart/form-data",
)
def local_upload():
    storage = _local()
    # Fields first, file last (as S3 expects): read the form lazily so the file streams.
    upload = request.files.get("file")
    if upload is None:
        raise ApiError("validation_failed", "缺少文件字段 file", {"field": "file"})
    try:
        storage.accept_upload(request.form, upload.stream, content_type=request.form.get("Content-Type"))
    except UploadRejected as exc:
        raise ApiError(exc.code, exc.message, status=exc.status) from None
    return "", 204


@endpoint(
    "/storage/object",
    "GET",
    summary="Signed download (local storage)",
    tag="photos",
    auth=False,
    query={
        "key": {"type": "string"},
        "expires": {"type": "string"},
        "sig": {"type": "string"},
        "name": {"type": "string"},
    },
    errors=(403, 404),
    content_type="image/jpeg",
)
def local_download(query):
    storage = _local()
    try:
        path = storage.verify_get(request.args)
    except UploadRejected as exc:
        raise ApiError(exc.code, exc.message, status=exc.status) from None
    except ObjectMissing:
        raise ApiError("not_found", "文件不存在") from None
    info = storage.head(request.args["key"])
    resp = send_file(
        path,
        mimetype=(info.content_type if info else None) or "application/octet-stream",
        download_name=request.args.get("name") or None,
        max_age=0,
    )
    # Uploaded files are served from our own origin: never let one run as a page.
    resp.headers["X-Content-Type-Options"] = "nosniff"
    resp.headers["Content-Security-Policy"] = "sandbox"
    return resp
