"""A phone whose clock is hours off: flagged clock_skew, put on the server's clock, nothing refused."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from server.timefmt import parse_datetime
from tests.factories import SITE, V1, Api, checkin_body, now_iso, start_visit, uid
from tests.support.images import phone_jpeg
from tests.support.upload import upload

# Times stored and ordered by each database's DATETIME.
pytestmark = pytest.mark.both_databases


@pytest.fixture
def insp(client, world):
    """Inspector A, on the teams of a1 (a village) and a3 (a unit site more than 4 km away)."""
    return Api(client, world.tokens["insp_a"])


def checkin(api, visit_id, point, clock_off: timedelta = timedelta(), real_age: timedelta = timedelta()):
    """A check-in from a phone whose clock is `clock_off` wrong, of a fix taken `real_age` ago."""
    body = checkin_body(*point, sent_at=now_iso(clock_off), client_time=now_iso(clock_off - real_age))
    r = api.post(f"/api/v1/visits/{visit_id}/checkins", body)
    assert r.status_code == 201, r.get_json()
    return r.get_json()


@pytest.mark.parametrize("clock_off", [timedelta(hours=5), timedelta(hours=-7)])
def test_checkin_from_phone_hours_off_is_flagged_and_stored_on_server_time(insp, world, clock_off):
    """A phone clock hours ahead or behind: the check-in is accepted, flagged, and its time is the server's."""
    visit = start_visit(insp, world.a1)
    got = checkin(insp, visit["id"], V1, clock_off=clock_off)
    assert "clock_skew" in got["flags"]
    received = parse_datetime(got["received_at"])
    assert abs(parse_datetime(got["client_time"]) - received) < timedelta(minutes=1)
    assert abs(received - datetime.now(UTC)) < timedelta(minutes=1)


def test_clock_behind_does_not_fake_impossible_speed(insp, world):
    """A fix at the village an hour after one at the site, from a phone an hour slow, is not "250 km/h"."""
    at_site = start_visit(insp, world.a3)
    checkin(insp, at_site["id"], SITE, real_age=timedelta(hours=1))
    in_village = start_visit(insp, world.a1)
    got = checkin(insp, in_village["id"], V1, clock_off=timedelta(hours=-1, minutes=1))
    assert "clock_skew" in got["flags"] and "impossible_speed" not in got["flags"]


def test_clock_ahead_cannot_hide_impossible_speed(insp, world):
    """A phone set three hours ahead cannot spread two fixes 4 km and one minute apart over three hours."""
    at_site = start_visit(insp, world.a3)
    checkin(insp, at_site["id"], SITE, real_age=timedelta(minutes=1))
    in_village = start_visit(insp, world.a1)
    got = checkin(insp, in_village["id"], V1, clock_off=timedelta(hours=3))
    assert "clock_skew" in got["flags"] and "impossible_speed" in got["flags"]


def test_visit_lists_checkins_of_a_skewed_phone_in_real_order(insp, world):
    """A fix from a phone five hours slow, taken after an honest one, is listed after it."""
    visit = start_visit(insp, world.a1)
    honest = checkin(insp, visit["id"], V1, real_age=timedelta(minutes=30))
    skewed = checkin(insp, visit["id"], V1, clock_off=timedelta(hours=-5))
    listed = insp.get(f"/api/v1/visits/{visit['id']}").get_json()["checkins"]
    assert [c["id"] for c in listed] == [honest["id"], skewed["id"]]


def test_whole_visit_from_phone_hours_ahead_is_accepted(insp, world):
    """Start, photo (camera on the same wrong clock), interview and submit with a clock 6 h ahead all succeed."""
    ahead = timedelta(hours=6)
    r = insp.post(
        "/api/v1/visits",
        {"client_id": uid(), "sent_at": now_iso(ahead), "assignment_id": world.a1, "started_at": now_iso(ahead)},
    )
    assert r.status_code == 201, r.get_json()
    visit_id = r.get_json()["id"]
    data = phone_jpeg(seed=61, gps=V1, taken=datetime.now(timezone(timedelta(hours=8))) + ahead)
    r = insp.post(
        f"/api/v1/visits/{visit_id}/photos",
        {
            "client_id": uid(),
            "sent_at": now_iso(ahead),
            "content_type": "image/jpeg",
            "size": len(data),
            "taken_at": now_iso(ahead),
            "lat": V1[0],
            "lng": V1[1],
        },
    )
    assert r.status_code == 201, r.get_json()
    ticket = r.get_json()
    assert upload(insp.client, ticket["upload"], data) == 204
    photo = insp.post(f"/api/v1/photos/{ticket['photo_id']}/complete").get_json()
    assert photo["status"] == "ready" and "exif_time_mismatch" not in photo["flags"], photo
    r = insp.post(
        f"/api/v1/visits/{visit_id}/interviews",
        {"client_id": uid(), "sent_at": now_iso(ahead), "household": "李四", "satisfaction": "满意"},
    )
    assert r.status_code == 201, r.get_json()
    r = insp.post(f"/api/v1/visits/{visit_id}/submit", {"client_id": uid(), "sent_at": now_iso(ahead)})
    assert r.status_code == 200 and r.get_json()["status"] == "submitted", r.get_json()
