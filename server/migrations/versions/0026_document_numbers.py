"""official documents (公文) and their 发文字号 sequences per kind and year

Revision ID: 0026
Revises: 0020
Create Date: 2026-12-07 05:20:00.000000

document_sequences holds the last number given per (kind, year); official_documents keeps the
number each document was given, unique per subject and per (kind, year, number).
"""

import sqlalchemy as sa
from alembic import op

import server.models

revision = "0026"
down_revision = "0020"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "document_sequences",
        sa.Column("kind", sa.String(length=24), nullable=False),
        sa.Column("year", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("last_number", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("kind", "year"),
    )
    op.create_table(
        "official_documents",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=24), nullable=False),
        sa.Column("subject", sa.String(length=64), nullable=False),
        sa.Column("prefix", sa.String(length=32), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("issued_on", sa.Date(), nullable=False),
        sa.Column("issued_by_id", sa.Integer(), nullable=True),
        sa.Column("created_at", server.models.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["issued_by_id"], ["users.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("kind", "subject", name="uq_official_document_subject"),
        sa.UniqueConstraint("kind", "year", "number", name="uq_official_document_number"),
    )


def downgrade() -> None:
    op.drop_table("official_documents")
    op.drop_table("document_sequences")
