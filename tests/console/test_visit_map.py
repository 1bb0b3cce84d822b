"""The evidence page's map: 天地图 tiles only with a key (and only then in the CSP), WGS-84 positions
handed to the map unconverted, far EXIF positions plotted with their distance on both maps."""

from __future__ import annotations

import html
import json
import logging
import re

import pytest
from sqlalchemy import select

# Load the API package first, as the app factory does (services.photos needs it complete).
import server.api  # noqa: F401, I001
from server import geo
from server.config import TIANDITU_DEFAULT_URL_TEMPLATE, ConfigError, load_config
from server.console import maps, svgmap
from server.db import db
from server.models import CheckIn, Photo
from server.storage import StorageError, storage_from_config
from tests.factories import V1, Api, checkin_body, now_iso, start_visit, uid
from tests.support.images import phone_jpeg
from tests.support.s3server import s3_settings
from tests.support.upload import upload

KEY = "0a1b2c3d4e5f60718293a4b5c6d7e8f9"
TILES = "http://127.0.0.1:9/{layer}/{z}/{x}/{y}.png?tk={tk}"
# The camera's GPS of the second photo: about 39 km north of 江南村.
EXIF_FAR = (V1[0] + 0.35, V1[1])
# Where the presigned photo URLs point (the local backend served under this public address).
PHOTO_HOST = "http://localhost:8000"


@pytest.fixture
def tianditu_key() -> str:
    """The 天地图 key the app is given (tests without one parametrize it to "")."""
    return KEY


@pytest.fixture
def storage_config(request, tmp_path, tianditu_key) -> dict:
    """Local storage served at PHOTO_HOST (the S3 HTTP server for tests marked `s3_storage`); the map's key and tiles."""
    tiles = {"TIANDITU_KEY": tianditu_key, "TIANDITU_URL_TEMPLATE": TILES}
    if request.node.get_closest_marker("s3_storage"):
        from tests.support.s3server import make_bucket, s3_endpoint

        endpoint, bucket = s3_endpoint(), f"map-{uid()[:8]}"
        make_bucket(endpoint, bucket)
        return {
            **s3_settings(endpoint, bucket),
            **tiles,
        }
    return {
        "STORAGE_BACKEND": "local",
        "STORAGE_DIR": str(tmp_path / "storage"),
        "PUBLIC_BASE_URL": PHOTO_HOST,
        **tiles,
    }


@pytest.fixture
def visit_id(client, world) -> int:
    """A submitted visit on a1: a check-in at 江南村, a photo there, a photo whose EXIF GPS is 39 km away."""
    insp = Api(client, world.tokens["insp_a"])
    visit = start_visit(insp, world.a1)
    assert insp.post(f"/api/v1/visits/{visit['id']}/checkins", checkin_body(*V1)).status_code == 201
    for seed, gps in ((301, V1), (302, EXIF_FAR)):
        data = phone_jpeg(seed=seed, gps=gps)
        body = {"client_id": uid(), "sent_at": now_iso(), "content_type": "image/jpeg", "size": len(data)}
        ticket = insp.post(
            f"/api/v1/visits/{visit['id']}/photos", {**body, "taken_at": now_iso(), "lat": V1[0], "lng": V1[1]}
        )
        assert ticket.status_code == 201, ticket.get_json()
        assert upload(client, ticket.get_json()["upload"], data) == 204
        assert insp.post(f"/api/v1/photos/{ticket.get_json()['photo_id']}/complete").get_json()["status"] == "ready"
    assert (
        insp.post(f"/api/v1/visits/{visit['id']}/submit", {"client_id": uid(), "sent_at": now_iso()}).status_code == 200
    )
    return visit["id"]


def img_sources(response) -> list[str]:
    """The img-src sources of a response's Content-Security-Policy."""
    policy = dict(
        (part.split()[0], part.split()[1:])
        for part in response.headers["Content-Security-Policy"].split(";")
        if part.strip()
    )
    return policy["img-src"]


def allows(sources: list[str], url: str) -> bool:
    """Whether an img-src list lets the browser load `url` (the source forms the console uses)."""
    scheme, _, rest = url.partition("://")
    host = rest.split("/", 1)[0]
    for source in sources:
        if source in ("*", f"{scheme}:"):
            return True
        s_scheme, _, s_host = source.partition("://")
        if s_scheme == scheme and (s_host == host or (s_host.startswith("*.") and host.endswith(s_host[1:]))):
            return True
    return False


def map_data(page: str) -> dict:
    """The JSON the page hands to visit_map.js."""
    return json.loads(html.unescape(re.search(r"data-map='([^']*)'", page).group(1)))


def test_with_a_key_the_page_loads_leaflet_and_the_csp_allows_the_tile_host(console, visit_id):
    """With a key the page carries the map (key and tile template in data attributes) and only img-src gains the tile host."""
    r = console("admin").get(f"/console/visits/{visit_id}")
    page = r.get_data(as_text=True)
    assert "vendor/leaflet/leaflet.js" in page and "visit_map.js" in page
    assert f'data-tk="{KEY}"' in page
    assert html.unescape(re.search(r'data-tiles="([^"]*)"', page).group(1)) == TILES
    assert allows(img_sources(r), "http://127.0.0.1:9/vec/15/26840/13828.png?tk=x")
    policy = r.headers["Content-Security-Policy"]
    assert "script-src 'self';" in policy and "connect-src 'self';" in policy
    assert "<script>" not in page  # every script is a static file


@pytest.mark.parametrize("tianditu_key", [""])
def test_without_a_key_the_page_shows_the_sketch_and_the_csp_blocks_tiles(console, visit_id):
    """Without a key: the SVG sketch, no Leaflet, and no tile host (nor any http(s) host) in img-src."""
    r = console("admin").get(f"/console/visits/{visit_id}")
    page = r.get_data(as_text=True)
    assert 'class="visit-map"' in page
    assert "leaflet" not in page and "data-tk" not in page
    for url in ("http://127.0.0.1:9/vec/15/26840/13828.png", "https://t3.tianditu.gov.cn/vec_w/wmts?tk=x"):
        assert not allows(img_sources(r), url)


@pytest.mark.parametrize("tianditu_key", ["", KEY])
def test_every_photo_on_the_evidence_page_is_allowed_by_its_csp(console, visit_id, tianditu_key):
    """Narrowing img-src keeps the photos: the storage's host is named whether or not there is a key."""
    r = console("admin").get(f"/console/visits/{visit_id}")
    urls = [html.unescape(u) for u in re.findall(r'<img[^>]* src="([^"]+)"', r.get_data(as_text=True))]
    assert len(urls) == 2 and all(u.startswith(PHOTO_HOST) for u in urls)
    assert all(allows(img_sources(r), u) for u in urls)


@pytest.mark.s3_storage
def test_s3_photos_on_the_evidence_page_are_allowed_by_its_csp(app, console, visit_id):
    """With S3 storage the presigned bucket URLs of the page's photos are allowed by img-src."""
    r = console("admin").get(f"/console/visits/{visit_id}")
    urls = [html.unescape(u) for u in re.findall(r'<img[^>]* src="([^"]+)"', r.get_data(as_text=True))]
    assert len(urls) == 2 and all(u.startswith(app.config["S3_ENDPOINT_URL"]) for u in urls)
    assert all(allows(img_sources(r), u) for u in urls)


def test_the_csp_names_an_s3_bucket_host(tmp_path):
    """With S3 storage the bucket's host (as its presigned URLs show it) is what img-src names."""
    storage = storage_from_config(
        {
            "STORAGE_BACKEND": "s3",
            "S3_BUCKET": "photos",
            "S3_ENDPOINT_URL": "https://oss-cn-hangzhou.example.com",
            "S3_REGION": "cn-hangzhou",
            "S3_ACCESS_KEY_ID": "id",
            "S3_SECRET_ACCESS_KEY": "secret",
            "S3_ADDRESSING_STYLE": "virtual",
        }
    )
    url = storage.presign_get("sealed/visit/x.jpg")
    assert maps.url_origin(url) == "https://photos.oss-cn-hangzhou.example.com"


def test_console_pages_still_open_while_storage_cannot_presign(app, client, monkeypatch):
    """Storage without credentials yet: pages are served (img-src without its host) and the host is asked again later."""

    def refuse(*args, **kwargs):
        raise StorageError("S3 presign get failed: no credentials")

    monkeypatch.setattr(app.extensions["storage"], "presign_get", refuse)
    r = client.get("/console/login")
    assert r.status_code == 200 and not allows(img_sources(r), PHOTO_HOST + "/api/v1/storage/object")
    monkeypatch.undo()
    assert allows(img_sources(client.get("/console/login")), PHOTO_HOST + "/api/v1/storage/object")


def test_map_data_hands_over_the_stored_wgs84_positions_unconverted(app, console, visit_id):
    """The check-in, the capture position and the EXIF position reach the map exactly as stored (WGS-84)."""
    page = console("admin").get(f"/console/visits/{visit_id}").get_data(as_text=True)
    data = map_data(page)
    with app.app_context():
        checkin = db.session.scalars(select(CheckIn).where(CheckIn.visit_id == visit_id)).one()
        photos = db.session.scalars(select(Photo).where(Photo.visit_id == visit_id).order_by(Photo.id)).all()
    stored = {("checkin", "1"): (checkin.lat, checkin.lng)}
    for n, p in enumerate(photos, start=1):
        stored[("photo", f"P{n}")] = (p.lat, p.lng)
        stored[("exif", f"P{n} EXIF")] = (p.exif["lat"], p.exif["lng"])
    drawn = {(pt["kind"], pt["label"]): (pt["lat"], pt["lng"]) for pt in data["points"]}
    assert drawn == stored
    assert data["center"] == list(V1)
    gcj = geo.wgs84_to_gcj02(*V1)
    assert all(abs(lat - gcj[0]) > 1e-4 or abs(lng - gcj[1]) > 1e-4 for lat, lng in drawn.values())


def test_far_exif_position_is_marked_far_with_its_distance(console, visit_id):
    """Only the EXIF position 39 km away is 'far', labelled with its distance from the centre."""
    data = map_data(console("admin").get(f"/console/visits/{visit_id}").get_data(as_text=True))
    far = [pt for pt in data["points"] if pt["far"]]
    assert [(pt["kind"], pt["label"]) for pt in far] == [("exif", "P2 EXIF")]
    assert far[0]["distance"] == geo.format_metres(geo.distance_m(V1, EXIF_FAR)) == "38.78 公里"


def test_the_key_is_never_logged(console, visit_id, caplog):
    """Rendering the map with the key logs nothing that contains it."""
    with caplog.at_level(logging.DEBUG):
        assert console("admin").get(f"/console/visits/{visit_id}").status_code == 200
    assert caplog.records and not any(KEY in record.getMessage() for record in caplog.records)


def test_print_view_keeps_the_sketch_with_the_far_exif_line(console, visit_id):
    """Paper has no tiles: the print view draws the SVG sketch, the far EXIF point as a labelled line."""
    page = html.unescape(console("admin").get(f"/console/visits/{visit_id}/print").get_data(as_text=True))
    assert "leaflet" not in page
    assert '<path class="far-line"' in page
    assert re.search(r'<text class="far-label"[^>]*>P2 EXIF 距中心 38\.78 公里</text>', page)


def test_sketch_pins_a_far_exif_point_to_the_edge_with_a_dashed_line():
    """In the SVG a far EXIF position is on the frame's edge, joined to the centre by a labelled dashed line."""
    svg = svgmap.render(
        center=V1,
        radius_m=300,
        boundary=None,
        checkins=[svgmap.Marker(*V1, "1", "签到 1")],
        photos=[svgmap.Marker(*V1, "P1", "照片 P1")],
        exif=[svgmap.Marker(*V1, "P1 EXIF", "P1 近"), svgmap.Marker(*EXIF_FAR, "P2 EXIF", "P2 远")],
        place_name="江南村",
    )
    assert svg.count('class="marker exif"') == 2
    line = re.search(r'<path class="far-line" d="M([\d.]+),([\d.]+) L([\d.]+),([\d.]+)"[^>]*stroke-dasharray', svg)
    x0, y0, x1, y1 = map(float, line.groups())
    assert x1 == x0 and y1 == svgmap.MARGIN  # straight north, to the top edge
    assert svg.count('class="far-line"') == 1 and re.search(r'class="far-label"[^>]*>P2 EXIF 距中心 38\.78 公里<', svg)


def test_tile_template_setting(tmp_path):
    """The default is 天地图's WMTS address; a template without {z}/{x}/{y} stops start-up."""
    env = {"INSTANCE_DIR": str(tmp_path)}
    assert load_config(env)["TIANDITU_URL_TEMPLATE"] == TIANDITU_DEFAULT_URL_TEMPLATE
    assert maps.tile_source(TIANDITU_DEFAULT_URL_TEMPLATE) == "https://*.tianditu.gov.cn"
    assert maps.tile_source(TILES) == "http://127.0.0.1:9"
    with pytest.raises(ConfigError, match="TIANDITU_URL_TEMPLATE"):
        load_config({**env, "TIANDITU_URL_TEMPLATE": "https://t0.tianditu.gov.cn/vec_w/wmts?tk={tk}"})
