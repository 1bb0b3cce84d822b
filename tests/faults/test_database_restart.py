"""MariaDB restarted while phones are writing: clean 503s, retries succeed, nothing doubled or half-written."""

from __future__ import annotations

import threading
import time

import pytest
from sqlalchemy import func, select

from server.db import db
from server.models import AuditEntry, CheckIn, ClientWrite, Interview
from server.services import audit
from tests.factories import V1, Api, build_world, checkin_body, now_iso, start_visit, uid
from tests.support.apps import make_app

WRITES_PER_PHONE = 12
RETRY_PAUSE = 0.05


@pytest.fixture(scope="module")
def db_app(private_mariadb, fake_wechat, tmp_path_factory):
    """The app on the private MariaDB, with the base data."""
    app = make_app(
        private_mariadb.url,
        {"STORAGE_BACKEND": "local", "STORAGE_DIR": str(tmp_path_factory.mktemp("storage"))},
        fake_wechat,
    )
    with app.app_context():
        world = build_world()
    yield app, world
    app.extensions["db"]["engine"].dispose()


def assert_clean_503(response) -> None:
    """A JSON 503 naming the database, with a Chinese message and no traceback."""
    assert response.status_code == 503, (response.status_code, response.data[:300])
    assert response.is_json
    error = response.get_json()["error"]
    assert error["code"] == "db_unavailable" and "稍后重试" in error["message"]
    assert b"Traceback" not in response.data and b"pymysql" not in response.data.lower()


class Phone:
    """One inspector's phone: sends its queued writes in order, retrying each until the server takes it."""

    def __init__(self, app, token: str, visit_id: int) -> None:
        self.api = Api(app.test_client(), token)
        self.visit_id = visit_id
        self.queue = []
        for n in range(WRITES_PER_PHONE):
            if n % 3 == 2:
                self.queue.append(
                    (
                        "interviews",
                        {"client_id": uid(), "sent_at": now_iso(), "household": f"农户{n}", "satisfaction": "满意"},
                    )
                )
            else:
                self.queue.append(("checkins", checkin_body(*V1)))
        self.answers: dict[str, list[int]] = {}
        self.failures: list = []
        self.done = 0

    def run(self) -> None:
        """Send every queued write; a 503 is retried with the same client_id, anything else is final."""
        for kind, body in self.queue:
            for _ in range(2000):
                r = self.api.post(f"/api/v1/visits/{self.visit_id}/{kind}", {**body, "sent_at": now_iso()})
                self.answers.setdefault(body["client_id"], []).append(r.status_code)
                if r.status_code in (200, 201):
                    break
                if r.status_code != 503:
                    self.failures.append((r.status_code, r.data[:300]))
                    return
                self.failures.extend([] if _is_clean_503(r) else [(503, r.data[:300])])
                time.sleep(RETRY_PAUSE)
            self.done += 1


def _is_clean_503(response) -> bool:
    try:
        assert_clean_503(response)
    except AssertionError:
        return False
    return True


def test_mariadb_restart_under_load_loses_and_doubles_nothing(db_app, private_mariadb):
    """Four phones writing while MariaDB restarts: outage answers are clean 503s, retries land exactly once."""
    app, world = db_app
    client = app.test_client()
    phones = []
    for name in ("insp_a", "insp_a", "insp_b", "insp_b"):
        visit = start_visit(Api(client, world.tokens[name]), world.a1)
        phones.append(Phone(app, world.tokens[name], visit["id"]))
    threads = [threading.Thread(target=p.run, daemon=True) for p in phones]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 60
    while sum(p.done for p in phones) < 6 and time.monotonic() < deadline:
        time.sleep(0.02)
    private_mariadb.stop()
    try:
        assert_clean_503(
            Api(client, world.tokens["insp_a"]).post(f"/api/v1/visits/{phones[0].visit_id}/checkins", checkin_body(*V1))
        )
        time.sleep(0.5)
    finally:
        private_mariadb.start()
    for t in threads:
        t.join(120)
    assert not any(t.is_alive() for t in threads), "a phone never got its writes through"
    assert [f for p in phones for f in p.failures] == []
    assert any(503 in codes for p in phones for codes in p.answers.values()), "the restart hit no request"

    sent = {body["client_id"]: kind for p in phones for kind, body in p.queue}
    with app.app_context():
        s = db.session
        stored = dict(
            s.execute(select(ClientWrite.client_id, ClientWrite.kind).where(ClientWrite.client_id.in_(sent))).all()
        )
        assert stored == {cid: "visit.checkin" if k == "checkins" else "visit.interview" for cid, k in sent.items()}
        visit_ids = [p.visit_id for p in phones]
        checkins = s.scalar(select(func.count()).select_from(CheckIn).where(CheckIn.visit_id.in_(visit_ids)))
        interviews = s.scalar(select(func.count()).select_from(Interview).where(Interview.visit_id.in_(visit_ids)))
        assert (checkins, interviews) == (
            list(sent.values()).count("checkins"),
            list(sent.values()).count("interviews"),
        )
        audited = s.scalar(
            select(func.count())
            .select_from(AuditEntry)
            .where(AuditEntry.action.in_(["visit.checkin", "visit.interview"]))
        )
        assert audited == len(sent)
        assert audit.verify(s).ok


def test_request_while_mariadb_is_down_is_a_json_503(db_app, private_mariadb):
    """With MariaDB stopped, a read and a write both answer a JSON 503 with Retry-After, not a 500 page."""
    app, world = db_app
    api = Api(app.test_client(), world.tokens["insp_a"])
    visit = start_visit(api, world.a1)
    private_mariadb.stop()
    try:
        read = api.get(f"/api/v1/visits/{visit['id']}")
        write = api.post(f"/api/v1/visits/{visit['id']}/checkins", checkin_body(*V1))
    finally:
        private_mariadb.start()
    for response in (read, write):
        assert_clean_503(response)
        assert response.headers["Retry-After"]
    assert api.get(f"/api/v1/visits/{visit['id']}").status_code == 200
