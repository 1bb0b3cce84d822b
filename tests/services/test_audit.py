"""The hash-chained audit log: verification, tamper detection, the CLI, and what it must not hold."""

import json

import pytest
from sqlalchemy import JSON, column, func, select, table, text

from server.db import db
from server.models import AuditEntry, AuditHead, UTCDateTime
from server.services import audit, checkpoints
from tests.factories import Api, now_iso, start_visit, uid

# The hash chain over stored rows (time and JSON types read back), its locked head, its migration.
pytestmark = pytest.mark.both_databases

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


@pytest.mark.parametrize(
    "column,value",
    [
        ("action", "user.delete"),
        ("object_id", "424242"),
        ("actor_id", 2),
    ],
)
def test_edited_column_is_detected(app, history, column, value):
    """Changing the action, object or actor of an entry is detected at that entry."""
    sql(app, f"UPDATE audit_log SET {column} = :v WHERE seq = 12", v=value)
    report = run_verify(app)
    assert (report.ok, report.first_bad_seq) == (False, 12)


def test_edited_entry_with_recomputed_hash_is_detected(app, history):
    """An entry rewritten together with its own hash no longer fits its successor's prev_hash."""
    with app.app_context():
        e = db.session.scalar(select(AuditEntry).where(AuditEntry.seq == 9))
        forged = audit.entry_hash(
            key=audit.current_chain_key(),
            seq=e.seq,
            at=e.at.isoformat(),
            actor_id=e.actor_id,
            action=e.action,
            object_type=e.object_type,
            object_id=e.object_id,
            data={"forged": True},
            prev_hash=e.prev_hash,
        )
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
    r = api.post(
        f"/api/v1/visits/{visit['id']}/interviews",
        {
            "client_id": uid(),
            "sent_at": now_iso(),
            "household": HOUSEHOLD,
            "satisfaction": "满意",
            "answers": {"是否知晓项目": "知道"},
            "notes": "户主在家",
        },
    )
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


# ---- the key and the checkpoints: what someone with write access to the database tries --------


def rehash_from(app, first_seq: int, hasher, last_seq: int | None = None) -> None:
    """Recompute the hashes from first_seq (to last_seq) with `hasher(content)` and move the head, as a forger would."""
    with app.app_context():
        stmt = select(AuditEntry).where(AuditEntry.seq >= first_seq).order_by(AuditEntry.seq)
        if last_seq is not None:
            stmt = stmt.where(AuditEntry.seq <= last_seq)
        entries = db.session.scalars(stmt).all()
        prev = db.session.scalar(select(AuditEntry.hash).where(AuditEntry.seq == first_seq - 1)) or audit.GENESIS
        for e in entries:
            e.prev_hash = prev
            e.hash = prev = hasher(
                seq=e.seq,
                at=e.at.isoformat(),
                actor_id=e.actor_id,
                action=e.action,
                object_type=e.object_type,
                object_id=e.object_id,
                data=e.data,
                prev_hash=e.prev_hash,
            )
        if last_seq is None:
            head = db.session.get(AuditHead, 1)
            head.seq, head.hash = (entries[-1].seq, prev) if entries else (first_seq - 1, prev)
        else:  # the next entry is made to point at the forged one
            nxt = db.session.scalar(select(AuditEntry).where(AuditEntry.seq == last_seq + 1))
            nxt.prev_hash = prev
        db.session.commit()


def checkpoint(app, reason: str = "test") -> checkpoints.Checkpoint:
    """Write a checkpoint of the current head through the CLI's own service call."""
    with app.app_context():
        return checkpoints.write(db.session, app.extensions["storage"], app.config["AUDIT_KEY"], reason)


def verify_with_checkpoints(app) -> audit.ChainReport:
    """audit.verify against every stored checkpoint, as verify-audit runs it."""
    with app.app_context():
        stored, problems = checkpoints.read_all(app.extensions["storage"], app.config["AUDIT_KEY"])
        assert problems == []
        return audit.verify(db.session, anchors=checkpoints.anchors(stored))


@pytest.mark.parametrize(
    "hasher",
    [
        audit.legacy_entry_hash,
        lambda **c: audit.entry_hash(key=audit.chain_key("a guessed AUDIT_KEY"), **c),
        lambda **c: audit.entry_hash(key=b"", **c),
    ],
    ids=["plain-sha256", "guessed-key", "empty-key"],
)
def test_edit_recomputed_without_the_key_is_detected(app, history, hasher):
    """An entry edited and the chain recomputed from it with the code's own hashing, minus AUDIT_KEY, is caught there."""
    sql(app, "UPDATE audit_log SET data = :d WHERE seq = 9", d='{"code":"forged"}')
    rehash_from(app, 9, hasher)
    report = run_verify(app)
    assert (report.ok, report.first_bad_seq, report.entries) == (False, 9, 8)


def test_whole_chain_recomputed_without_the_key_is_detected(app, history):
    """Recomputing every entry as an old unkeyed chain is caught: no keyed entry seals it."""
    sql(app, "UPDATE audit_log SET data = :d WHERE seq = 3", d='{"name":"伪造"}')
    rehash_from(app, 1, audit.legacy_entry_hash)
    report = run_verify(app)
    assert (report.ok, report.first_bad_seq) == (False, 1)
    assert "not sealed" in report.reason


def test_deleted_tail_with_head_reset_is_caught_by_a_checkpoint(app, history):
    """Deleting the newest entries and resetting the head fits the chain, but not the checkpoint that saw them."""
    last = 20 + history
    checkpoint(app)
    sql(app, "DELETE FROM audit_log WHERE seq > 16")
    sql(app, "UPDATE audit_head SET seq = 16, hash = (SELECT hash FROM audit_log WHERE seq = 16) WHERE id = 1")
    assert run_verify(app).ok  # the chain alone cannot tell
    report = verify_with_checkpoints(app)
    assert (report.ok, report.entries, report.first_bad_seq) == (False, 16, 17)
    assert report.reason.startswith("truncated") and f"seq {last}" in report.reason


def test_rewrite_with_the_key_is_caught_by_an_earlier_checkpoint(app, history):
    """Even with AUDIT_KEY in hand, rewriting entries a checkpoint covers is reported as a rewrite."""
    cp = checkpoint(app)
    sql(app, "UPDATE audit_log SET data = :d WHERE seq = 12", d='{"rewritten":true}')
    rehash_from(app, 12, lambda **c: audit.entry_hash(key=audit.chain_key(app.config["AUDIT_KEY"]), **c))
    assert run_verify(app).ok
    report = verify_with_checkpoints(app)
    assert (report.ok, report.first_bad_seq) == (False, cp.seq)
    assert report.reason.startswith("rewritten")


def test_chain_agrees_with_its_checkpoints(app, history, client, world):
    """Checkpoints taken as the chain grows all agree with it later."""
    checkpoint(app)
    Api(client, world.tokens["admin"]).post(f"{A}/townships", {"code": "360821105000", "name": "敖城镇"})
    checkpoint(app)
    report = verify_with_checkpoints(app)
    assert (report.ok, report.entries, report.anchors) == (True, 21 + history, 2)


def test_forged_checkpoint_is_reported(app, history):
    """A checkpoint object edited in storage fails its signature and verify-audit exits 1 naming it."""
    cp = checkpoint(app)
    storage = app.extensions["storage"]
    doc = {**cp.document(), "seq": cp.seq - 5}
    storage.put(cp.object_key(), json.dumps(doc).encode(), content_type="application/json")
    result = app.test_cli_runner().invoke(args=["verify-audit"])
    assert result.exit_code == 1
    assert f"checkpoint INVALID: {cp.object_key()}: signature does not match" in result.output


def test_cli_checkpoint_then_verify(app, history):
    """audit-checkpoint writes a signed head to storage and verify-audit reports agreement with it."""
    runner = app.test_cli_runner()
    written = runner.invoke(args=["audit-checkpoint"])
    assert written.exit_code == 0, written.output
    assert f"seq {20 + history} hash " in written.output
    keys = list(app.extensions["storage"].iter_keys(checkpoints.PREFIX))
    assert len(keys) == 1 and keys[0].startswith(f"{checkpoints.PREFIX}{20 + history:012d}-")
    result = runner.invoke(args=["verify-audit"])
    assert result.exit_code == 0, result.output
    assert "agrees with 1 checkpoints" in result.output


def test_cli_reports_truncation_against_a_checkpoint(app, history):
    """verify-audit exits 1 and says "truncated" when entries a checkpoint saw are gone."""
    app.test_cli_runner().invoke(args=["audit-checkpoint"])
    sql(app, "DELETE FROM audit_log WHERE seq > 10")
    sql(app, "UPDATE audit_head SET seq = 10, hash = (SELECT hash FROM audit_log WHERE seq = 10) WHERE id = 1")
    result = app.test_cli_runner().invoke(args=["verify-audit"])
    assert result.exit_code == 1
    assert "BROKEN at seq 11: truncated" in result.output


def test_cli_anchor_copied_from_the_public_page(app, client, history):
    """A head copied from /audit, given back as --anchor, is checked like a checkpoint."""
    cp = checkpoint(app)
    page = client.get("/audit").get_data(as_text=True)
    assert cp.hash in page and str(cp.seq) in page
    good = app.test_cli_runner().invoke(args=["verify-audit", "--anchor", f"{cp.seq}:{cp.hash}"])
    assert good.exit_code == 0 and "1 anchors" in good.output
    bad = app.test_cli_runner().invoke(args=["verify-audit", "--anchor", f"{cp.seq}:{'f' * 64}"])
    assert bad.exit_code == 1 and "rewritten" in bad.output


def test_public_page_without_a_checkpoint(client, world):
    """Before the first checkpoint the public page says so instead of failing."""
    r = client.get("/audit")
    assert r.status_code == 200
    assert "尚未生成" in r.get_data(as_text=True)


def old_audit_log():
    """audit_log as it was at 0009 (today's model has columns added since)."""
    return table(
        "audit_log",
        column("seq"),
        column("at", UTCDateTime()),
        column("actor_id"),
        column("action"),
        column("object_type"),
        column("object_id"),
        column("data", JSON()),
        column("prev_hash"),
        column("hash"),
    )


def test_migration_0013_seals_an_unkeyed_chain(app):
    """Upgrading a chain of plain SHA-256 entries appends one keyed entry recording the old head; later edits of the old entries are caught."""
    from alembic import command

    from server.db import alembic_config, upgrade
    from server.models import utcnow

    url = app.config["DATABASE_URL"]
    command.downgrade(alembic_config(url), "0009")
    # The tables as they were at 0009 (today's models have columns added since).
    log = old_audit_log()
    head = table("audit_head", column("id"), column("seq"), column("hash"))
    with app.app_context():
        prev = audit.GENESIS
        for seq in (1, 2, 3):
            content = {
                "seq": seq,
                "at": utcnow(),
                "actor_id": None,
                "action": "user.create",
                "object_type": "user",
                "object_id": str(seq),
                "data": {"n": seq},
                "prev_hash": prev,
            }
            digest = audit.legacy_entry_hash(**{**content, "at": content["at"].isoformat()})
            db.session.execute(log.insert().values(**content, hash=digest))
            prev = digest
        db.session.execute(head.update().where(head.c.id == 1).values(seq=3, hash=prev))
        db.session.commit()
    upgrade(url, audit_key=app.config["AUDIT_KEY"])
    with app.app_context():
        assert audit.verify(db.session) == audit.ChainReport(True, 4)
        seal = db.session.scalar(select(AuditEntry).where(AuditEntry.seq == 4))
        assert (seal.action, seal.prev_hash) == (audit.REKEY_ACTION, prev)
        assert seal.data == {"old_head_seq": 3, "old_head_hash": prev}
        audit.append(db.session, None, "test.after", "test", 1)
        db.session.commit()
        assert audit.verify(db.session) == audit.ChainReport(True, 5)
    sql(app, "UPDATE audit_log SET data = :d WHERE seq = 2", d='{"n":"forged"}')
    rehash_from(app, 2, audit.legacy_entry_hash, last_seq=3)
    report = run_verify(app)
    assert (report.ok, report.first_bad_seq) == (False, 4)  # the keyed entry no longer fits
    rehash_from(app, 1, audit.legacy_entry_hash)
    report = run_verify(app)
    assert (report.ok, report.first_bad_seq) == (False, 1)
