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
    # The server default gives every existing project the camera-only rule (false) on SQLite and MariaDB.
    with op.batch_alter_table('projects', schema=None) as batch_op:
        batch_op.add_column(sa.Column('allow_album', sa.Boolean(), server_default=sa.text('0'), nullable=False))


def downgrade() -> None:
    with op.batch_alter_table('projects', schema=None) as batch_op:
        batch_op.drop_column('allow_album')
