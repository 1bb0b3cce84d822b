"""Walk the inspector's and the villager's flows against the running demo, without a WeChat account.

`bash scripts/run_demo.sh` serves the demo county with the fake WeChat server beside it; in a second
terminal, `.venv/bin/python scripts/try_visit.py` then does what the mini-program would:

1. logs in through WeChat (the fake hands out a wx.login code) and binds the demo inspector 张督查
   with a fresh invite code (asked of the API as the demo admin);
2. starts a visit on a new assignment at the demo village 江南村, checks in at the village, uploads
   two JPEGs it makes with EXIF GPS at the village and the current time, interviews a household
   and submits;
3. leaves a villager's feedback on the same project, as scanning its notice-board QR code would;

and prints the console pages where the visit and the feedback now show. Each run adds one visit.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import random
import sys
import urllib.error
import urllib.request
import uuid
from datetime import UTC, datetime, timedelta
from fractions import Fraction
from urllib.parse import quote

from PIL import Image, ImageDraw

DEMO_ADMIN = ("admin", "demo-admin-2026")  # server/services/demo/base.py DEMO_PASSWORDS
DEMO_INSPECTOR = "inspector"
DEMO_VILLAGE = "江南村"
INSPECTOR_OPENID = "try-visit-inspector"
VILLAGER_OPENID = "try-visit-villager"


class Failed(Exception):
    """A step did not answer as it should: the message says which and what the server said."""


class Client:
    """JSON over HTTP to the service, with the caller's token once logged in."""

    def __init__(self, base: str) -> None:
        self.base = base.rstrip("/")
        self.token: str | None = None

    def call(self, method: str, path: str, body: dict | None = None, expect: tuple[int, ...] = (200, 201)) -> dict:
        """Send one request to /api/v1`path`; the decoded answer, or Failed with the server's error."""
        headers = {"Content-Type": "application/json"}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(f"{self.base}/api/v1{path}", data=data, method=method, headers=headers)
        status, raw = _send(request)
        answer = json.loads(raw or b"{}")
        if status not in expect:
            raise Failed(f"{method} {path} answered {status}: {answer.get('error', answer)}")
        return answer


def _send(request: urllib.request.Request) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()
    except urllib.error.URLError as exc:
        raise Failed(
            f"cannot reach {request.full_url}: {exc.reason} (is `bash scripts/run_demo.sh` running?)"
        ) from None


def wx_login_code(wechat: str, openid: str) -> str:
    """A one-time wx.login code for `openid`, from the fake WeChat server's control endpoint."""
    request = urllib.request.Request(
        f"{wechat.rstrip('/')}/__fake__/code_for",
        data=json.dumps({"openid": openid}).encode(),
        method="POST",
        headers={"Content-Type": "application/json"},
    )
    status, raw = _send(request)
    if status != 200:
        raise Failed(f"the fake WeChat server answered {status}")
    return json.loads(raw)["result"]


def camera_jpeg(lat: float, lng: float, taken: datetime, seed: int) -> bytes:
    """A 1600×1200 JPEG with varied content and the EXIF a phone camera writes: make, model, China time, GPS."""
    rng = random.Random(seed)
    image = Image.new("RGB", (1600, 1200), (rng.randrange(90, 200), rng.randrange(120, 210), rng.randrange(70, 160)))
    draw = ImageDraw.Draw(image)
    for _ in range(40):
        x, y = rng.randrange(1600), rng.randrange(1200)
        box = (x, y, x + rng.randrange(60, 500), y + rng.randrange(40, 400))
        draw.rectangle(box, fill=tuple(rng.randrange(256) for _ in range(3)))
    exif = Image.Exif()
    exif[0x010F], exif[0x0110] = "HUAWEI", "TRY-VISIT"  # Make, Model
    local = taken.astimezone(UTC) + timedelta(hours=8)
    ifd = exif.get_ifd(0x8769)
    ifd[0x9003] = local.strftime("%Y:%m:%d %H:%M:%S")  # DateTimeOriginal, in China time
    ifd[0x9011] = "+08:00"  # OffsetTimeOriginal
    gps = exif.get_ifd(0x8825)
    gps[1], gps[2] = "N", _dms(lat)
    gps[3], gps[4] = "E", _dms(lng)
    out = io.BytesIO()
    image.save(out, "JPEG", quality=88, exif=exif.tobytes())
    return out.getvalue()


def _dms(value: float) -> tuple[Fraction, Fraction, Fraction]:
    degrees = int(value)
    minutes = int((value - degrees) * 60)
    seconds = Fraction(round((value - degrees - minutes / 60) * 3600 * 10000), 10000)
    return Fraction(degrees), Fraction(minutes), seconds


def upload(ticket: dict, data: bytes) -> None:
    """POST the file to the upload ticket as wx.uploadFile does: multipart form fields, then the file."""
    boundary = uuid.uuid4().hex
    parts = [
        f'--{boundary}\r\nContent-Disposition: form-data; name="{quote(k)}"\r\n\r\n{v}\r\n'.encode()
        for k, v in ticket["fields"].items()
    ]
    field = ticket.get("file_field", "file")
    parts.append(
        f'--{boundary}\r\nContent-Disposition: form-data; name="{field}"; filename="photo.jpg"\r\n'
        f"Content-Type: image/jpeg\r\n\r\n".encode()
        + data
        + f"\r\n--{boundary}--\r\n".encode()
    )
    request = urllib.request.Request(
        ticket["url"],
        data=b"".join(parts),
        method="POST",
        headers={"Content-Type": f"multipart/form-data; boundary={boundary}"},
    )
    status, raw = _send(request)
    if status not in (200, 201, 204):
        raise Failed(f"the photo upload answered {status}: {raw[:300]!r}")


def now_iso() -> str:
    """The phone's clock, as the mini-program sends it."""
    return datetime.now(UTC).isoformat()


def bind_inspector(server: str, wechat: str) -> Client:
    """The demo inspector's API client: logged in through WeChat, bound with a new invite on the first run."""
    phone = Client(server)
    phone.token = phone.call("POST", "/auth/wechat", {"code": wx_login_code(wechat, INSPECTOR_OPENID)})["token"]
    if "inspector" in phone.call("GET", "/auth/me").get("roles", []):
        return phone
    admin = Client(server)
    admin.token = admin.call("POST", "/auth/login", {"username": DEMO_ADMIN[0], "password": DEMO_ADMIN[1]})["token"]
    found = admin.call("GET", f"/admin/users?q={quote(DEMO_INSPECTOR)}")["items"]
    inspector = next((u for u in found if u.get("username") == DEMO_INSPECTOR), None)
    if inspector is None:
        raise Failed("the demo inspector is missing: run `flask --app server demo-data` first")
    invite = admin.call("PATCH", f"/admin/users/{inspector['id']}", {"reset_invite": True})["invite_code"]
    phone.token = phone.call("POST", "/auth/bind", {"invite_code": invite})["token"]
    print(f"  绑定督查员 {inspector['name']} (invite code {invite})")
    return phone


def new_assignment(server: str, inspector_id: int) -> dict:
    """A fresh assignment for the inspector at the demo village (as staff would send one)."""
    admin = Client(server)
    admin.token = admin.call("POST", "/auth/login", {"username": DEMO_ADMIN[0], "password": DEMO_ADMIN[1]})["token"]
    villages = admin.call("GET", "/admin/villages?per_page=100")["items"]
    village_ids = {v["id"] for v in villages if v["name"] == DEMO_VILLAGE}
    projects = admin.call("GET", "/admin/projects?per_page=100")["items"]
    project = next((p for p in projects if village_ids & set(p.get("village_ids", []))), None)
    if project is None:
        raise Failed(f"no demo project at {DEMO_VILLAGE}: run `flask --app server demo-data` first")
    due = (datetime.now(UTC) + timedelta(days=7)).date().isoformat()
    body = {"project_id": project["id"], "inspector_ids": [inspector_id], "due_date": due}
    return admin.call("POST", "/admin/assignments", body)


def visit(server: str, phone: Client) -> tuple[int, int]:
    """Start, check in, photograph, interview and submit; the visit's and its project's ids."""
    me = phone.call("GET", "/auth/me")
    assignment = new_assignment(server, me["id"])
    place = next(a for a in phone.call("GET", "/assignments")["items"] if a["id"] == assignment["id"])["place"]
    lat, lng = place["lat"], place["lng"]  # WGS-84, what a phone's GPS reads
    started = phone.call(
        "POST",
        "/visits",
        {
            "client_id": str(uuid.uuid4()),
            "sent_at": now_iso(),
            "assignment_id": assignment["id"],
            "started_at": now_iso(),
        },
    )
    visit_id = started["id"]
    checkin = phone.call(
        "POST",
        f"/visits/{visit_id}/checkins",
        {
            "client_id": str(uuid.uuid4()),
            "sent_at": now_iso(),
            "lat": lat + 0.0004,
            "lng": lng + 0.0003,
            "accuracy_m": 12.0,
            "coord_type": "wgs84",
            "client_time": now_iso(),
        },
    )
    print(f"  签到 {place['name']}: 距村中心 {checkin['distance_m']} 米, 标记 {checkin.get('flags') or '无'}")
    for seed in range(2):
        taken = datetime.now(UTC)
        data = camera_jpeg(lat + 0.0003 * seed, lng + 0.0002, taken, seed=int(taken.timestamp()) + seed)
        ticket = phone.call(
            "POST",
            f"/visits/{visit_id}/photos",
            {
                "client_id": str(uuid.uuid4()),
                "sent_at": now_iso(),
                "content_type": "image/jpeg",
                "size": len(data),
                "taken_at": taken.isoformat(),
                "lat": lat + 0.0003 * seed,
                "lng": lng + 0.0002,
            },
        )
        upload(ticket["upload"], data)
        photo = phone.call("POST", f"/photos/{ticket['photo_id']}/complete")
        print(f"  照片 {seed + 1}: {photo['status']}, 标记 {photo.get('flags') or '无'}")
    phone.call(
        "POST",
        f"/visits/{visit_id}/interviews",
        {
            "client_id": str(uuid.uuid4()),
            "sent_at": now_iso(),
            "household": "彭家(试走)",
            "answers": {"是否知道本村书记项目": "知道", "项目实际进展": "蜜柚流转中心已投入使用"},
            "satisfaction": "满意",
        },
    )
    phone.call("POST", f"/visits/{visit_id}/submit", {"client_id": str(uuid.uuid4()), "sent_at": now_iso()})
    return visit_id, assignment["project"]["id"]


def villager_feedback(server: str, wechat: str, project_id: int) -> str:
    """A villager's feedback on the project (the notice-board QR code opens this page); its receipt number."""
    villager = Client(server)
    villager.token = villager.call("POST", "/auth/wechat", {"code": wx_login_code(wechat, VILLAGER_OPENID)})["token"]
    answer = villager.call(
        "POST",
        f"/public/projects/{project_id}/feedback",
        {
            "client_id": str(uuid.uuid4()),
            "sent_at": now_iso(),
            "rating": "基本满意",
            "category": "建议",
            "text": "流转中心建得好,希望分拣时间再提前一些。",
            "anonymous": True,
        },
    )
    return answer["receipt_no"]


def main(argv: list[str] | None = None) -> int:
    """Run both flows against the demo; 0 when everything answered as it should."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    port = os.environ.get("PORT", "8000")
    parser.add_argument("--server", default=f"http://127.0.0.1:{port}", help="the demo service (run_demo.sh)")
    parser.add_argument(
        "--wechat",
        default=os.environ.get("FAKE_WECHAT_URL", "http://127.0.0.1:8901"),
        help="the fake WeChat server run_demo.sh started",
    )
    args = parser.parse_args(argv)
    try:
        print("督查员的一次暗访 (the inspector's visit):")
        phone = bind_inspector(args.server, args.wechat)
        visit_id, project_id = visit(args.server, phone)
        print("群众扫码留言 (a villager's feedback):")
        receipt = villager_feedback(args.server, args.wechat, project_id)
        print(f"  回执号 {receipt}")
    except Failed as exc:
        print(f"失败 (failed): {exc}", file=sys.stderr)
        return 1
    print(f"暗访已提交, 在管理后台查看 (sign in as {DEMO_ADMIN[0]} / {DEMO_ADMIN[1]}):")
    print(f"  {args.server}/console/visits/{visit_id}")
    print(f"  {args.server}/console/feedback")
    return 0


if __name__ == "__main__":
    sys.exit(main())
