"""SQLAlchemy engine and request-scoped sessions, plus Alembic wiring for `init-db`."""

from __future__ import annotations

import json
import logging
from pathlib import Path

from flask import Flask, current_app, g
from sqlalchemy import Engine, Integer, create_engine, event, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.sql.elements import TextClause
from sqlalchemy.sql.functions import FunctionElement

log = logging.getLogger(__name__)
MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
# How long a starting node waits for another node's migrations before giving up.
MIGRATION_LOCK_WAIT_SECONDS = 600


def _json_dumps(obj) -> str:
    # Keep Chinese readable in the database: MariaDB's JSON_EXTRACT cannot match escaped keys.
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"))


def make_engine(url: str, *, echo: bool = False) -> Engine:
    """Create an engine with the settings each supported database needs."""
    if url.startswith("sqlite"):
        engine = create_engine(url, echo=echo, json_serializer=_json_dumps, hide_parameters=not echo)
        _tune_sqlite(engine)
        return engine
    if url.startswith("mysql") and "charset=" not in url:
        url += ("&" if "?" in url else "?") + "charset=utf8mb4"
    return create_engine(
        url,
        echo=echo,
        json_serializer=_json_dumps,
        pool_pre_ping=True,  # MariaDB restarts must not leave dead connections in the pool
        pool_recycle=3600,
        isolation_level="READ COMMITTED",
        # Error messages (which reach the logs) never carry the values: openids, phones, names.
        hide_parameters=not echo,
    )


def _tune_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn, _record):
        # Let SQLAlchemy, not pysqlite, decide when transactions begin (see _on_begin).
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA busy_timeout=30000")
        cur.close()
        # SQLite has neither BIT_COUNT nor XOR: the near-duplicate lookup's distance is this function.
        dbapi_conn.create_function("hamming_distance", 2, _hamming_distance, deterministic=True)

    @event.listens_for(engine, "begin")
    def _on_begin(conn):
        # Take the write lock up front: a deferred transaction that reads and then writes can
        # fail with SQLITE_BUSY under WAL when another writer committed in between, and the
        # audit chain reads its head before appending.
        conn.exec_driver_sql("BEGIN IMMEDIATE")


def _hamming_distance(a: int, b: int) -> int:
    """Bits that differ between two 64-bit integers stored signed (SQLite's hamming_distance)."""
    return ((a ^ b) & 0xFFFF_FFFF_FFFF_FFFF).bit_count()


class hamming_distance(FunctionElement):  # noqa: N801 (used like func.x in queries)
    """Bits that differ between two 64-bit integer expressions: BIT_COUNT(a ^ b) on MariaDB, a registered function on SQLite."""

    type = Integer()
    inherit_cache = True


@compiles(hamming_distance)
def _hamming_mysql(element, compiler, **kw) -> str:
    # MariaDB's bit operators work on the unsigned 64 bits of a signed BIGINT: the sign is no concern.
    a, b = element.clauses
    return f"BIT_COUNT({compiler.process(a, **kw)} ^ {compiler.process(b, **kw)})"


@compiles(hamming_distance, "sqlite")
def _hamming_sqlite(element, compiler, **kw) -> str:
    return f"hamming_distance({compiler.process(element.clauses, **kw)})"


class bit_xor(FunctionElement):  # noqa: N801 (used like func.x in queries)
    """The bitwise XOR of two non-negative integer expressions: a ^ b on MariaDB, (a | b) - (a & b) on SQLite (no ^ there)."""

    type = Integer()
    inherit_cache = True


@compiles(bit_xor)
def _bit_xor_mysql(element, compiler, **kw) -> str:
    a, b = (compiler.process(c, **kw) for c in element.clauses)
    return f"({a} ^ {b})"


@compiles(bit_xor, "sqlite")
def _bit_xor_sqlite(element, compiler, **kw) -> str:
    a, b = (compiler.process(c, **kw) for c in element.clauses)
    return f"(({a} | {b}) - ({a} & {b}))"


class joined_in_order(TextClause):  # noqa: N801 (used like a function in queries)
    """Row sources (SQL text each) joined in the order given, their join conditions left to WHERE:
    STRAIGHT_JOIN on MariaDB, CROSS JOIN on SQLite (which keeps a CROSS JOIN's order). For a join
    whose best order is known and must not depend on table statistics. Not cached: its text differs
    from query to query."""

    inherit_cache = False

    def __init__(self, *sources: str):
        self.sources = sources
        super().__init__(" CROSS JOIN ".join(sources))


@compiles(joined_in_order)
def _joined_in_order(element, compiler, **kw) -> str:
    return compiler.visit_textclause(element, **kw)


@compiles(joined_in_order, "mysql")
def _joined_in_order_mysql(element, compiler, **kw) -> str:
    return compiler.visit_textclause(TextClause(" STRAIGHT_JOIN ".join(element.sources)), **kw)


class Database:
    """The database extension: one engine per app, one session per app context."""

    def init_app(self, app: Flask) -> None:
        """Create the app's engine and close its session at the end of every request."""
        engine = make_engine(app.config["DATABASE_URL"], echo=app.config.get("SQL_ECHO", False))
        app.extensions["db"] = {
            "engine": engine,
            "sessionmaker": sessionmaker(engine, expire_on_commit=False),
        }
        app.teardown_appcontext(self._close)

    @property
    def engine(self) -> Engine:
        """The current app's engine."""
        return current_app.extensions["db"]["engine"]

    @property
    def session(self) -> Session:
        """The session of the current app context, created on first use."""
        if "db_session" not in g:
            g.db_session = current_app.extensions["db"]["sessionmaker"]()
        return g.db_session

    @staticmethod
    def _close(_exc) -> None:
        session = g.pop("db_session", None)
        if session is None:
            return
        try:
            session.close()
        except DBAPIError as exc:
            # The answer is already made (a 503 when the database went away): a connection whose
            # ROLLBACK fails — a Galera node leaving the cluster answers 1047, a restarting server
            # drops it — must not escape the request as the WSGI server's bare HTML 500.
            log.warning("discarding a database connection that failed to close: %s", exc.orig)
            session.invalidate()


db = Database()


def alembic_config(url: str, *, audit_key: str | None = None):
    """An Alembic Config pointing at our migrations and the given database (audit_key: for 0013's re-keying)."""
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    if audit_key:
        cfg.attributes["audit_key"] = audit_key
    return cfg


def upgrade(url: str, *, audit_key: str | None = None) -> None:
    """Apply every migration (idempotent: an up-to-date database is left as it is).

    On MySQL/MariaDB the run holds a named lock, so that several app nodes starting at once
    (each running migrations on start) take turns: the first migrates, the others then find
    the database up to date. SQLite lives on one machine and serializes writers itself.
    """
    from alembic import command

    if not url.startswith("mysql"):
        command.upgrade(alembic_config(url, audit_key=audit_key), "head")
        return
    engine = make_engine(url)
    # GET_LOCK names are server-wide: one lock per database, at most 64 characters.
    name = f"sp-migrate-{engine.url.database}"[:64]
    try:
        with engine.connect() as conn:
            got = conn.execute(
                text("SELECT GET_LOCK(:name, :wait)"), {"name": name, "wait": MIGRATION_LOCK_WAIT_SECONDS}
            ).scalar()
            if got != 1:
                raise RuntimeError(
                    f"another node held the migration lock {name!r} for "
                    f"{MIGRATION_LOCK_WAIT_SECONDS} s; is a migration stuck?"
                )
            try:
                command.upgrade(alembic_config(url, audit_key=audit_key), "head")
            finally:
                conn.execute(text("SELECT RELEASE_LOCK(:name)"), {"name": name})
    finally:
        engine.dispose()
