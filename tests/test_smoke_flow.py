"""The inspector's visit from login to submit, on every database."""

import pytest

from tests.factories import V1, Api, checkin_body, now_iso, start_visit, uid
from tests.support.images import phone_jpeg
from tests.support.upload import upload

# The whole flow once on each database.
pytestmark = pytest.mark.both_databases


def test_whole_visit(client, world):
    """Check in, photograph, interview, tick the checklist and submit; everything is stored."""
    api = Api(client, world.tokens["insp_a"])
    visit = start_visit(api, world.a1)
    r = api.post(f"/api/v1/visits/{visit['id']}/checkins", checkin_body(*V1))
    assert r.status_code == 201, r.get_json()
    assert r.get_json()["within_geofence"] is True
    data = phone_jpeg(gps=V1)
    r = api.post(
        f"/api/v1/visits/{visit['id']}/photos",
        {
            "client_id": uid(),
            "sent_at": now_iso(),
            "content_type": "image/jpeg",
            "size": len(data),
            "taken_at": now_iso(),
            "lat": V1[0],
            "lng": V1[1],
        },
    )
    assert r.status_code == 201, r.get_json()
    ticket = r.get_json()
    assert upload(client, ticket["upload"], data) == 204
    r = api.post(f"/api/v1/photos/{ticket['photo_id']}/complete")
    assert r.status_code == 200, r.get_json()
    assert r.get_json()["status"] == "ready"
    r = api.post(f"/api/v1/visits/{visit['id']}/submit", {"client_id": uid(), "sent_at": now_iso()})
    assert r.status_code == 200
    r = api.get(f"/api/v1/visits/{visit['id']}")
    assert r.status_code == 200
    body = r.get_json()
    assert body["status"] == "submitted" and len(body["photos"]) == 1
