"""The evidence page's map in Chromium: 天地图-style WMTS tiles from a local tile server when a key is
set (the right tiles, markers on the right pixel, a far EXIF point as a labelled line), the SVG
sketch and no tile request without a key."""

from __future__ import annotations

import math
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from io import BytesIO
from urllib.parse import parse_qs, urlsplit

import pytest
from PIL import Image, ImageDraw

from server import geo
from tests.browser.helpers import login
from tests.factories import V1, Api, checkin_body, now_iso, start_visit, uid
from tests.support.images import phone_jpeg
from tests.support.upload import upload

KEY = "3f9c1e7a5b2d4c6e8f0a1b2c3d4e5f60"
# The camera's GPS of the second photo: about 39 km north of 江南村, far beyond the village's view.
EXIF_FAR = (V1[0] + 0.35, V1[1])


class TileServer:
    """A WMTS stand-in on 127.0.0.1: every tile is a PNG that draws its own layer and z/x/y."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, int, int, int, str]] = []  # (layer, z, x, y, tk)
        self.refuse = False  # answer 403, as 天地图 does for a key bound to another domain
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 - http.server's name
                """Record the tile asked for and draw it (or refuse it)."""
                parts = urlsplit(self.path)
                layer, z, x, name = parts.path.strip("/").split("/")
                y = int(name.removesuffix(".png"))
                tk = parse_qs(parts.query).get("tk", [""])[0]
                owner.requests.append((layer, int(z), int(x), y, tk))
                if owner.refuse:
                    self.send_error(403)
                    return
                base = layer in ("vec", "img")
                # Base layers are opaque; annotation layers (cva, cia) are transparent but for their text.
                image = Image.new("RGBA", (256, 256), (236, 240, 232, 255) if base else (0, 0, 0, 0))
                draw = ImageDraw.Draw(image)
                if base:
                    draw.rectangle((0, 0, 255, 255), outline=(120, 120, 120, 255))
                draw.text((8, 8 if base else 24), f"{layer} {z}/{x}/{y}", fill=(0, 0, 0, 255))
                out = BytesIO()
                image.save(out, "PNG")
                self.send_response(200)
                self.send_header("Content-Type", "image/png")
                self.send_header("Content-Length", str(len(out.getvalue())))
                self.end_headers()
                self.wfile.write(out.getvalue())

            def log_message(self, *args):
                """Keep the test output quiet."""

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, name="tile-server", daemon=True)
        self.thread.start()
        self.template = f"http://127.0.0.1:{self.server.server_port}/{{layer}}/{{z}}/{{x}}/{{y}}.png?tk={{tk}}"

    def close(self) -> None:
        """Stop serving."""
        self.server.shutdown()
        self.thread.join(timeout=10)
        self.server.server_close()


@pytest.fixture
def tiles():
    """The local tile server."""
    server = TileServer()
    yield server
    server.close()


@pytest.fixture
def tianditu_key() -> str:
    """The 天地图 key the app is given (tests without one parametrize it to "")."""
    return KEY


@pytest.fixture
def storage_config(tmp_path, tiles, tianditu_key) -> dict:
    """Local storage, and the map's tiles from the local tile server when there is a key."""
    return {
        "STORAGE_BACKEND": "local",
        "STORAGE_DIR": str(tmp_path / "storage"),
        "TIANDITU_KEY": tianditu_key,
        "TIANDITU_URL_TEMPLATE": tiles.template,
    }


@pytest.fixture
def far_exif_visit(app, seeded) -> int:
    """A submitted visit on a1: a check-in at 江南村, a photo there, and a photo whose EXIF GPS is 39 km away."""
    insp = Api(app.test_client(), seeded.world.tokens["insp_a"])
    visit = start_visit(insp, seeded.world.a1)
    assert insp.post(f"/api/v1/visits/{visit['id']}/checkins", checkin_body(*V1)).status_code == 201
    for seed, gps in ((201, V1), (202, EXIF_FAR)):
        data = phone_jpeg(seed=seed, gps=gps)
        body = {"client_id": uid(), "sent_at": now_iso(), "content_type": "image/jpeg", "size": len(data)}
        ticket = insp.post(
            f"/api/v1/visits/{visit['id']}/photos", {**body, "taken_at": now_iso(), "lat": V1[0], "lng": V1[1]}
        )
        assert ticket.status_code == 201, ticket.get_json()
        assert upload(insp.client, ticket.get_json()["upload"], data) == 204
        done = insp.post(f"/api/v1/photos/{ticket.get_json()['photo_id']}/complete").get_json()
        assert done["status"] == "ready", done
    r = insp.post(f"/api/v1/visits/{visit['id']}/submit", {"client_id": uid(), "sent_at": now_iso()})
    assert r.status_code == 200, r.get_json()
    return visit["id"]


def mercator(lat: float, lng: float, z: int) -> tuple[float, float]:
    """A WGS-84 point in Web Mercator tile units at zoom z (the grid of 天地图's TILEMATRIXSET=w)."""
    n = 2**z
    return (lng + 180) / 360 * n, (1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n


def centre(box: dict) -> tuple[float, float]:
    """The centre of a Playwright bounding box."""
    return box["x"] + box["width"] / 2, box["y"] + box["height"] / 2


def test_map_draws_tianditu_tiles_markers_and_a_far_exif_line(page, live_server, far_exif_visit, tiles, artifacts_dir):
    """With a key the map loads the village's tiles, puts the WGS-84 check-in on its tile pixel, and
    draws the far EXIF position as a dashed line labelled with its distance."""
    login(page, live_server, "admin", "admin-password")
    page.goto(f"{live_server}/console/visits/{far_exif_visit}")
    page.locator("#visit-leaflet img.leaflet-tile-loaded").nth(7).wait_for()
    assert page.locator("#visit-sketch").is_hidden()

    # Tiles: vector and annotation layers, one zoom, the key passed, around the village's tile.
    zooms = {z for _, z, _, _, _ in tiles.requests}
    assert len(zooms) == 1, tiles.requests
    z = zooms.pop()
    assert 14 <= z <= 17  # a 300 m geofence fills the view; the 39 km point did not zoom it out
    fx, fy = mercator(*V1, z)
    tx, ty = int(fx), int(fy)
    requested = {(layer, x, y) for layer, _, x, y, _ in tiles.requests}
    assert {("vec", tx, ty), ("cva", tx, ty)} <= requested
    assert all(abs(x - tx) <= 3 and abs(y - ty) <= 3 for _, x, y in requested), requested
    assert {tk for *_, tk in tiles.requests} == {KEY}

    # The check-in, stored in WGS-84 at V1, sits on V1's pixel of the tile drawn as z/tx/ty.
    tile = page.locator(f"#visit-leaflet img.leaflet-tile[src*='/vec/{z}/{tx}/{ty}.png']").bounding_box()
    expected = (tile["x"] + (fx - tx) * 256, tile["y"] + (fy - ty) * 256)
    marker = centre(page.locator("#visit-leaflet .map-marker.checkin").bounding_box())
    assert abs(marker[0] - expected[0]) <= 1.5 and abs(marker[1] - expected[1]) <= 1.5, (marker, expected)
    # A GCJ-02 conversion would have moved it by tens of pixels at this zoom: it was not applied.
    gx, gy = mercator(*geo.wgs84_to_gcj02(*V1), z)
    assert math.hypot((gx - fx) * 256, (gy - fy) * 256) > 20
    place = centre(page.locator("#visit-leaflet .map-marker.place").bounding_box())
    assert abs(place[0] - expected[0]) <= 1.5 and abs(place[1] - expected[1]) <= 1.5

    # The far EXIF point: a dashed line from the centre northwards and its distance at the view's edge.
    assert page.locator("#visit-leaflet path.far-line").count() == 1
    label = page.locator("#visit-leaflet .far-label")
    distance = geo.format_metres(geo.distance_m(V1, EXIF_FAR))
    assert label.inner_text() == f"P2 EXIF 距中心 {distance}"
    view = page.locator("#visit-leaflet").bounding_box()
    lx, ly = centre(label.locator("span").bounding_box())
    assert view["y"] <= ly < expected[1] and view["x"] <= lx <= view["x"] + view["width"]
    assert abs(lx - expected[0]) <= 2  # due north of the centre
    page.locator("#map").screenshot(path=str(artifacts_dir / "visit-map.png"))


@pytest.mark.parametrize("tianditu_key", [""])
def test_without_a_key_the_sketch_shows_and_no_tile_is_requested(page, live_server, far_exif_visit, tiles):
    """Without a key the page shows the SVG sketch (with the far EXIF line) and asks no tile server."""
    login(page, live_server, "admin", "admin-password")
    page.goto(f"{live_server}/console/visits/{far_exif_visit}")
    page.wait_for_load_state("networkidle")
    assert page.locator("#visit-sketch svg.visit-map").is_visible()
    assert page.locator("#visit-leaflet").count() == 0
    assert page.evaluate("typeof window.L") == "undefined"
    distance = geo.format_metres(geo.distance_m(V1, EXIF_FAR))
    assert page.locator("#visit-sketch text.far-label").text_content() == f"P2 EXIF 距中心 {distance}"
    assert tiles.requests == []


def test_when_no_tile_loads_the_page_falls_back_to_the_sketch(page, live_server, far_exif_visit, tiles):
    """A key the tile server refuses (bound to another domain, or no network): the SVG sketch comes back."""
    tiles.refuse = True
    login(page, live_server, "admin", "admin-password")
    page.goto(f"{live_server}/console/visits/{far_exif_visit}")
    page.locator("#visit-sketch svg.visit-map").wait_for(state="visible")
    assert page.locator("#visit-leaflet").is_hidden()
    assert tiles.requests and "已改用离线示意图" in page.locator("#visit-map-note").inner_text()
