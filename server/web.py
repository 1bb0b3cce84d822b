"""Public web pages: a project's public record (plain-QR fallback), photo verification (验真), audit checkpoints."""

from __future__ import annotations

import hashlib
from datetime import datetime

from flask import Blueprint, abort, current_app, render_template, request
from sqlalchemy import select

from server import clock
from server.db import db
from server.errors import ApiError
from server.models import FEEDBACK_STATUSES, County
from server.services import checkpoints, public, ratelimit
from server.storage import StorageError

web_bp = Blueprint("web", __name__, template_folder="templates")


@web_bp.get("/p/<int:project_id>")
def project_page(project_id: int):
    """The project's public record as a page (what a plain QR code on the notice board opens)."""
    try:
        record = public.public_record(db.session, project_id)
    except ApiError:
        abort(404)
    return render_template("project.html", p=record, statuses=FEEDBACK_STATUSES)


def _limited() -> str | None:
    """Count a lookup from this IP; the Retry-After seconds when it is over VERIFY_RATE_LIMITS."""
    try:
        ratelimit.hit(
            db.session,
            [f"verify:ip:{request.remote_addr}"],
            ratelimit.parse_limits(current_app.config["VERIFY_RATE_LIMITS"]),
        )
        db.session.commit()
        return None
    except ApiError as exc:
        db.session.rollback()
        return exc.headers.get("Retry-After", "3600")


@web_bp.route("/verify/<code>", methods=["GET", "POST"])
def verify(code: str):
    """When, where and for which project a photo was taken; optionally compare an uploaded file."""
    retry_after = _limited()
    if retry_after:
        return render_template("verify.html", limited=True), 429, {"Retry-After": retry_after}
    info = public.photo_by_code(db.session, code)
    if info is None:
        return render_template("verify.html", missing=True, code=code[:20]), 404
    match = None
    if request.method == "POST":
        upload = request.files.get("file")
        if upload is None or not upload.filename:
            match = "nofile"
        else:
            digest = hashlib.sha256()
            while chunk := upload.stream.read(256 * 1024):
                digest.update(chunk)
            value = digest.hexdigest()
            # A villager's own file still carries the location the sealed copy dropped: it is the original too.
            originals = (info["sha256"], info["upload_sha256"])
            match = "original" if value in originals else "preview" if value == info["preview_sha256"] else "none"
    return render_template("verify.html", info=info, match=match)


@web_bp.get("/audit")
def audit_checkpoint():
    """The newest signed checkpoint of a county's audit chain (seq and head hash), for anyone to copy elsewhere.

    `?county=N` picks the county when the deployment serves several (the first county's by default).
    """
    counties = db.session.execute(select(County.id, County.name).order_by(County.id)).all()
    chosen = request.args.get("county", "")
    chain = int(chosen) if chosen.isdigit() else (counties[0].id if counties else 1)
    if counties and chain not in {c.id for c in counties}:
        abort(404)
    try:
        cp = checkpoints.latest(current_app.extensions["storage"], current_app.config["AUDIT_KEY"], chain)
    except StorageError:
        return render_template("audit.html", unavailable=True), 503
    at = clock.china_time(datetime.fromisoformat(cp.at), clock.SECONDS) if cp else None
    name = next((c.name for c in counties if c.id == chain), "")
    return render_template("audit.html", cp=cp, at=at, counties=counties, chain=chain, county_name=name)
