"""sealed originals: the upload key apart from the served key, the upload's hash, the version and the last re-check

Revision ID: 0011
Revises: 0009
Create Date: 2026-12-06 23:00:00.000000
"""

import sqlalchemy as sa
from alembic import op


revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None

photos = sa.table('photos', sa.column('status', sa.String), sa.column('object_key', sa.String),
                  sa.column('upload_key', sa.String), sa.column('sha256', sa.String),
                  sa.column('upload_sha256', sa.String))


def upgrade() -> None:
    with op.batch_alter_table('photos', schema=None) as batch_op:
        batch_op.add_column(sa.Column('upload_key', sa.String(length=255), nullable=True))
        batch_op.add_column(sa.Column('upload_sha256', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('object_version', sa.String(length=255), nullable=True))
        batch_op.add_column(sa.Column('checked_at', sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column('check_result', sa.String(length=16), nullable=True))
    # Photos verified before this revision were served from the key they were uploaded to.
    op.execute(photos.update().values(upload_key=photos.c.object_key, upload_sha256=photos.c.sha256))
    # A photo still waiting for its upload will be sealed under a key of its own.
    op.execute(photos.update().where(photos.c.status == 'pending')
               .values(object_key=sa.literal('sealed/', sa.String) + photos.c.upload_key))
    with op.batch_alter_table('photos', schema=None) as batch_op:
        batch_op.alter_column('upload_key', existing_type=sa.String(length=255), nullable=False)


def downgrade() -> None:
    op.execute(photos.update().where(photos.c.status == 'pending').values(object_key=photos.c.upload_key))
    with op.batch_alter_table('photos', schema=None) as batch_op:
        batch_op.drop_column('check_result')
        batch_op.drop_column('checked_at')
        batch_op.drop_column('object_version')
        batch_op.drop_column('upload_sha256')
        batch_op.drop_column('upload_key')
