"""projects: allow_album, the department's leave for report, reply and feedback photos from the album

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-06 23:55:00.000000
"""

import sqlalchemy as sa
from alembic import op


revision = '0016'
down_revision = '0015'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # The server default gives every existing project the camera-only rule (false) on SQLite and
    # MariaDB. A plain ADD COLUMN: batch mode would rebuild projects for an expression default,
    # which the foreign keys of its visits, orders and reports refuse on a populated SQLite file.
    op.add_column('projects', sa.Column('allow_album', sa.Boolean(), server_default=sa.text('0'), nullable=False))


def downgrade() -> None:
    # Plain DROP COLUMN (SQLite 3.35+ and MariaDB): a batch rebuild of projects would trip the
    # foreign keys of its visits, orders and reports on SQLite.
    op.drop_column('projects', 'allow_album')
