"""build_world's rows, built once per database kind and session, then copied into each test's database.

Building the world through the services costs 0.2-0.5 s a test; copying its rows costs a few ms.
The first test of a session that asks for `world` on a fresh database builds it as before and the
rows it left are kept; later tests whose database is still fresh and whose app would have written
the same rows (same keys: see FINGERPRINT) get those rows inserted. Anything else builds as before.
"""

from __future__ import annotations

import copy
from datetime import date
from types import SimpleNamespace

from sqlalchemy import Engine, inspect, text

# The settings build_world's rows depend on: password hashes, invite HMACs and their expiry,
# encrypted personal data, the audit chain's key. Tokens are signed with SECRET_KEY too.
FINGERPRINT = ("SECRET_KEY", "DATA_KEY", "AUDIT_KEY", "PASSWORD_HASH_METHOD", "INVITE_MAX_AGE_DAYS")
# Tables a freshly migrated database already fills: never part of "the test wrote something".
SEEDED = {"alembic_version": None, "audit_head": 1, "counties": 1, "job_cursors": 1}


def quote(engine: Engine, name: str) -> str:
    """A table name quoted for the engine's dialect."""
    return engine.dialect.identifier_preparer.quote(name)


def row_counts(conn, tables: list[str]) -> dict[str, int]:
    """Rows of every table, in one round trip (a UNION of COUNTs)."""
    prep = conn.dialect.identifier_preparer
    parts = [f"SELECT {i}, COUNT(*) FROM {prep.quote(t)}" for i, t in enumerate(tables)]
    return {tables[i]: n for i, n in conn.exec_driver_sql(" UNION ALL ".join(parts)).all()}


def is_fresh(conn, tables: list[str]) -> bool:
    """Whether the database holds only what the migrations put there (and the audit head is at 0)."""
    counts = row_counts(conn, tables)
    if any(n for t, n in counts.items() if t not in SEEDED):
        return False
    return conn.exec_driver_sql("SELECT seq FROM audit_head WHERE id = 1").scalar() == 0


class WorldTemplates:
    """One kept world per (database dialect, day, fingerprint) for this test process."""

    def __init__(self) -> None:
        self._kept: dict[tuple, tuple[SimpleNamespace, dict[str, tuple[list[str], list[tuple]]]]] = {}
        self._tables: dict[str, list[str]] = {}

    def world(self, app, build) -> SimpleNamespace:
        """build_world's namespace for this app: copied rows when possible, else built by `build()`."""
        engine = app.extensions["db"]["engine"]
        key = (engine.dialect.name, date.today(), *(app.config.get(k) for k in FINGERPRINT))
        if engine.dialect.name not in self._tables:
            self._tables[engine.dialect.name] = [t for t in inspect(engine).get_table_names() if t != "alembic_version"]
        names = self._tables[engine.dialect.name]
        with engine.connect() as conn:
            fresh = is_fresh(conn, names)
        if not fresh:
            return build()
        if key in self._kept:
            namespace, rows = self._kept[key]
            _insert(engine, rows)
            return copy.deepcopy(namespace)
        namespace = build()
        self._kept[key] = (copy.deepcopy(namespace), _rows(engine, names))
        return namespace


def _rows(engine: Engine, names: list[str]) -> dict[str, tuple[list[str], list[tuple]]]:
    """The driver's own values of every non-empty table: read back unchanged by any column type."""
    kept = {}
    with engine.connect() as conn:
        counts = row_counts(conn, names)
        for name in names:
            if counts[name]:
                result = conn.exec_driver_sql(f"SELECT * FROM {quote(engine, name)}")
                kept[name] = (list(result.keys()), [tuple(r) for r in result.all()])
    return kept


def _insert(engine: Engine, rows: dict[str, tuple[list[str], list[tuple]]]) -> None:
    """Insert kept rows into a fresh database in one transaction."""
    mysql = engine.dialect.name == "mysql"
    with engine.begin() as conn:
        # The kept rows satisfy every foreign key once all are in; the order between them does not.
        conn.exec_driver_sql("SET FOREIGN_KEY_CHECKS=0" if mysql else "PRAGMA defer_foreign_keys=ON")
        try:
            for name, (columns, values) in rows.items():
                if name in SEEDED:
                    conn.exec_driver_sql(f"DELETE FROM {quote(engine, name)}")
                cols = ", ".join(quote(engine, c) for c in columns)
                binds = ", ".join(f":c{i}" for i in range(len(columns)))
                conn.execute(
                    text(f"INSERT INTO {quote(engine, name)} ({cols}) VALUES ({binds})"),
                    [{f"c{i}": v for i, v in enumerate(row)} for row in values],
                )
        finally:
            if mysql:
                conn.exec_driver_sql("SET FOREIGN_KEY_CHECKS=1")
