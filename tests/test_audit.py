"""The hash-chained audit log: verification, tamper detection, the CLI, and what it must not hold."""

import json

import pytest
from sqlalchemy import func, select, text

from server.db import db
from server.models import AuditEntry, AuditHead
from server.services import audit
from tests.factories import Api, now_iso, start_visit, uid

A = "/api/v1/admin"
HOUSEHOLD = "王大明家"


@pytest.fixture
def history(client, world) -> int:
    """A series of admin and inspector writes on top of the world; answers how many entries they added."""
    admin = Api(client, world.tokens["admin"])
    insp = Api(client, world.tokens["insp_a"])
    writes = [
        admin.post(f"{A}/townships", {"code": "360821104000", "name": "万福镇"}),
        admin.patch(f"{A}/villages/{world.v1}", {"name": "江南新村"}),
        admin.post(f"{A}/users", {"name": "新人", "roles": ["inspector"]}),
        admin.patch(f"{A}/assignments/{world.a2}", {"status": "closed"}),
    ]
    assert all(r.status_code in (200, 201) for r in writes)
    start_visit(insp, world.a1)
    return len(writes) + 1


def run_verify(app, **kw) -> audit.ChainReport:
    """audit.verify on a fresh session."""
    with app.app_context():
        return audit.verify(db.session, **kw)


def sql(app, statement: str, **params) -> None:
    """Run one SQL statement behind the application's back, as someone with database access could."""
    with app.app_context():
        db.session.execute(text(statement), params)
        db.session.commit()


def entry_count(app) -> int:
    """The number of rows in audit_log."""
    with app.app_context():
        return db.session.scalar(select(func.count(AuditEntry.id)))


def test_world_is_audited_from_the_genesis(app, world):
    """The base data alone forms an intact chain of one entry per service write, starting at seq 1."""
    report = run_verify(app)
    # build_world: admin, 2 townships, 2 villages, 3 projects (+1 site), 7 staff, 1 villager, 3 assignments
    assert report == audit.ChainReport(True, 20)
    with app.app_context():
        first = db.session.scalar(select(AuditEntry).where(AuditEntry.seq == 1))
        assert first.prev_hash == audit.GENESIS and first.action == "user.create"


def test_chain_intact_after_writes(app, history):
    """After API writes the chain verifies and counts every entry."""
    report = run_verify(app)
    assert report.ok and report.first_bad_seq is None
    assert report.entries == 20 + history == entry_count(app)


def test_head_tracks_the_last_entry(app, history):
    """The head row holds the seq and hash of the newest entry."""
    with app.app_context():
        last = db.session.scalar(select(AuditEntry).order_by(AuditEntry.seq.desc()).limit(1))
        head = db.session.get(AuditHead, 1)
        assert (head.seq, head.hash) == (last.seq, last.hash) == (20 + history, last.hash)


def test_verify_in_small_batches(app, history):
    """Verification reading a few rows at a time reaches the same result."""
    assert run_verify(app, batch=3) == run_verify(app) == audit.ChainReport(True, 20 + history)


def test_edited_data_is_detected(app, history):
    """Changing one entry's data in SQL breaks the chain at that entry."""
    sql(app, "UPDATE audit_log SET data = :d WHERE seq = 7", d=json.dumps({"code": "999999999999"}))
    report = run_verify(app)
    assert not report.ok
    assert (report.first_bad_seq, report.entries) == (7, 6)
    assert "hash" in report.reason


@pytest.mark.parametrize("column,value", [
    ("action", "user.delete"), ("object_id", "424242"), ("actor_id", 2),
])
def test_edited_column_is_detected(app, history, column, value):
    """Changing the action, object or actor of an entry is detected at that entry."""
    sql(app, f"UPDATE audit_log SET {column} = :v WHERE seq = 12", v=value)
    report = run_verify(app)
    assert (report.ok, report.first_bad_seq) == (False, 12)


def test_edited_entry_with_recomputed_hash_is_detected(app, history):
    """An entry rewritten together with its own hash no longer fits its successor's prev_hash."""
    with app.app_context():
        e = db.session.scalar(select(AuditEntry).where(AuditEntry.seq == 9))
        forged = audit.entry_hash(key=audit.current_chain_key(), seq=e.seq, at=e.at.isoformat(),
                                  actor_id=e.actor_id, action=e.action, object_type=e.object_type,
                                  object_id=e.object_id, data={"forged": True}, prev_hash=e.prev_hash)
    sql(app, "UPDATE audit_log SET data = :d, hash = :h WHERE seq = 9", d='{"forged":true}', h=forged)
    report = run_verify(app)
    assert (report.ok, report.first_bad_seq) == (False, 10)
    assert "prev_hash" in report.reason


def test_deleted_last_entry_is_detected(app, history):
    """Deleting the newest entry is caught by the head: the missing seq is reported."""
    last = 20 + history
    sql(app, "DELETE FROM audit_log WHERE seq = :s", s=last)
    report = run_verify(app)
    assert not report.ok
    assert (report.first_bad_seq, report.entries) == (last, last - 1)
    assert "missing" in report.reason


def test_deleted_middle_entry_is_detected(app, history):
    """Deleting an entry inside the chain reports that entry's seq as the first bad one."""
    sql(app, "DELETE FROM audit_log WHERE seq = 15")
    report = run_verify(app)
    assert (report.ok, report.first_bad_seq, report.entries) == (False, 15, 14)


def test_deleted_first_entry_is_detected(app, history):
    """Deleting the genesis entry is detected at seq 1."""
    sql(app, "DELETE FROM audit_log WHERE seq = 1")
    report = run_verify(app)
    assert (report.ok, report.first_bad_seq, report.entries) == (False, 1, 0)


def test_cli_reports_an_intact_chain(app, history):
    """verify-audit exits 0 and prints the entry count when the chain is intact."""
    result = app.test_cli_runner().invoke(args=["verify-audit"])
    assert result.exit_code == 0, result.output
    assert f"intact: {20 + history} entries" in result.output


def test_cli_reports_a_broken_chain(app, history):
    """verify-audit exits 1 naming the first bad seq when an entry was edited."""
    sql(app, "UPDATE audit_log SET data = :d WHERE seq = 3", d='{"name":"伪造"}')
    result = app.test_cli_runner().invoke(args=["verify-audit"])
    assert result.exit_code == 1
    assert "BROKEN at seq 3" in result.output


def test_cli_reports_a_truncated_chain(app, history):
    """verify-audit exits 1 when the newest entry was deleted."""
    sql(app, "DELETE FROM audit_log WHERE seq = :s", s=20 + history)
    result = app.test_cli_runner().invoke(args=["verify-audit"])
    assert result.exit_code == 1
    assert f"BROKEN at seq {20 + history}" in result.output


def test_household_names_stay_out_of_the_audit_log(app, client, world):
    """An interview is audited by id and satisfaction; the household's name is in no audit row."""
    api = Api(client, world.tokens["insp_a"])
    visit = start_visit(api, world.a1)
    r = api.post(f"/api/v1/visits/{visit['id']}/interviews", {
        "client_id": uid(), "sent_at": now_iso(), "household": HOUSEHOLD, "satisfaction": "满意",
        "answers": {"是否知晓项目": "知道"}, "notes": "户主在家"})
    assert r.status_code == 201, r.get_json()
    assert r.get_json()["household"] == HOUSEHOLD
    with app.app_context():
        rows = db.session.execute(text("SELECT * FROM audit_log")).all()
        entry = db.session.scalar(select(AuditEntry).where(AuditEntry.action == "visit.interview"))
    assert entry.object_id == str(r.get_json()["id"])
    assert entry.data == {"visit_id": visit["id"], "satisfaction": "满意"}
    escaped = json.dumps(HOUSEHOLD)[1:-1]  # as \\u-escapes, should JSON ever be stored escaped
    for row in rows:
        dump = " ".join(str(v) for v in row)
        assert HOUSEHOLD not in dump and escaped not in dump and "王大明" not in dump
    assert run_verify(app).ok
