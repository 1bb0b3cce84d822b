"""Concurrent retries of the same write (a phone on a flaky link) never duplicate anything."""

from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import func, select

from server import clock
from server.db import db
from server.models import AuditEntry, CheckIn, ClientWrite, Visit
from server.services import audit
from tests.factories import V1, Api, checkin_body, now_iso, start_visit, uid

# Concurrent retries: row locks, deadlock and duplicate-key retries differ per database.
pytestmark = pytest.mark.both_databases


def storm(app, token, method, path, body, n=8):
    """Send the same request from n threads at once; return the (status, json) answers."""

    def one(_):
        api = Api(app.test_client(), token)
        r = getattr(api, method)(path, body)
        return r.status_code, r.get_json()

    with ThreadPoolExecutor(max_workers=n) as pool:
        return list(pool.map(one, range(n)))


def test_simultaneous_retries_of_a_checkin_store_one(app, client, world):
    """Eight simultaneous copies of one check-in: one 201, the rest 200, one row, an intact chain."""
    api = Api(client, world.tokens["insp_a"])
    visit = start_visit(api, world.a1)
    answers = storm(app, world.tokens["insp_a"], "post", f"/api/v1/visits/{visit['id']}/checkins", checkin_body(*V1))
    codes = sorted(code for code, _ in answers)
    assert codes == [200] * 7 + [201], answers
    assert len({body["id"] for _, body in answers}) == 1
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(CheckIn)) == 1
        assert audit.verify(db.session).ok


def test_simultaneous_visit_starts_and_submits(app, client, world):
    """Simultaneous starts give one visit; simultaneous submits give one submit entry."""
    body = {"client_id": uid(), "sent_at": now_iso(), "assignment_id": world.a1, "started_at": now_iso()}
    answers = storm(app, world.tokens["insp_a"], "post", "/api/v1/visits", body)
    assert sorted(c for c, _ in answers) == [200] * 7 + [201]
    vid = answers[0][1]["id"]
    submits = storm(
        app, world.tokens["insp_b"], "post", f"/api/v1/visits/{vid}/submit", {"client_id": uid(), "sent_at": now_iso()}
    )
    assert {c for c, _ in submits} == {200}
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Visit)) == 1
        assert (
            db.session.scalar(select(func.count()).select_from(AuditEntry).where(AuditEntry.action == "visit.submit"))
            == 1
        )
        assert (
            db.session.scalar(select(func.count()).select_from(ClientWrite).where(ClientWrite.kind == "visit.start"))
            == 1
        )


class _DriverError(Exception):
    """What pymysql raises: the MySQL error number first."""


def _failing_append(monkeypatch, code: int, times: int) -> list[int]:
    """Make audit.append raise a database error with this MySQL code the first `times` calls."""
    from sqlalchemy.exc import OperationalError

    real, calls = audit.append, []

    def append(*args, **kwargs):
        calls.append(1)
        if len(calls) <= times:
            raise OperationalError("INSERT INTO audit_entries ...", {}, _DriverError(code, "simulated"))
        return real(*args, **kwargs)

    monkeypatch.setattr(audit, "append", append)
    return calls


def test_a_deadlock_victim_is_run_again_and_writes_once(app, client, world, monkeypatch):
    """MySQL's deadlock (1213) and lock-wait timeout (1205) roll the request back; it runs again."""
    calls = _failing_append(monkeypatch, 1213, times=1)
    api = Api(client, world.tokens["insp_a"])
    visit = start_visit(api, world.a1)
    assert len(calls) == 2
    calls = _failing_append(monkeypatch, 1205, times=2)
    r = api.post(f"/api/v1/visits/{visit['id']}/checkins", checkin_body(*V1))
    assert r.status_code == 201, r.get_json()
    assert len(calls) == 3
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Visit)) == 1
        assert db.session.scalar(select(func.count()).select_from(CheckIn)) == 1
        assert audit.verify(db.session).ok


def test_conflicts_that_persist_and_other_database_errors_answer_503(app, client, world, monkeypatch):
    """Three conflicts in a row, or an unreachable database (2003), are not hidden: 503, nothing written."""
    api = Api(client, world.tokens["insp_a"])
    for code, expected_calls in ((1213, 3), (2003, 1)):
        calls = _failing_append(monkeypatch, code, times=99)
        body = {"client_id": uid(), "sent_at": now_iso(), "assignment_id": world.a1, "started_at": now_iso()}
        r = api.post("/api/v1/visits", body)
        assert r.status_code == 503 and r.get_json()["error"]["code"] == "db_unavailable"
        assert len(calls) == expected_calls
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Visit)) == 0


def test_a_duplicate_key_taken_concurrently_is_run_again(app, client, world, monkeypatch):
    """A unique key another transaction took between check and insert (MySQL 1062) re-runs the request, no 500."""
    from sqlalchemy.exc import IntegrityError

    real, calls = audit.append, []

    def append(*args, **kwargs):
        calls.append(1)
        if len(calls) == 1:
            raise IntegrityError("INSERT INTO users ...", {}, _DriverError(1062, "Duplicate entry 'x' for key"))
        return real(*args, **kwargs)

    monkeypatch.setattr(audit, "append", append)
    r = Api(client, world.tokens["admin"]).post(
        "/api/v1/admin/users",
        {"username": "race-1", "name": "同名", "roles": ["leader"], "password": "race-1-password"},
    )
    assert r.status_code == 201, r.get_json()
    assert len(calls) == 2
    with app.app_context():
        assert audit.verify(db.session).ok


def test_a_console_form_that_loses_a_transaction_conflict_runs_again(app, world, monkeypatch):
    """A console form whose commit Galera refuses (1213) is run again, not answered with a 503 page."""
    from server.models import QuarterlyTask
    from tests.console.conftest import csrf, login

    admin = login(app.test_client(), "admin", "admin-password")
    calls = _failing_append(monkeypatch, 1213, times=1)
    r = admin.post("/console/quarterly/generate", data={"csrf_token": csrf(admin), "year": str(clock.today().year)})
    assert r.status_code == 302, r.get_data(as_text=True)
    assert len(calls) == 2
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(QuarterlyTask)) == 12
