"""scripts/try_visit.py: a newcomer walks the inspector's and the villager's flows on the demo, over real HTTP."""

from __future__ import annotations

import re
import threading

import pytest
from sqlalchemy import select
from werkzeug.serving import make_server

from scripts import try_visit
from server.db import db
from server.models import Assignment, CheckIn, Feedback, Photo, User, Visit, VisitFlag
from server.services import demo, visits
from tests.factories import now_iso, uid


@pytest.fixture
def demo_server(app):
    """The demo county loaded, served on 127.0.0.1 like `bash scripts/run_demo.sh` does; its URL."""
    with app.app_context():
        demo.load(db.session)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="demo-server", daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(timeout=10)
    server.server_close()


def _flags(visit_id: int) -> set[str]:
    return set(db.session.scalars(select(VisitFlag.flag).where(VisitFlag.visit_id == visit_id)))


def test_try_visit_submits_a_visit_and_a_feedback(app, demo_server, fake_wechat, capsys):
    """Bound, checked in, two photos ready, interviewed, submitted; the villager's feedback stored; URLs printed."""
    assert try_visit.main(["--server", demo_server, "--wechat", fake_wechat.url]) == 0
    out = capsys.readouterr().out
    visit_id = int(re.search(r"/console/visits/(\d+)", out).group(1))
    assert f"{demo_server}/console/visits/{visit_id}" in out
    with app.app_context():
        visit = db.session.get(Visit, visit_id)
        inspector = db.session.get(User, visit.created_by_id)
        assert inspector.username == "inspector" and inspector.openid == try_visit.INSPECTOR_OPENID
        assert visit.status == "submitted"
        photos = db.session.scalars(select(Photo).where(Photo.owner_kind == "visit", Photo.owner_id == visit_id)).all()
        assert [p.status for p in photos] == ["ready", "ready"]
        assert all(p.exif["lat"] and p.exif["lng"] for p in photos)  # the generated JPEGs carry GPS
        checkin = db.session.scalar(select(CheckIn).where(CheckIn.visit_id == visit_id))
        assert checkin.within_geofence
        # A fresh visit by a fresh phone at the right place and time raises nothing a reviewer must look at.
        assert _flags(visit_id) & {"impossible_speed", "far_from_village", "clock_skew", "exif_time_mismatch"} == set()
        feedback = db.session.scalar(select(Feedback).order_by(Feedback.id.desc()))
        assert feedback.project_id == visit.project_id


def test_try_visit_runs_again_without_binding_again(app, demo_server, fake_wechat, capsys):
    """A second run logs the bound inspector straight in and adds a second visit."""
    assert try_visit.main(["--server", demo_server, "--wechat", fake_wechat.url]) == 0
    first = capsys.readouterr().out
    assert "invite code" in first
    assert try_visit.main(["--server", demo_server, "--wechat", fake_wechat.url]) == 0
    second = capsys.readouterr().out
    assert "invite code" not in second
    ids = [int(re.search(r"/console/visits/(\d+)", text).group(1)) for text in (first, second)]
    assert ids[0] != ids[1]
    with app.app_context():
        assert "impossible_speed" not in _flags(ids[1])


def test_try_visit_says_what_is_missing_when_the_demo_is_not_running(capsys):
    """No server: a clear message naming run_demo.sh and exit status 1, not a traceback."""
    assert try_visit.main(["--server", "http://127.0.0.1:9", "--wechat", "http://127.0.0.1:9"]) == 1
    assert "run_demo.sh" in capsys.readouterr().err


def test_the_demo_visit_does_not_trip_the_newcomers_first_checkin(app):
    """Right after the demo loads, the demo inspector's first check-in at the demo assignment farthest
    from the demo's own visit is not 'too fast': the demo's visit must not be the newcomer's."""
    with app.app_context():
        demo.load(db.session)
        inspector = db.session.scalar(select(User).where(User.username == "inspector"))
        demo_visit = db.session.scalar(select(Visit).order_by(Visit.id))
        mine = [a for a in db.session.scalars(select(Assignment).order_by(Assignment.id)) if inspector in a.members]
        assignment = next(a for a in mine if a.village_id != demo_visit.village_id)
        visit, _ = visits.start_visit(
            db.session, inspector, {"client_id": uid(), "assignment_id": assignment.id, "started_at": now_iso()}
        )
        point = {"lat": assignment.village.lat, "lng": assignment.village.lng}
        body = {"client_id": uid(), "sent_at": now_iso(), "accuracy_m": 10.0, "client_time": now_iso(), **point}
        visits.add_checkin(db.session, inspector, visit.id, {**body, "coord_type": "wgs84"})
        assert "impossible_speed" not in _flags(visit.id)
