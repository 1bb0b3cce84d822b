"""Downloads: XLSX of the filtered lists and one visit's photo evidence as a ZIP."""

from __future__ import annotations

import re
from urllib.parse import quote

from flask import Response, abort, g, request
from werkzeug.wsgi import wrap_file

from server import clock
from server.console import console_bp
from server.console.auth import staff_required
from server.db import db
from server.services import rectification
from server.services.exports.evidence_zip import evidence_zip
from server.services.exports.feedback import feedback_workbook, parse_feedback_filters
from server.services.exports.rectifications import rectifications_workbook
from server.services.exports.visits import findings_workbook, visits_workbook
from server.services.exports.workbook import Download
from server.services.review import parse_filters, visit_in_scope


def content_disposition(filename: str, fallback: str) -> str:
    """An attachment header with an ASCII name for old clients and the UTF-8 name (RFC 5987/6266)."""
    ascii_name = re.sub(r"[^A-Za-z0-9._-]", "_", fallback) or "download"
    return f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(filename, safe='')}"


def send_download(download: Download) -> Response:
    """A prepared download (XLSX, DOCX, ZIP) as an attachment that no cache keeps."""
    body = download.body
    # A file is sent in blocks (and closed afterwards), not iterated line by line.
    if hasattr(body, "read"):
        body = wrap_file(request.environ, body)
    response = Response(body, mimetype=download.mimetype)
    response.headers["Content-Disposition"] = content_disposition(download.filename, download.fallback)
    # Exports carry evidence and personal data: no shared or browser caches keep a copy.
    response.headers["Cache-Control"] = "private, no-store"
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


@console_bp.get("/exports/visits.xlsx")
@staff_required()
def export_visits():
    """The visit list under its query-string filters as XLSX."""
    return send_download(visits_workbook(db.session, g.staff, parse_filters(request.args)))


@console_bp.get("/exports/findings.xlsx")
@staff_required()
def export_findings():
    """Flags and questioned decisions of the visits under the visit list's filters as XLSX."""
    return send_download(findings_workbook(db.session, g.staff, parse_filters(request.args)))


@console_bp.get("/exports/rectifications.xlsx")
@staff_required()
def export_rectifications():
    """Rectification orders under their status/township/project/overdue filters as XLSX."""
    filters = rectification.parse_filters(request.args)
    return send_download(rectifications_workbook(db.session, g.staff, filters, clock.today()))


@console_bp.get("/exports/feedback.xlsx")
@staff_required()
def export_feedback():
    """Feedback under its status/township/project/overdue filters as XLSX."""
    return send_download(feedback_workbook(db.session, g.staff, parse_feedback_filters(request.args)))


@console_bp.get("/visits/<int:visit_id>/evidence.zip")
@staff_required()
def export_visit_zip(visit_id: int):
    """One visit's original photos with a manifest, streamed as a ZIP; 404 outside the user's scope."""
    visit = visit_in_scope(db.session, g.staff, visit_id)
    if visit is None:
        abort(404)
    return send_download(evidence_zip(db.session, g.staff, visit))
