"""Backups of the database and the object store into one directory, and restores from them.

A backup is a directory `sp-backup-<UTC time>/` holding the database (`database.sql.gz` from
mariadb-dump/mysqldump, or `database.sqlite3` through SQLite's backup API), every object under
`objects/<key>`, and `manifest.json` with the size and SHA-256 of each file. It is written
under a hidden `.partial` name and renamed when complete, so a directory with the final name
is always a whole backup. The database is dumped before the objects are copied: every photo a
dumped row names was stored before that row, so it is in the copy.

Secrets are not in a backup: personal data stays encrypted with DATA_KEY (or SECRET_KEY),
which must be kept, separately, to read a restored database, and the audit chain and its
checkpoints verify only with the AUDIT_KEY they were made with. The audit checkpoints are
copied before the database is dumped, so each one in a backup records a seq its chain holds.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import logging
import os
import shutil
import sqlite3
import subprocess
import tempfile
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO

from sqlalchemy import inspect, text
from sqlalchemy.engine import URL, make_url

from server.db import make_engine, upgrade
from server.services.checkpoints import PREFIX as CHECKPOINT_PREFIX
from server.storage import SEALED_PREFIX, UPLOAD_PREFIX, Storage, storage_from_config

log = logging.getLogger(__name__)

FORMAT = 1
MANIFEST = "manifest.json"
PREFIX = "sp-backup-"
_CHUNK = 1024 * 1024
# Tables a freshly migrated database already fills: they do not make a restore target "in use".
_BOOKKEEPING_TABLES = frozenset({"alembic_version", "audit_head", "counties", "job_cursors"})


class BackupError(Exception):
    """A backup or restore could not be done; the message says why and what to do."""


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _copy_hashed(src: BinaryIO, dest: Path) -> tuple[int, str]:
    """Stream src into dest; (bytes written, SHA-256)."""
    digest, size = hashlib.sha256(), 0
    dest.parent.mkdir(parents=True, exist_ok=True)
    with dest.open("wb") as out:
        while chunk := src.read(_CHUNK):
            digest.update(chunk)
            size += len(chunk)
            out.write(chunk)
    return size, digest.hexdigest()


def _client_binary(*names: str) -> str:
    """The first of the MySQL/MariaDB client programs found on PATH."""
    for name in names:
        if found := shutil.which(name):
            return found
    raise BackupError(f"none of {', '.join(names)} is installed (Debian: apt-get install mariadb-client)")


def _option_value(value: str) -> str:
    # Option files read double-quoted values with backslash escapes.
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


@contextmanager
def _client_options(url: URL) -> Iterator[list[str]]:
    """Connection options for the mysql client programs; the password goes through a 0600 file, never argv."""
    lines = ["[client]"]
    if url.username:
        lines.append(f"user={_option_value(url.username)}")
    if url.password:
        lines.append(f"password={_option_value(str(url.password))}")
    if socket := url.query.get("unix_socket"):
        lines.append(f"socket={_option_value(str(socket))}")
    else:
        lines.append(f"host={_option_value(url.host or 'localhost')}")
        lines.append("protocol=TCP")
    if url.port:
        lines.append(f"port={url.port}")
    fd, name = tempfile.mkstemp(prefix="sp-mysql-", suffix=".cnf")  # mkstemp creates it 0600
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write("\n".join(lines) + "\n")
        # --defaults-extra-file must be the first option.
        yield [f"--defaults-extra-file={name}"]
    finally:
        os.unlink(name)


def _dump_mysql(url: URL, dest: Path) -> None:
    """mariadb-dump (or mysqldump) of the whole database, gzipped into dest."""
    dump = _client_binary("mariadb-dump", "mysqldump")
    with _client_options(url) as options:
        args = [
            dump,
            *options,
            "--single-transaction",
            "--quick",
            "--routines",
            "--triggers",
            "--hex-blob",
            "--no-tablespaces",
            "--default-character-set=utf8mb4",
            str(url.database),
        ]
        with (
            subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE) as proc,
            gzip.open(dest, "wb") as out,
        ):
            shutil.copyfileobj(proc.stdout, out, _CHUNK)
            errors = proc.stderr.read().decode("utf-8", "replace")
        if proc.returncode != 0:
            raise BackupError(f"{Path(dump).name} failed (exit {proc.returncode}): {errors.strip()}")


def _sqlite_path(url: URL) -> Path:
    if not url.database or url.database == ":memory:":
        raise BackupError("an in-memory SQLite database cannot be backed up")
    return Path(url.database)


def _copy_sqlite(src: Path, dest: Path) -> None:
    """A consistent copy through SQLite's online backup API (safe while the app writes)."""
    source, target = sqlite3.connect(src), sqlite3.connect(dest)
    try:
        source.backup(target)
    finally:
        target.close()
        source.close()


def _sealed_versions(url: str) -> dict[str, str]:
    """Object key → recorded VersionId of the originals sealed under S3 Object Lock."""
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                text("SELECT object_key, object_version FROM photos WHERE object_version IS NOT NULL")
            ).all()
    finally:
        engine.dispose()
    return {key: version for key, version in rows}


def _record_versions(url: str, versions: dict[str, str | None]) -> None:
    """Point the photos at the versions their originals have now: VersionIds belong to the bucket that issued them."""
    engine = make_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(text("UPDATE photos SET object_version = NULL WHERE object_version IS NOT NULL"))
            for key, version in versions.items():
                conn.execute(
                    text("UPDATE photos SET object_version = :v WHERE object_key = :k"), {"v": version, "k": key}
                )
    finally:
        engine.dispose()


def _backup_objects(
    storage: Storage, root: Path, keys: Iterable[str], versions: Mapping[str, str]
) -> list[dict[str, Any]]:
    """Copy the objects but unverified uploads under root/<key> (a sealed original: its recorded version); the manifest entries, sorted by key."""
    entries = []
    for key in sorted(keys):
        if key.startswith(UPLOAD_PREFIX):
            # Not evidence until sealed (the phone re-sends it), and a villager's upload still
            # carries the GPS position that sealing strips.
            continue
        info = storage.head(key)
        if info is None:  # deleted between listing and copying
            continue
        # Under Object Lock the current version of a sealed key may be a later PUT: copy the one served.
        with storage.open(key, version=versions.get(key)) as src:
            size, sha256 = _copy_hashed(src, root / key)
        entries.append({"key": key, "size": size, "sha256": sha256, "content_type": info.content_type})
    return entries


def backup(config: Mapping[str, Any], dest_root: Path) -> Path:
    """Write a complete backup of the configured database and storage under dest_root; its path."""
    url = make_url(config["DATABASE_URL"])
    dest_root.mkdir(parents=True, exist_ok=True)
    name = PREFIX + datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    final, partial = dest_root / name, dest_root / f".{name}.partial"
    if final.exists():
        raise BackupError(f"{final} already exists; wait a second and try again")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir()
    storage = storage_from_config(config)
    try:
        # The audit checkpoints before the database: each then records a seq the dumped chain
        # already holds, so the restored chain verifies against every checkpoint of its backup.
        anchored = _backup_objects(storage, partial / "objects", storage.iter_keys(CHECKPOINT_PREFIX), {})
        if url.get_backend_name() == "sqlite":
            db_file = "database.sqlite3"
            _copy_sqlite(_sqlite_path(url), partial / db_file)
        elif url.get_backend_name() == "mysql":
            db_file = "database.sql.gz"
            _dump_mysql(url, partial / db_file)
        else:
            raise BackupError(f"cannot back up a {url.get_backend_name()} database")
        rest = (k for k in storage.iter_keys() if not k.startswith(CHECKPOINT_PREFIX))
        objects = sorted(
            anchored + _backup_objects(storage, partial / "objects", rest, _sealed_versions(config["DATABASE_URL"])),
            key=lambda o: o["key"],
        )
        manifest = {
            "format": FORMAT,
            "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "database": {
                "backend": url.get_backend_name(),
                "file": db_file,
                "size": (partial / db_file).stat().st_size,
                "sha256": _sha256_file(partial / db_file),
            },
            "storage": {
                "backend": config.get("STORAGE_BACKEND"),
                "count": len(objects),
                "bytes": sum(o["size"] for o in objects),
            },
            "objects": objects,
        }
        (partial / MANIFEST).write_text(json.dumps(manifest, ensure_ascii=False, indent=1), "utf-8")
        partial.rename(final)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    log.info("backup written to %s: database and %d objects", final, len(objects))
    return final


def prune(dest_root: Path, keep: int) -> list[Path]:
    """Delete all but the `keep` newest complete backups under dest_root; the deleted paths."""
    backups = sorted(p for p in dest_root.glob(PREFIX + "*") if (p / MANIFEST).is_file())
    doomed = backups[:-keep] if keep > 0 else backups
    for path in doomed:
        shutil.rmtree(path)
    return doomed


def read_manifest(backup_dir: Path) -> dict[str, Any]:
    """The manifest, after checking that every file it lists is there with its SHA-256."""
    try:
        manifest = json.loads((backup_dir / MANIFEST).read_text("utf-8"))
    except (OSError, ValueError) as exc:
        raise BackupError(f"{backup_dir} is not a backup: cannot read {MANIFEST} ({exc})") from exc
    if manifest.get("format") != FORMAT:
        raise BackupError(f"unknown backup format {manifest.get('format')!r}")
    files = [(manifest["database"]["file"], manifest["database"]["sha256"])]
    files += [(f"objects/{o['key']}", o["sha256"]) for o in manifest["objects"]]
    for relative, expected in files:
        path = backup_dir / relative
        if not path.is_file() or _sha256_file(path) != expected:
            raise BackupError(f"{relative} is missing or damaged in {backup_dir}; nothing was restored")
    return manifest


def _database_in_use(url: str) -> bool:
    """Whether any table other than the migration bookkeeping holds a row."""
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            for table in inspect(conn).get_table_names():
                if table in _BOOKKEEPING_TABLES:
                    continue
                quoted = conn.dialect.identifier_preparer.quote(table)
                if conn.execute(text(f"SELECT 1 FROM {quoted} LIMIT 1")).first():
                    return True
    finally:
        engine.dispose()
    return False


def _drop_all_tables(url: str) -> None:
    """Empty the MySQL database, so tables newer than the backup do not linger."""
    engine = make_engine(url)
    try:
        with engine.begin() as conn:
            conn.exec_driver_sql("SET FOREIGN_KEY_CHECKS=0")
            for table in inspect(conn).get_table_names():
                conn.exec_driver_sql(f"DROP TABLE `{table}`")
            conn.exec_driver_sql("SET FOREIGN_KEY_CHECKS=1")
    finally:
        engine.dispose()


def _load_mysql(url: URL, dump: Path) -> None:
    """Feed the gunzipped dump to the mariadb (or mysql) client."""
    client = _client_binary("mariadb", "mysql")
    # stderr goes to a file: a pipe nobody reads while we write stdin could fill up and block.
    with _client_options(url) as options, gzip.open(dump, "rb") as sql, tempfile.TemporaryFile() as errors:
        proc = subprocess.Popen(
            [client, *options, "--default-character-set=utf8mb4", str(url.database)],
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=errors,
        )
        try:
            shutil.copyfileobj(sql, proc.stdin, _CHUNK)
        except BrokenPipeError:
            pass  # the client stopped early; its exit status and message say why
        finally:
            proc.stdin.close()
        proc.wait()
        errors.seek(0)
        message = errors.read().decode("utf-8", "replace").strip()
    if proc.returncode != 0:
        raise BackupError(f"{Path(client).name} failed (exit {proc.returncode}): {message}")


def restore(config: Mapping[str, Any], backup_dir: Path, *, force: bool = False) -> dict[str, Any]:
    """Restore the database and the objects of backup_dir; refuses a target in use unless force.

    Every file is checked against the manifest first, so a damaged backup changes nothing.
    After loading, migrations bring an older backup up to this code's schema. With force,
    objects that are not in the backup are deleted, so the store equals the backup.
    """
    manifest = read_manifest(backup_dir)
    url_text = config["DATABASE_URL"]
    url = make_url(url_text)
    backend = manifest["database"]["backend"]
    if backend != url.get_backend_name():
        raise BackupError(f"this is a {backend} backup; DATABASE_URL is {url.get_backend_name()}")
    storage = storage_from_config(config)
    if not force:
        if (backend == "mysql" or _sqlite_path(url).exists()) and _database_in_use(url_text):
            raise BackupError("the target database already holds data; use --force to replace it")
        if next(iter(storage.iter_keys()), None) is not None:
            raise BackupError("the target storage already holds objects; use --force to replace them")

    db_file = backup_dir / manifest["database"]["file"]
    if backend == "sqlite":
        target = _sqlite_path(url)
        target.parent.mkdir(parents=True, exist_ok=True)
        _copy_sqlite(db_file, target)
    else:
        _drop_all_tables(url_text)
        _load_mysql(url, db_file)
    upgrade(url_text, audit_key=config.get("AUDIT_KEY"))

    wanted = {o["key"] for o in manifest["objects"]}
    if force:
        for key in [k for k in storage.iter_keys() if k not in wanted]:
            storage.delete(key)
    versions: dict[str, str | None] = {}
    locked = bool(getattr(storage, "object_lock_mode", None))
    for entry in manifest["objects"]:
        content_type = entry["content_type"] or "application/octet-stream"
        with (backup_dir / "objects" / entry["key"]).open("rb") as fh:
            if locked and entry["key"].startswith(SEALED_PREFIX):
                versions[entry["key"]] = storage.put_sealed(entry["key"], fh, content_type=content_type)
            else:
                storage.put(entry["key"], fh, content_type=content_type)
    _record_versions(url_text, versions)
    log.info("restored %s: database and %d objects", backup_dir, len(manifest["objects"]))
    return manifest
