"""Real-browser fixtures: the app served on 127.0.0.1, Debian's Chromium driven by Playwright, seed data.

The browser tests run on SQLite only, as every test not marked both_databases does.
"""

from __future__ import annotations

import os
import threading
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from types import SimpleNamespace

import pytest
from werkzeug.serving import make_server

from tests.conftest import missing_component
from tests.factories import V1, Api, checkin_body, now_iso, start_visit, uid
from tests.support.images import phone_jpeg
from tests.support.upload import upload

# Debian's chromium-headless-shell: Chromium's own headless build (the same Blink and V8 as the
# chromium package, without the desktop browser's UI layers), what Playwright itself runs headless.
# Measured on this 2-core machine: the browser tests cost Chromium 35 s of CPU against 82 s with
# the full browser in headless mode. CHROMIUM_PATH=/usr/bin/chromium runs them in the full browser,
# as does a machine with only the chromium package (scripts/test.sh installs the shell).
HEADLESS_SHELL = "/usr/bin/chromium-headless-shell"
CHROMIUM = os.environ.get("CHROMIUM_PATH") or (
    HEADLESS_SHELL if Path(HEADLESS_SHELL).exists() or not Path("/usr/bin/chromium").exists() else "/usr/bin/chromium"
)
# Flags that keep Chromium off the (closed) network: without them it retries Google's hosts at start.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
# A point 3 km north of village 江南村: a photo captured here is flagged capture_far.
FAR = (V1[0] + 3000 / 111_320, V1[1])


@pytest.fixture(scope="session")
def artifacts_dir() -> Path:
    """<repo>/test-artifacts, where screenshots are kept (gitignored)."""
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS


@pytest.fixture(scope="session")
def browser():
    """Headless Debian Chromium under Playwright, shared by the session."""
    try:
        from playwright.sync_api import Error as PlaywrightError
        from playwright.sync_api import sync_playwright
    except ImportError as exc:
        missing_component(f"playwright is not installed ({exc}): pip install -r requirements-dev.txt")
    if not Path(CHROMIUM).exists():
        missing_component(
            f"Chromium is not installed at {CHROMIUM}: apt-get install chromium-headless-shell fonts-noto-cjk"
        )
    with sync_playwright() as pw:
        try:
            chromium = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        except PlaywrightError as exc:
            missing_component(f"Chromium at {CHROMIUM} does not start: {exc}")
        yield chromium
        chromium.close()


@pytest.fixture
def new_page(browser):
    """Makes pages, each in a fresh browser context (own cookies: one logged-in user per page)."""
    contexts = []

    def make():
        context = browser.new_context(locale="zh-CN", viewport={"width": 1280, "height": 900}, accept_downloads=True)
        context.set_default_timeout(10_000)
        contexts.append(context)
        return context.new_page()

    yield make
    for context in contexts:
        context.close()


@pytest.fixture
def page(new_page):
    """A page in a fresh browser context."""
    return new_page()


@pytest.fixture
def live_server(app, seeded):
    """The real app served by werkzeug on 127.0.0.1 (a free port) in a daemon thread; yields its base URL.

    Depends on `seeded` so the data is in place before the browser arrives."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="live-server", daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(timeout=10)
    server.server_close()


def _send_photo(api: Api, visit_id: int, data: bytes, lat: float, lng: float) -> dict:
    """Ticket → upload → complete one photo through the API; returns the completed photo."""
    body = {
        "client_id": uid(),
        "sent_at": now_iso(),
        "content_type": "image/jpeg",
        "size": len(data),
        "taken_at": now_iso(),
        "lat": lat,
        "lng": lng,
    }
    r = api.post(f"/api/v1/visits/{visit_id}/photos", body)
    assert r.status_code == 201, r.get_json()
    ticket = r.get_json()
    assert upload(api.client, ticket["upload"], data) == 204
    r = api.post(f"/api/v1/photos/{ticket['photo_id']}/complete")
    assert r.status_code == 200 and r.get_json()["status"] == "ready", r.get_json()
    return r.get_json()


@pytest.fixture
def seeded(app, world) -> SimpleNamespace:
    """build_world plus, through the inspector's API:

    - `visit`: a submitted visit by insp_a on assignment a1 (village 江南村, township 永阳镇/t1) with a
      check-in at the village and 3 ready photos, the third taken 3 km away (capture_far, no_exif);
    - `open_visit`: a second visit on a1 that is still in progress (never shown to reviewers).
    """
    client = app.test_client()
    insp = Api(client, world.tokens["insp_a"])
    visit = start_visit(insp, world.a1)
    r = insp.post(f"/api/v1/visits/{visit['id']}/checkins", checkin_body(*V1))
    assert r.status_code == 201, r.get_json()
    china_now = datetime.now(UTC).astimezone(timezone(timedelta(hours=8))).replace(tzinfo=None, microsecond=0)
    photos = [
        _send_photo(insp, visit["id"], phone_jpeg(seed=101, taken=china_now, gps=V1), *V1),
        _send_photo(insp, visit["id"], phone_jpeg(seed=102, taken=china_now, gps=V1), *V1),
        _send_photo(insp, visit["id"], phone_jpeg(seed=103), *FAR),
    ]
    assert "capture_far" in photos[2]["flags"], photos[2]["flags"]
    r = insp.post(f"/api/v1/visits/{visit['id']}/submit", {"client_id": uid(), "sent_at": now_iso()})
    assert r.status_code == 200 and r.get_json()["status"] == "submitted", r.get_json()
    open_visit = start_visit(insp, world.a1)
    return SimpleNamespace(world=world, visit=r.get_json(), photos=photos, open_visit=open_visit)
