"""Staff tools for a project's public record: progress updates, the code and the A4 poster."""

from __future__ import annotations

from flask import Response, current_app, request

from server.api import endpoint
from server.api.schemas import obj
from server.db import db
from server.errors import ApiError
from server.posters import poster_png, qr_png
from server.services import public
from server.wechat import WeChatError

ADMIN = ("admin",)


@endpoint(
    "/admin/projects/<int:project_id>/updates",
    "POST",
    summary="Publish a progress update on the project's public record",
    tag="admin",
    roles=ADMIN,
    body=obj({"text": {"type": "string", "minLength": 1, "maxLength": 2000}}, ("text",)),
    status=201,
    errors=(400, 401, 403, 404),
)
def add_update(user, body, project_id):
    u = public.add_update(db.session, user, project_id, body["text"])
    return {"id": u.id, "project_id": u.project_id, "text": u.text, "created_at": u.created_at.isoformat()}, 201


def public_page_url(project_id: int) -> str:
    """The public web page of a project (what a plain QR code opens)."""
    base = current_app.config["PUBLIC_BASE_URL"] or request.host_url.rstrip("/")
    return f"{base}/p/{project_id}"


def project_code(project_id: int) -> tuple[bytes, str]:
    """The project's code for the notice board and what to tell people to scan it with."""
    public.public_record(db.session, project_id)  # 404 for an unknown project
    wechat = current_app.extensions.get("wechat")
    if wechat is None:
        return qr_png(public_page_url(project_id)), "手机扫码查看项目公示、提出意见建议"
    try:
        png = wechat.get_unlimited_wxacode(
            scene=public.scene_for(project_id), page=current_app.config["MINIPROGRAM_PROJECT_PAGE"]
        )
    except WeChatError as exc:
        raise ApiError(exc.code, exc.message, {"errcode": exc.errcode}, status=exc.status) from None
    return png, "微信扫码查看项目公示、提出意见建议"


@endpoint(
    "/admin/projects/<int:project_id>/code.png",
    "GET",
    summary="The notice-board code: a mini-program code (wxacode), or a plain QR to the public page",
    tag="admin",
    roles=ADMIN,
    errors=(401, 403, 404, 502, 503),
    content_type="image/png",
)
def project_code_png(user, project_id):
    png, _ = project_code(project_id)
    return Response(png, mimetype="image/png")


@endpoint(
    "/admin/projects/<int:project_id>/poster.png",
    "GET",
    summary="Printable A4 poster for the village notice board (公示栏)",
    tag="admin",
    roles=ADMIN,
    errors=(401, 403, 404, 502, 503),
    content_type="image/png",
)
def project_poster_png(user, project_id):
    png, caption = project_code(project_id)
    record = public.public_record(db.session, project_id)
    days = current_app.config["FEEDBACK_REPLY_DAYS"]
    poster = poster_png(record, png, caption, f"欢迎监督 · 反馈将在 {days} 个工作日内答复")
    return Response(
        poster, mimetype="image/png", headers={"Content-Disposition": f'inline; filename="poster-{project_id}.png"'}
    )
