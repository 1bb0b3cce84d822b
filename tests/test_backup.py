"""Backup and restore of the database (SQLite, MariaDB) and the bucket (the S3 server), end to end."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import create_engine, inspect, select, text
from sqlalchemy.engine import make_url

from server.backup import MANIFEST, BackupError, backup, prune, restore
from server.db import db
from server.models import User
from server.services import audit
from tests.conftest import _truncate_mariadb
from tests.factories import uid
from tests.support.images import phone_jpeg
from tests.support.s3server import make_bucket, s3_endpoint, s3_settings

ROOT = Path(__file__).resolve().parent.parent
# mariadb-dump and SQLite's backup API are different code.
pytestmark = [pytest.mark.s3, pytest.mark.both_databases]
PHOTO_KEY = "photos/2026/visit-1/a.jpg"


@pytest.fixture
def storage_config():
    """The app's photos live in a fresh bucket on the S3 server."""
    endpoint = s3_endpoint()
    bucket = f"backup-{uid()[:8]}"
    make_bucket(endpoint, bucket)
    return {
        **s3_settings(endpoint, bucket),
    }


@pytest.fixture
def filled(app, world):
    """The world's rows plus two objects: a phone photo and its thumbnail."""
    storage = app.extensions["storage"]
    photo = phone_jpeg(seed=5, size=(640, 480))
    storage.put(PHOTO_KEY, photo, content_type="image/jpeg")
    storage.put("photos/2026/visit-1/a.thumb.jpg", photo[: len(photo) // 2], content_type="image/jpeg")
    return app


def _rows(url: str) -> dict[str, list[tuple]]:
    """Every row of every table, in primary-key order."""
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            out = {}
            for table in inspect(conn).get_table_names():
                keys = inspect(conn).get_pk_constraint(table)["constrained_columns"] or ["1"]
                order = ", ".join(conn.dialect.identifier_preparer.quote(k) for k in keys)
                quoted = conn.dialect.identifier_preparer.quote(table)
                out[table] = [tuple(r) for r in conn.execute(text(f"SELECT * FROM {quoted} ORDER BY {order}"))]
            return out
    finally:
        engine.dispose()


def _objects(app) -> dict[str, tuple[bytes, str | None]]:
    """key -> (bytes, content type) of every stored object."""
    storage = app.extensions["storage"]
    out = {}
    for key in storage.iter_keys():
        with storage.open(key) as fh:
            out[key] = (fh.read(), storage.head(key).content_type)
    return out


def _wipe(app, sqlite_template: Path) -> None:
    """Leave a freshly migrated, empty database and an empty bucket, as on a new deployment."""
    url = app.config["DATABASE_URL"]
    app.extensions["db"]["engine"].dispose()
    if url.startswith("sqlite"):
        path = Path(make_url(url).database)
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        shutil.copy(sqlite_template, path)
    else:
        _truncate_mariadb(url)
    storage = app.extensions["storage"]
    for key in list(storage.iter_keys()):
        storage.delete(key)


def test_round_trip_restores_rows_and_object_bytes(filled, tmp_path, sqlite_template):
    """Back up, wipe, restore: every row and every object's bytes and type are as they were."""
    app, url = filled, filled.config["DATABASE_URL"]
    rows, objects = _rows(url), _objects(app)
    path = backup(app.config, tmp_path / "backups")
    _wipe(app, sqlite_template)
    assert _rows(url)["users"] == [] and _objects(app) == {}
    restore(app.config, path)
    assert _rows(url) == rows
    assert _objects(app) == objects
    with app.app_context():
        assert audit.verify(db.session).ok
        assert db.session.scalar(select(User).where(User.username == "insp_a")).name == "insp_a"


def test_manifest_lists_every_object_with_its_hash(filled, tmp_path):
    """The manifest names the database file and each object with size and SHA-256, matching the copies."""
    path = backup(filled.config, tmp_path / "backups")
    manifest = json.loads((path / MANIFEST).read_text("utf-8"))
    assert path.name.startswith("sp-backup-")
    assert [o["key"] for o in manifest["objects"]] == sorted([PHOTO_KEY, "photos/2026/visit-1/a.thumb.jpg"])
    photo = next(o for o in manifest["objects"] if o["key"] == PHOTO_KEY)
    assert photo["size"] == (path / "objects" / PHOTO_KEY).stat().st_size
    assert photo["content_type"] == "image/jpeg"
    assert (path / manifest["database"]["file"]).is_file()


def test_restore_refuses_a_database_in_use(filled, tmp_path):
    """Restoring over a database that holds data is refused and changes nothing."""
    path = backup(filled.config, tmp_path / "backups")
    before = _rows(filled.config["DATABASE_URL"])
    with pytest.raises(BackupError, match="--force"):
        restore(filled.config, path)
    assert _rows(filled.config["DATABASE_URL"]) == before


def test_restore_refuses_a_bucket_in_use(filled, tmp_path, sqlite_template):
    """With an empty database but objects in the bucket, the restore is refused too."""
    path = backup(filled.config, tmp_path / "backups")
    _wipe(filled, sqlite_template)
    filled.extensions["storage"].put("photos/other.jpg", b"\xff\xd8other", content_type="image/jpeg")
    with pytest.raises(BackupError, match="storage"):
        restore(filled.config, path)
    assert _rows(filled.config["DATABASE_URL"])["users"] == []


def test_damaged_backup_restores_nothing(filled, tmp_path, sqlite_template):
    """A backup whose object no longer matches its SHA-256 is refused before anything is written."""
    path = backup(filled.config, tmp_path / "backups")
    _wipe(filled, sqlite_template)
    damaged = path / "objects" / PHOTO_KEY
    damaged.write_bytes(damaged.read_bytes()[:-1] + b"\x00")
    with pytest.raises(BackupError, match="damaged"):
        restore(filled.config, path)
    assert _rows(filled.config["DATABASE_URL"])["users"] == []
    assert _objects(filled) == {}


def test_force_replaces_newer_rows_and_objects(filled, tmp_path):
    """With force, rows and objects made after the backup are gone: the target equals the backup."""
    url = filled.config["DATABASE_URL"]
    rows, objects = _rows(url), _objects(filled)
    path = backup(filled.config, tmp_path / "backups")
    with filled.app_context():
        from server.services import users

        users.create_user(
            db.session,
            None,
            {"username": "late", "name": "后来的", "roles": ["inspector"], "password": "late-password"},
        )
    filled.extensions["storage"].put("photos/late.jpg", b"\xff\xd8late", content_type="image/jpeg")
    filled.extensions["db"]["engine"].dispose()
    restore(filled.config, path, force=True)
    assert _rows(url) == rows
    assert _objects(filled) == objects


def test_prune_keeps_the_newest(tmp_path):
    """prune deletes all but the N newest complete backups and leaves partial ones alone."""
    root = tmp_path / "backups"
    for stamp in ("20260101T000000Z", "20260102T000000Z", "20260103T000000Z"):
        (root / f"sp-backup-{stamp}").mkdir(parents=True)
        (root / f"sp-backup-{stamp}" / MANIFEST).write_text("{}")
    (root / ".sp-backup-20260104T000000Z.partial").mkdir()
    deleted = prune(root, 2)
    assert [p.name for p in deleted] == ["sp-backup-20260101T000000Z"]
    assert sorted(p.name for p in root.iterdir()) == [
        ".sp-backup-20260104T000000Z.partial",
        "sp-backup-20260102T000000Z",
        "sp-backup-20260103T000000Z",
    ]


def test_scripts_back_up_and_refuse_to_overwrite(storage_config, sqlite_template, tmp_path):
    """scripts/backup.py writes a backup from the environment; scripts/restore.py then refuses the live target."""
    database = tmp_path / "live.db"
    shutil.copy(sqlite_template, database)
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{database}",
        "SECRET_KEY": "k",
        "INSTANCE_DIR": str(tmp_path / "instance"),
        **storage_config,
    }
    storage_env = {k: v for k, v in env.items() if k.startswith(("S3_", "STORAGE_"))}
    from server.storage import storage_from_config

    storage_from_config(storage_env).put(PHOTO_KEY, b"\xff\xd8photo", content_type="image/jpeg")
    made = subprocess.run(
        [sys.executable, "scripts/backup.py", "--dest", str(tmp_path / "b")],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert made.returncode == 0, made.stderr
    path = Path(made.stdout.strip())
    assert (path / "objects" / PHOTO_KEY).read_bytes() == b"\xff\xd8photo"
    refused = subprocess.run(
        [sys.executable, "scripts/restore.py", str(path)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert refused.returncode == 1
    assert "--force" in refused.stderr


def test_restored_chain_verifies_against_the_checkpoints_of_its_backup(filled, tmp_path, sqlite_template, monkeypatch):
    """A checkpoint written while the database is being dumped (after its snapshot) stays out of the backup."""
    import server.backup as backup_module
    from server.services import checkpoints

    app = filled
    with app.app_context():
        checkpoints.write(db.session, app.extensions["storage"], app.config["AUDIT_KEY"], "before")
    dump_sqlite, dump_mysql = backup_module._copy_sqlite, backup_module._dump_mysql

    def busy_after(dump):
        def run(*args):
            dump(*args)
            # The service goes on: a new entry, then the hourly checkpoint fires.
            with app.app_context():
                audit.append(db.session, None, "test.during_backup", "test", 1)
                db.session.commit()
                checkpoints.write(db.session, app.extensions["storage"], app.config["AUDIT_KEY"], "during")

        return run

    monkeypatch.setattr(backup_module, "_copy_sqlite", busy_after(dump_sqlite))
    monkeypatch.setattr(backup_module, "_dump_mysql", busy_after(dump_mysql))
    path = backup(app.config, tmp_path / "backups")
    monkeypatch.undo()
    _wipe(app, sqlite_template)
    restore(app.config, path)
    result = app.test_cli_runner().invoke(args=["verify-audit"])
    assert result.exit_code == 0, result.output
    assert "agrees with 1 checkpoints" in result.output
