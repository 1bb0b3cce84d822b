"""reuse detection: region hashes stored in their canonical orientation, with that orientation

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-07 02:00:00.000000

photos.region_hashes now holds each region's hash turned into its canonical orientation (16 hex
digits) followed by the orientation digit, and photo_hash_bands indexes the canonical hashes
(server/phash.py), so a lookup probes one orientation per region instead of eight. An older
row's hashes are upright and would be compared with canonical ones: both are cleared here, and
`flask --app server rehash-photos` hashes the stored thumbnails again. Until then an older photo
is found by identical bytes only. The downgrade clears them the same way (rehash with the older
code).
"""

import sqlalchemy as sa
from alembic import op

revision = '0017'
down_revision = '0016'
branch_labels = None
depends_on = None


def _clear() -> None:
    op.execute(sa.text('DELETE FROM photo_hash_bands'))
    op.execute(sa.text('UPDATE photos SET region_hashes = NULL WHERE region_hashes IS NOT NULL'))


def upgrade() -> None:
    _clear()
    # 10 x (16 hex + 1 digit) + 9 commas. SQLite does not enforce the length, and a batch rebuild
    # of photos would trip the foreign keys that point at it: only MariaDB alters the column.
    if op.get_bind().dialect.name != 'sqlite':
        op.alter_column('photos', 'region_hashes', existing_type=sa.String(length=170),
                        type_=sa.String(length=179), existing_nullable=True)


def downgrade() -> None:
    _clear()
    if op.get_bind().dialect.name != 'sqlite':
        op.alter_column('photos', 'region_hashes', existing_type=sa.String(length=179),
                        type_=sa.String(length=170), existing_nullable=True)
