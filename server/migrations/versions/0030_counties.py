"""many counties in one deployment: a county above the townships, and the boundary of data

Revision ID: 0030
Revises: 0029
Create Date: 2026-12-07 08:30:00.000000

`counties` becomes the top of the place tree. Every county-owned table (server.models.CountyOwned)
gets `county_id`, and staff accounts too (villagers and city/province accounts have none). The
data already here becomes the first county (id 1): its code is the first six digits of a
township's division code, its name the county in DEPARTMENT_NAME (本县 when neither is known);
an administrator corrects both on the console's 本县信息 page.

What each county has on its own: reporting unit and team names, one grading a year, the quarterly
tasks, 文号 sequences and their documents, and an audit chain (`chain` = county id; chain 0 holds
the actions of city and province accounts), so counties never wait on each other's head row.
"""

import os
import re

import sqlalchemy as sa
from alembic import op

import server.models

revision = "0030"
down_revision = "0029"
branch_labels = None
depends_on = None

OWNED = (
    "townships",
    "villages",
    "sites",
    "reporting_units",
    "organizations",
    "projects",
    "assignments",
    "visits",
    "feedback",
    "rectification_orders",
    "inspection_rounds",
    "grading_sessions",
    "weak_org_warnings",
    "public_notices",
    "roadshows",
    "lead_items",
    "quarterly_tasks",
    "observation_events",
    "peer_review_rounds",
    "inspection_teams",
    "conflict_declarations",
    "official_documents",
    "liaison_contacts",
)
# Tables rebuilt on SQLite to change their UNIQUE constraints.
_REBUILT = {"reporting_units", "inspection_teams", "grading_sessions", "quarterly_tasks", "official_documents"}
# Unnamed UNIQUE constraints of earlier migrations, by the name SQLite's batch mode gives them here.
_CONVENTION = {"uq": "uq_%(table_name)s_%(column_0_name)s"}


def _first_county() -> tuple[str, str]:
    """(code, name) for the data already here."""
    conn = op.get_bind()
    code = conn.execute(sa.text("SELECT MIN(code) FROM townships")).scalar() or ""
    code = code[:6] if len(code) >= 6 and code[:6].isdigit() else "000000"
    match = re.search(r"([^省市共]+?[县区市旗])委?组织部", os.environ.get("DEPARTMENT_NAME", ""))
    return code, match.group(1) if match else "本县"


def _drop_unnamed_unique(table: str, column: str) -> None:
    """Drop the UNIQUE of one column, whatever it was named (MariaDB names it after the column)."""
    found = [
        uq["name"]
        for uq in sa.inspect(op.get_bind()).get_unique_constraints(table)
        if uq["column_names"] == [column]
    ]
    name = found[0] if found and found[0] else f"uq_{table}_{column}"
    with op.batch_alter_table(table, naming_convention=_CONVENTION) as b:
        b.drop_constraint(name, type_="unique")


def _foreign_keys(on: bool) -> None:
    """Switch SQLite's foreign key enforcement, which rebuilding a referenced table (batch mode) trips.

    The PRAGMA is a no-op inside a transaction: end the migration's transaction, switch, begin
    again. Before switching back on, every reference is checked.
    """
    conn = op.get_bind()
    if conn.dialect.name != "sqlite":
        return
    if on:
        broken = conn.exec_driver_sql("PRAGMA foreign_key_check").all()
        if broken:
            raise RuntimeError(f"0030 left {len(broken)} dangling references, e.g. {broken[0]}")
    conn.exec_driver_sql("COMMIT")
    conn.exec_driver_sql(f"PRAGMA foreign_keys={'ON' if on else 'OFF'}")
    conn.exec_driver_sql("BEGIN IMMEDIATE")


def _rebuild_sequences(*, by_county: bool) -> None:
    """document_sequences rebuilt with (by_county: the first county's) or without the county in its key."""
    conn = op.get_bind()
    rows = conn.execute(sa.text("SELECT kind, year, last_number FROM document_sequences")).all()
    op.drop_table("document_sequences")
    county = [sa.Column("county_id", sa.Integer(), autoincrement=False, nullable=False)] if by_county else []
    op.create_table(
        "document_sequences",
        sa.Column("kind", sa.String(length=24), nullable=False),
        sa.Column("year", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("last_number", sa.Integer(), nullable=False),
        *county,
        *([sa.ForeignKeyConstraint(["county_id"], ["counties.id"])] if by_county else []),
        sa.PrimaryKeyConstraint(*(["county_id"] if by_county else []), "kind", "year"),
    )
    columns = ("county_id, " if by_county else "") + "kind, year, last_number"
    values = ("1, " if by_county else "") + ":k, :y, :n"
    for kind, year, last in rows:
        conn.execute(
            sa.text(f"INSERT INTO document_sequences ({columns}) VALUES ({values})"), {"k": kind, "y": year, "n": last}
        )


def upgrade() -> None:
    _foreign_keys(on=False)
    op.create_table(
        "counties",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=6), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("department_name", sa.String(length=64), nullable=False),
        sa.Column("doc_prefix", sa.String(length=32), nullable=False),
        sa.Column("created_at", server.models.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("code", name="uq_counties_code"),
    )
    code, name = _first_county()
    op.get_bind().execute(
        sa.text(
            "INSERT INTO counties (id, code, name, department_name, doc_prefix, created_at) "
            "VALUES (1, :code, :name, '', '', CURRENT_TIMESTAMP)"
        ),
        {"code": code, "name": name},
    )
    sqlite = op.get_bind().dialect.name == "sqlite"
    for table in (*OWNED, "users"):
        # SQLite adds a referencing column in place (as 0018 does): a rebuild would change how the
        # table's other references are declared, and earlier migrations' downgrades rely on that.
        if sqlite:
            op.execute(sa.text(f"ALTER TABLE {table} ADD COLUMN county_id INTEGER REFERENCES counties (id)"))
        else:
            op.add_column(table, sa.Column("county_id", sa.Integer(), nullable=True))
            op.create_foreign_key(f"fk_{table}_county_id", table, "counties", ["county_id"], ["id"])
        op.create_index(f"ix_{table}_county_id", table, ["county_id"], unique=False)
        if table != "users":
            op.execute(f"UPDATE {table} SET county_id = 1")
    # Staff become the first county's; villagers (no role but 村民) stay of no county.
    op.execute(
        "UPDATE users SET county_id = 1 WHERE id IN "
        "(SELECT user_id FROM user_roles WHERE role <> 'villager')"
    )

    # Names and years that are unique within a county now.
    _drop_unnamed_unique("reporting_units", "name")
    _drop_unnamed_unique("inspection_teams", "name")
    _drop_unnamed_unique("grading_sessions", "year")
    with op.batch_alter_table("reporting_units") as b:
        b.create_unique_constraint("uq_reporting_units_county_name", ["county_id", "name"])
    with op.batch_alter_table("inspection_teams") as b:
        b.create_unique_constraint("uq_inspection_teams_county_name", ["county_id", "name"])
    with op.batch_alter_table("grading_sessions") as b:
        b.create_unique_constraint("uq_grading_sessions_county_year", ["county_id", "year"])
    with op.batch_alter_table("quarterly_tasks") as b:
        b.drop_constraint("uq_quarterly_tasks", type_="unique")
        b.create_unique_constraint("uq_quarterly_tasks_county", ["county_id", "year", "quarter", "kind"])
    with op.batch_alter_table("official_documents") as b:
        b.drop_constraint("uq_official_document_subject", type_="unique")
        b.drop_constraint("uq_official_document_number", type_="unique")
        b.create_unique_constraint("uq_official_document_county_subject", ["county_id", "kind", "subject"])
        b.create_unique_constraint("uq_official_document_county_number", ["county_id", "kind", "year", "number"])

    # 文号 sequences per county: the key grows a column, so the small table is rebuilt.
    conn = op.get_bind()
    _rebuild_sequences(by_county=True)

    # One audit chain per county (chain = county id) and chain 0 for city and province accounts.
    with op.batch_alter_table("audit_log") as b:
        b.add_column(sa.Column("chain", sa.Integer(), server_default="1", nullable=False))
    _drop_unnamed_unique("audit_log", "seq")
    with op.batch_alter_table("audit_log") as b:
        b.create_unique_constraint("uq_audit_log_chain_seq", ["chain", "seq"])
    with op.batch_alter_table("audit_head") as b:
        b.add_column(sa.Column("chain", sa.Integer(), server_default="1", nullable=False))
        b.create_unique_constraint("uq_audit_head_chain", ["chain"])
    conn.execute(sa.text("INSERT INTO audit_head (chain, seq, hash) VALUES (0, 0, :h)"), {"h": "0" * 64})
    _foreign_keys(on=True)


def downgrade() -> None:
    conn = op.get_bind()
    if conn.execute(sa.text("SELECT COUNT(*) FROM counties")).scalar() > 1:
        raise RuntimeError("0030 cannot be undone with more than one county: their rows cannot be merged")
    _foreign_keys(on=False)
    conn.execute(sa.text("DELETE FROM audit_head WHERE chain <> 1"))
    with op.batch_alter_table("audit_head") as b:
        b.drop_constraint("uq_audit_head_chain", type_="unique")
        b.drop_column("chain")
    with op.batch_alter_table("audit_log") as b:
        b.drop_constraint("uq_audit_log_chain_seq", type_="unique")
        b.create_unique_constraint("seq", ["seq"])
    with op.batch_alter_table("audit_log") as b:
        b.drop_column("chain")

    _rebuild_sequences(by_county=False)
    with op.batch_alter_table("official_documents") as b:
        b.drop_constraint("uq_official_document_county_subject", type_="unique")
        b.drop_constraint("uq_official_document_county_number", type_="unique")
        b.create_unique_constraint("uq_official_document_subject", ["kind", "subject"])
        b.create_unique_constraint("uq_official_document_number", ["kind", "year", "number"])
    with op.batch_alter_table("quarterly_tasks") as b:
        b.drop_constraint("uq_quarterly_tasks_county", type_="unique")
        b.create_unique_constraint("uq_quarterly_tasks", ["year", "quarter", "kind"])
    for table, column, name in (
        ("reporting_units", "name", "uq_reporting_units_county_name"),
        ("inspection_teams", "name", "uq_inspection_teams_county_name"),
        ("grading_sessions", "year", "uq_grading_sessions_county_year"),
    ):
        with op.batch_alter_table(table) as b:
            b.drop_constraint(name, type_="unique")
            b.create_unique_constraint(column, [column])
    sqlite = conn.dialect.name == "sqlite"
    for table in (*OWNED, "users"):
        if not sqlite:  # MariaDB keeps the index while the foreign key needs it
            op.drop_constraint(f"fk_{table}_county_id", table, type_="foreignkey")
            op.drop_index(f"ix_{table}_county_id", table_name=table)
            op.drop_column(table, "county_id")
            continue
        op.drop_index(f"ix_{table}_county_id", table_name=table)
        if table in _REBUILT:  # its reference is declared by the table now: rebuild without it
            with op.batch_alter_table(table, recreate="always") as b:
                b.drop_column("county_id")
        else:  # in place, as it was added
            op.execute(sa.text(f"ALTER TABLE {table} DROP COLUMN county_id"))
    op.drop_table("counties")
    _foreign_keys(on=True)
