"""row claims: write locks a Galera cluster replicates

Revision ID: 0032
Revises: 0030
Create Date: 2026-12-07 08:40:00.000000

row_claims holds one row per object that transactions must take turns on (an observation event,
a peer-review round, a grading session, a roadshow, a project, a 书记领办事项): a transaction
bumps the object's row before it reads what it decides on, so that on Galera, where a
SELECT … FOR UPDATE locks only its own node, two nodes deciding at once conflict (1213) and the
later one runs again (server/models/claims.py). held_until is the lease of a job every node runs
on a timer (the daily reminders), so that one run at a time sends.
"""

import sqlalchemy as sa
from alembic import op

import server.models

revision = "0032"
down_revision = "0030"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "row_claims",
        sa.Column("name", sa.String(length=96), nullable=False),
        sa.Column("claims", sa.BigInteger(), nullable=False),
        sa.Column("held_until", server.models.UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("name"),
    )


def downgrade() -> None:
    op.drop_table("row_claims")
