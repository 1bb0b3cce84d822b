"""What one inspection visit and one villager's feedback cost the service: requests, rows, bytes, CPU.

The figures behind docs/capacity.md. Run from the project root:

    .venv/bin/python scripts/capacity_sample.py                         # SQLite, 10 generated 4 MB photos
    .venv/bin/python scripts/capacity_sample.py --photos ../shared/testdata/photos --photos-per-visit 4
    .venv/bin/python scripts/capacity_sample.py --database-url URL      # an empty MariaDB (benchlib.py mariadb)
    .venv/bin/python scripts/capacity_sample.py --audit-appends 500     # also the audit chain's append rate

It builds the app in this process (create_app, local photo storage in a temporary folder, the
fake WeChat server on 127.0.0.1), creates a county's minimum (an admin, a township, a village, a
project, an inspector with an invite code, one assignment per visit) through the services, and then sends,
through Flask's test client, the requests the mini-program sends for one visit (miniprogram/:
pages/tasks, pages/visit, utils/queue.js, utils/uploader.js): wx.login exchange, bind, the task
list, start, check-in, the visit read after the check-in, each photo's ticket + upload + complete,
the interviews, the checklist, submit and the visit read when the outbox is empty. With --replay
every write is sent a second time with the same body, as the outbox does when an answer is lost
on a weak link. Then a villager's feedback with photos, as the notice-board QR code leads to, and
the console pages a reviewer reads (dashboard, visit list, the visit's evidence page, feedback).

It prints, per visit and per feedback: the requests by endpoint with the app's CPU (process time
of this process; with SQLite the database's work is included, with MariaDB it is not), the rows
added to each table, and the bytes the storage holds per photo (sealed original, thumbnail,
preview) beside the bytes uploaded. --audit-appends N then appends N entries to the audit chain,
one transaction each, from --audit-threads threads, prints entries per second and verifies the
whole chain (entries recomputed per second).
"""

from __future__ import annotations

import argparse
import io
import json
import os
import re
import sys
import tempfile
import threading
import time
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

SECRET = "capacity-sample-secret-" + "k" * 40
AUDIT_SECRET = "capacity-sample-audit-" + "a" * 40
INSPECTOR_OPENID = "capacity-inspector"
VILLAGER_OPENID = "capacity-villager"
ADMIN_PASSWORD = "capacity-admin-password"
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
CONSOLE_PAGES = ("/console/dashboard", "/console/visits", "/console/visits/{visit}", "/console/feedback")
CHECK_ITEMS = ["公示栏是否张贴", "进度是否符合计划", "群众是否知晓"]


@dataclass
class Tally:
    """Requests sent, by label, with the process CPU and wall seconds each took."""

    cpu: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    wall: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))

    def add(self, label: str, cpu: float, wall: float) -> None:
        """Record one request."""
        self.cpu[label].append(cpu)
        self.wall[label].append(wall)

    def rows(self) -> list[dict]:
        """One row per label: count and mean CPU/wall milliseconds."""
        return [
            {
                "request": label,
                "count": len(cpu),
                "cpu_ms": round(sum(cpu) / len(cpu) * 1000, 2),
                "wall_ms": round(sum(self.wall[label]) / len(cpu) * 1000, 2),
            }
            for label, cpu in self.cpu.items()
        ]


class Phone:
    """The mini-program's side: JSON with the bearer token, uploads as wx.uploadFile sends them."""

    def __init__(self, app, tally: Tally, replay: bool) -> None:
        self.client = app.test_client()
        self.tally = tally
        self.replay = replay
        self.token: str | None = None

    def _timed(self, label: str, send):
        cpu, wall = time.process_time(), time.perf_counter()
        response = send()
        self.tally.add(label, time.process_time() - cpu, time.perf_counter() - wall)
        return response

    def call(self, label: str, method: str, path: str, body: dict | None = None, *, write: bool = False) -> dict:
        """One API request (`label` names its route); a write is sent twice under --replay, the retry must answer 200."""
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        response = self._timed(
            label, lambda: self.client.open("/api/v1" + path, method=method, json=body, headers=headers)
        )
        if response.status_code not in (200, 201):
            raise RuntimeError(f"{method} {path}: {response.status_code} {response.get_data(as_text=True)[:300]}")
        if write and self.replay:
            again = self._timed(
                label + " (retry)",
                lambda: self.client.open("/api/v1" + path, method=method, json=body, headers=headers),
            )
            if again.status_code != 200:
                raise RuntimeError(
                    f"retry of {method} {path}: {again.status_code} {again.get_data(as_text=True)[:300]}"
                )
        return response.get_json()

    def upload(self, ticket: dict, data: bytes) -> None:
        """The file to the local storage's upload route, multipart with the ticket's fields first."""
        path = urlsplit(ticket["url"]).path
        form = {**ticket["fields"], ticket.get("file_field", "file"): (io.BytesIO(data), "photo.jpg")}
        response = self._timed(
            "upload to storage (S3 in production)",
            lambda: self.client.post(path, data=form, content_type="multipart/form-data"),
        )
        if response.status_code not in (200, 201, 204):
            raise RuntimeError(f"upload: {response.status_code} {response.get_data(as_text=True)[:300]}")

    def photo(self, label: str, path: str, data: bytes, extra: dict) -> int:
        """Ticket, upload and complete one photo; its id."""
        body = {"client_id": str(uuid.uuid4()), "sent_at": now_iso(), "content_type": "image/jpeg", "size": len(data)}
        ticket = self.call(label, "POST", path, {**body, **extra}, write=True)
        self.upload(ticket["upload"], data)
        photo = self.call("POST /photos/{id}/complete", "POST", f"/photos/{ticket['photo_id']}/complete", {})
        if photo["status"] != "ready":
            raise RuntimeError(f"photo {ticket['photo_id']} is {photo['status']}: {photo.get('reject_reason')}")
        return ticket["photo_id"]


def now_iso() -> str:
    """The phone's clock in RFC 3339."""
    return datetime.now(UTC).isoformat()


def load_photos(folder: str | None, count: int) -> list[tuple[str, bytes]]:
    """`count` (name, JPEG) pairs: the *.jpg of `folder` the photo pipeline accepts, in name order (cycled), else
    generated 4 MB phone photos."""
    if not folder:
        from scripts.bench_load import phone_photos

        return [(f"generated-{n}", data) for n, data in enumerate(phone_photos(count))]
    from server.imaging.decode import PhotoRejected, process_photo

    usable = []
    for path in sorted(Path(folder).glob("*.jpg")):
        data = path.read_bytes()
        try:
            process_photo(io.BytesIO(data))
        except PhotoRejected:  # the folder may hold corrupted samples: the service refuses those, no visit has them
            continue
        usable.append((path.name, data))
    if not usable:
        raise SystemExit(f"no decodable JPEG in {folder}")
    # Each photo gets distinct bytes (as every real photo has), so none is an exact re-use.
    return [(usable[i % len(usable)][0], usable[i % len(usable)][1] + i.to_bytes(4, "big")) for i in range(count)]


def photo_files(app, root: Path, names: list[str]) -> list[dict]:
    """Per stored photo, in upload order: its source, and the bytes of its sealed original, preview and thumbnail."""
    from sqlalchemy import select

    from server.db import db
    from server.models import Photo

    def size(key: str | None) -> int:
        return (root / key).stat().st_size if key and (root / key).is_file() else 0

    with app.app_context():
        photos = db.session.execute(
            select(Photo.object_key, Photo.preview_key, Photo.thumb_key).order_by(Photo.id)
        ).all()
        db.session.close()
    return [
        {"photo": name, "original": size(o), "preview": size(p), "thumbnail": size(t)}
        for name, (o, p, t) in zip(names, photos, strict=True)
    ]


def build_app(database_url: str, storage_dir: Path, wechat):
    """The app on a migrated database with local storage and WeChat at the fake server."""
    from server.app import create_app
    from server.db import upgrade

    upgrade(database_url, audit_key=AUDIT_SECRET)
    return create_app(
        {
            "SECRET_KEY": SECRET,
            "DATA_KEY": SECRET,
            "AUDIT_KEY": AUDIT_SECRET,
            "DATABASE_URL": database_url,
            "STORAGE_BACKEND": "local",
            "STORAGE_DIR": str(storage_dir),
            "PUBLIC_BASE_URL": "http://localhost",
            "WECHAT_APPID": wechat.appid,
            "WECHAT_SECRET": wechat.secret,
            "WECHAT_API_BASE": wechat.url,
            "LOG_LEVEL": "WARNING",
        }
    )


def build_county(app) -> dict:
    """A township, a village at the generated photos' GPS, an approved project, an inspector's invite, an assignment."""
    from scripts.bench_load import PHOTO_GPS, bench_place
    from server.db import db
    from server.services import users

    with app.app_context():
        s = db.session
        admin, _ = users.create_user(
            s, None, {"username": "cap-admin", "name": "管理员", "roles": ["admin"], "password": ADMIN_PASSWORD}
        )
        _, project = bench_place(s, admin)
        inspector, invite = users.create_user(
            s, admin, {"username": "cap-inspector", "name": "督查员", "roles": ["inspector"], "issue_invite": True}
        )
        out = {
            "project_id": project.id,
            "admin_id": admin.id,
            "inspector_id": inspector.id,
            "invite": invite,
            "lat": PHOTO_GPS[0],
            "lng": PHOTO_GPS[1],
        }
        s.commit()
        s.close()
    return out


def make_assignments(app, county: dict, count: int) -> list[int]:
    """`count` assignments of the inspector to the project, as staff send them (a round's draw makes the same rows)."""
    from server.db import db
    from server.models import User
    from server.services import assignments

    due = (datetime.now(UTC) + timedelta(days=7)).date().isoformat()
    ids = []
    with app.app_context():
        s = db.session
        admin = s.get(User, county["admin_id"])
        for _ in range(count):
            data = {"project_id": county["project_id"], "inspector_ids": [county["inspector_id"]], "due_date": due}
            ids.append(assignments.create_assignment(s, admin, {**data, "check_items": CHECK_ITEMS}).id)
        s.commit()
        s.close()
    return ids


def row_counts(app) -> dict[str, int]:
    """Rows in every table of the schema."""
    from sqlalchemy import func, select

    from server.db import db
    from server.models.base import Base

    with app.app_context():
        counts = {t.name: db.session.scalar(select(func.count()).select_from(t)) for t in Base.metadata.sorted_tables}
        db.session.close()
    return counts


def stored_bytes(root: Path) -> dict[str, int]:
    """Bytes the local storage holds by kind: thumbnails, previews, else the key's first folder (sealed/ …).

    The backend's hidden side files (content types, sealed markers) are left out: S3 keeps those as metadata.
    """
    sizes: dict[str, int] = defaultdict(int)
    for path in root.rglob("*"):
        if not path.is_file() or path.name.startswith("."):
            continue
        if path.name.endswith(".thumb.jpg"):
            kind = "thumbnail"
        elif path.name.endswith(".preview.jpg"):
            kind = "preview"
        else:
            kind = path.relative_to(root).parts[0] + "/ (original)"
        sizes[kind] += path.stat().st_size
    return dict(sizes)


def audit_actions(app, after_seq: int) -> dict[str, int]:
    """Audit entries after `after_seq`, counted by action."""
    from sqlalchemy import func, select

    from server.db import db
    from server.models import AuditEntry

    with app.app_context():
        rows = db.session.execute(
            select(AuditEntry.action, func.count()).where(AuditEntry.seq > after_seq).group_by(AuditEntry.action)
        ).all()
        db.session.close()
    return dict(sorted(((a, n) for a, n in rows), key=lambda kv: (-kv[1], kv[0])))


def audit_head(app) -> int:
    """The chain's newest seq."""
    from sqlalchemy import func, select

    from server.db import db
    from server.models import AuditEntry

    with app.app_context():
        seq = db.session.scalar(select(func.max(AuditEntry.seq))) or 0
        db.session.close()
    return seq


def diff(after: dict[str, int], before: dict[str, int]) -> dict[str, int]:
    """What grew, by key, largest first."""
    grown = {k: after[k] - before.get(k, 0) for k in after if after[k] != before.get(k, 0)}
    return dict(sorted(grown.items(), key=lambda kv: (-kv[1], kv[0])))


def bind_phone(app, wechat, county: dict, args, tally: Tally) -> Phone:
    """Once per inspector (and per TOKEN_MAX_AGE, 14 days): wx.login exchanged for a token, the invite bound."""
    phone = Phone(app, tally, args.replay)
    code = wechat.code_for(INSPECTOR_OPENID)
    phone.token = phone.call("POST /auth/wechat", "POST", "/auth/wechat", {"code": code})["token"]
    phone.token = phone.call("POST /auth/bind", "POST", "/auth/bind", {"invite_code": county["invite"]})["token"]
    return phone


def inspector_visit(phone: Phone, assignment_id: int, county: dict, photos: list[bytes], args) -> int:
    """The mini-program's requests for one visit, in its order; the visit's id."""
    phone.call("GET /assignments", "GET", "/assignments")
    body = {"client_id": str(uuid.uuid4()), "sent_at": now_iso(), "assignment_id": assignment_id}
    visit_id = phone.call("POST /visits", "POST", "/visits", {**body, "started_at": now_iso()}, write=True)["id"]
    lat, lng = county["lat"], county["lng"]
    checkin = {"lat": lat + 0.0003, "lng": lng - 0.0002, "accuracy_m": 12.0, "coord_type": "wgs84"}
    phone.call(
        "POST /visits/{id}/checkins",
        "POST",
        f"/visits/{visit_id}/checkins",
        {"client_id": str(uuid.uuid4()), "sent_at": now_iso(), "client_time": now_iso(), **checkin},
        write=True,
    )
    # The visit page reads the server's view once the check-in is confirmed (flags, unsealed items).
    phone.call("GET /visits/{id}", "GET", f"/visits/{visit_id}")
    for n, data in enumerate(photos):
        taken = (datetime.now(UTC) - timedelta(seconds=30)).isoformat()
        where = {"lat": lat + 0.0001 * n, "lng": lng, "coord_type": "wgs84", "taken_at": taken}
        phone.photo("POST /visits/{id}/photos (ticket)", f"/visits/{visit_id}/photos", data, where)
    for n in range(args.interviews):
        phone.call(
            "POST /visits/{id}/interviews",
            "POST",
            f"/visits/{visit_id}/interviews",
            {
                "client_id": str(uuid.uuid4()),
                "sent_at": now_iso(),
                "household": f"李{n}户",
                "satisfaction": "满意",
                "answers": {"是否知道本村书记项目": "知道"},
                "notes": "项目已完工,群众反映良好",
            },
            write=True,
        )
    phone.call(
        "PUT /visits/{id}/checklist",
        "PUT",
        f"/visits/{visit_id}/checklist",
        {
            "client_id": str(uuid.uuid4()),
            "sent_at": now_iso(),
            "items": [{"item": item, "result": "pass"} for item in CHECK_ITEMS],
        },
        write=True,
    )
    phone.call(
        "POST /visits/{id}/submit",
        "POST",
        f"/visits/{visit_id}/submit",
        {"client_id": str(uuid.uuid4()), "sent_at": now_iso()},
        write=True,
    )
    # ... and once more when nothing waits in the outbox (thumbnails, evidence_short).
    phone.call("GET /visits/{id}", "GET", f"/visits/{visit_id}")
    return visit_id


def villager_feedback(app, wechat, county: dict, photos: list[bytes], args, tally: Tally) -> None:
    """A villager scans the notice board, reads the public record and leaves feedback with photos."""
    phone = Phone(app, tally, args.replay)
    code = wechat.code_for(VILLAGER_OPENID)
    phone.token = phone.call("POST /auth/wechat", "POST", "/auth/wechat", {"code": code})["token"]
    pid = county["project_id"]
    phone.call("GET /public/projects/{id}", "GET", f"/public/projects/{pid}")
    ids = [phone.photo("POST /feedback/photos (ticket)", "/feedback/photos", data, {}) for data in photos]
    phone.call(
        "POST /public/projects/{id}/feedback",
        "POST",
        f"/public/projects/{pid}/feedback",
        {
            "client_id": str(uuid.uuid4()),
            "sent_at": now_iso(),
            "rating": "基本满意",
            "category": "建议",
            "text": "流转中心建得好,希望分拣时间再提前一些。",
            "photo_ids": ids,
            "anonymous": True,
        },
        write=True,
    )


def console_pages(app, visit_id: int, rounds: int, tally: Tally) -> None:
    """A reviewer's reading in the console, as the admin: dashboard, visit list, the visit's evidence page, feedback inbox."""
    client = app.test_client()
    token = CSRF.search(client.get("/console/login").get_data(as_text=True)).group(1)
    form = {"csrf_token": token, "username": "cap-admin", "password": ADMIN_PASSWORD}
    if client.post("/console/login", data=form).status_code != 302:
        raise RuntimeError("the console login was refused")
    for _ in range(rounds):
        for page in CONSOLE_PAGES:
            path = page.format(visit=visit_id)
            cpu, wall = time.process_time(), time.perf_counter()
            response = client.get(path)
            tally.add("GET " + page.replace("{visit}", "{id}"), time.process_time() - cpu, time.perf_counter() - wall)
            if response.status_code != 200:
                raise RuntimeError(f"GET {path}: {response.status_code}")


def audit_rate(app, appends: int, threads: int) -> dict:
    """Append `appends` entries, one transaction each, from `threads` threads at once; entries per second."""
    from server.db import db
    from server.services import audit

    per_thread = max(1, appends // threads)
    errors: list[str] = []

    def run(worker: int) -> None:
        with app.app_context():
            try:
                for n in range(per_thread):
                    audit.append(db.session, None, "capacity.probe", "probe", f"{worker}-{n}")
                    db.session.commit()
            except Exception as exc:  # reported beside the rate: a contended chain may refuse
                errors.append(f"{type(exc).__name__}: {exc}")
                db.session.rollback()
            finally:
                db.session.close()

    workers = [threading.Thread(target=run, args=(w,)) for w in range(threads)]
    start = time.perf_counter()
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    wall = time.perf_counter() - start
    done = per_thread * threads
    with app.app_context():
        start = time.perf_counter()
        chain = audit.verify(db.session)
        verify_seconds = time.perf_counter() - start
        db.session.close()
    return {
        "entries": done,
        "threads": threads,
        "seconds": round(wall, 3),
        "per_second": round(done / wall, 1),
        "chain_verifies": chain.ok,
        "verified_per_second": round(chain.entries / verify_seconds),
        "errors": errors,
    }


def measure(args) -> dict:
    """Run the visits and feedback on a fresh county; the report as a dict."""
    from server.devtools.fake_wechat import FakeWeChat

    photos = load_photos(args.photos, args.photos_per_visit * args.visits + args.feedback_photos)
    with tempfile.TemporaryDirectory(prefix="sp-capacity-") as tmp, FakeWeChat() as wechat:
        database_url = args.database_url or f"sqlite:///{tmp}/capacity.db"
        storage = Path(tmp) / "storage"
        app = build_app(database_url, storage, wechat)
        county = build_county(app)
        bind_tally, visit_tally, feedback_tally = Tally(), Tally(), Tally()
        rows_county = row_counts(app)
        assignment_ids = make_assignments(app, county, args.visits)
        rows_bound = row_counts(app)
        phone = bind_phone(app, wechat, county, args, bind_tally)
        rows0, bytes0, seq0 = row_counts(app), stored_bytes(storage), audit_head(app)
        per_visit = args.photos_per_visit
        phone.tally = visit_tally
        for v, assignment_id in enumerate(assignment_ids):
            shots = [data for _name, data in photos[v * per_visit : (v + 1) * per_visit]]
            visit_id = inspector_visit(phone, assignment_id, county, shots, args)
        rows1, bytes1, actions = row_counts(app), stored_bytes(storage), audit_actions(app, seq0)
        uploaded = sum(len(data) for _name, data in photos[: per_visit * args.visits])
        shots = [data for _name, data in photos[per_visit * args.visits :]]
        villager_feedback(app, wechat, county, shots, args, feedback_tally)
        rows2, bytes2 = row_counts(app), stored_bytes(storage)
        files = photo_files(app, storage, [name for name, _data in photos])
        console_tally = Tally()
        console_pages(app, visit_id, args.console_rounds, console_tally)
        audit = audit_rate(app, args.audit_appends, args.audit_threads) if args.audit_appends else None
        engine = app.extensions["db"]["engine"]
        dialect = engine.dialect.name
        engine.dispose()
    visit_photos = per_visit * args.visits
    return {
        "database": dialect,
        "visits": args.visits,
        "photos_per_visit": per_visit,
        "replay": args.replay,
        "photos_source": args.photos or "generated 4032x3024 (bench_photos.make_photo)",
        "assignment_rows": diff(rows_bound, rows_county),
        "bind_requests": bind_tally.rows(),
        "bind_rows": diff(rows0, rows_bound),
        "visit_requests": visit_tally.rows(),
        "visit_rows": diff(rows1, rows0),
        "visit_audit_actions": actions,
        "visit_photo_bytes": {
            "uploaded_per_photo": round(uploaded / max(1, visit_photos)),
            "stored_per_photo": {k: round(v / max(1, visit_photos)) for k, v in diff(bytes1, bytes0).items()},
        },
        "photo_files": files,
        "feedback_photos": args.feedback_photos,
        "feedback_requests": feedback_tally.rows(),
        "feedback_rows": diff(rows2, rows1),
        "feedback_stored_bytes": diff(bytes2, bytes1),
        "console_requests": console_tally.rows(),
        "audit_append": audit,
    }


def print_report(report: dict) -> None:
    """The report as plain tables."""
    print(f"database {report['database']}; photos: {report['photos_source']}; replay {report['replay']}")
    v = report["visits"]
    print(f"\n== rows added by sending {v} assignment(s) (staff, or a round's draw)")
    _rows(report["assignment_rows"])
    for who, title in (
        ("bind", "binding the phone (once per inspector; /auth/wechat again every 14 days)"),
        ("visit", f"{v} visit(s) of {report['photos_per_visit']} photos"),
        ("feedback", f"one villager's feedback with {report['feedback_photos']} photo(s)"),
    ):
        print(f"\n== requests of {title}: count, mean app CPU ms, mean wall ms")
        for r in report[f"{who}_requests"]:
            print(f"  {r['request']:<46} {r['count']:>4} {r['cpu_ms']:>9.1f} {r['wall_ms']:>9.1f}")
        print(f"  {'total':<46} {sum(r['count'] for r in report[f'{who}_requests']):>4}")
        print(f"== rows added by {title}")
        _rows(report[f"{who}_rows"])
    print(f"\n== audit entries of {v} visit(s) by action")
    _rows(report["visit_audit_actions"])
    pb = report["visit_photo_bytes"]
    print(f"\n== bytes per visit photo: uploaded {pb['uploaded_per_photo']:,}; stored:")
    _rows(pb["stored_per_photo"])
    print("== bytes stored per photo: original, preview, thumbnail")
    for f in report["photo_files"]:
        print(f"  {f['photo']:<50} {f['original']:>10,} {f['preview']:>9,} {f['thumbnail']:>8,}")
    print(f"== bytes stored for the feedback's {report['feedback_photos']} photo(s)")
    _rows(report["feedback_stored_bytes"])
    print("\n== console pages (admin, after the visits): count, mean app CPU ms, mean wall ms")
    for r in report["console_requests"]:
        print(f"  {r['request']:<46} {r['count']:>4} {r['cpu_ms']:>9.1f} {r['wall_ms']:>9.1f}")
    if report["audit_append"]:
        a = report["audit_append"]
        print(
            f"\n== audit append: {a['entries']} entries from {a['threads']} thread(s) in {a['seconds']} s"
            f" = {a['per_second']}/s; the chain verifies: {a['chain_verifies']}"
            f" ({a['verified_per_second']} entries/s recomputed)"
        )
        for e in a["errors"]:
            print(f"  error: {e}")


def _rows(counts: dict[str, int]) -> None:
    for key, n in counts.items():
        print(f"  {key:<46} {n:>12,}")
    print(f"  {'total':<46} {sum(counts.values()):>12,}")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--database-url", help="an empty database to migrate and use (default: SQLite in a temp dir)")
    p.add_argument("--photos", help="use the decodable *.jpg of this folder instead of generated 4 MB phone photos")
    p.add_argument("--visits", type=int, default=1, help="visits, one after another (default 1)")
    p.add_argument("--photos-per-visit", type=int, default=10, help="default 10")
    p.add_argument("--interviews", type=int, default=2, help="household interviews per visit (default 2)")
    p.add_argument("--feedback-photos", type=int, default=1, help="photos of the villager's feedback (default 1)")
    p.add_argument("--console-rounds", type=int, default=3, help="times each console page is read (default 3)")
    p.add_argument("--replay", action="store_true", help="send every write twice, as after a lost answer")
    p.add_argument("--audit-appends", type=int, default=0, help="then time this many audit appends (0: skip)")
    p.add_argument("--audit-threads", type=int, default=1, help="threads appending at once (default 1)")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    args = p.parse_args(argv)
    if args.visits < 1 or args.photos_per_visit < 1:
        p.error("--visits and --photos-per-visit must be at least 1")
    return args


def main(argv: list[str] | None = None) -> int:
    """Measure and print."""
    args = parse_args(argv)
    os.environ.setdefault("APP_ENV", "development")
    report = measure(args)
    if args.json:
        print(json.dumps(report, ensure_ascii=False, indent=2))
    else:
        print_report(report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
