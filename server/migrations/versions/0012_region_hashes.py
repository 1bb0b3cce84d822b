"""reuse detection that survives crops and rotations: region hashes and their bands

Revision ID: 0012
Revises: 0009
Create Date: 2026-12-06 23:00:00.000000

photos.region_hashes keeps each photo's ten DCT-sign region hashes (server/phash.py);
photo_hash_bands now indexes those, one row per (photo, region, band), instead of the bands of
the whole-frame dHash. Region hashes need the pixels, which a migration cannot read: after
upgrading run `flask --app server rehash-photos`, which hashes the stored thumbnails of ready
photos again and fills both. Until then an older photo is found by identical bytes only.
"""

import sqlalchemy as sa
from alembic import op


revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('photos', schema=None) as batch_op:
        batch_op.add_column(sa.Column('region_hashes', sa.String(length=170), nullable=True))
    op.drop_table('photo_hash_bands')
    op.create_table('photo_hash_bands',
    sa.Column('photo_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.SmallInteger(), nullable=False),
    sa.Column('band', sa.SmallInteger(), nullable=False),
    sa.Column('value', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['photo_id'], ['photos.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('photo_id', 'kind', 'band')
    )
    with op.batch_alter_table('photo_hash_bands', schema=None) as batch_op:
        batch_op.create_index('ix_photo_hash_bands_lookup', ['band', 'value', 'kind'], unique=False)


def downgrade() -> None:
    op.drop_table('photo_hash_bands')
    op.create_table('photo_hash_bands',
    sa.Column('photo_id', sa.Integer(), nullable=False),
    sa.Column('band', sa.SmallInteger(), nullable=False),
    sa.Column('value', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['photo_id'], ['photos.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('photo_id', 'band')
    )
    with op.batch_alter_table('photo_hash_bands', schema=None) as batch_op:
        batch_op.create_index('ix_photo_hash_bands_lookup', ['band', 'value'], unique=False)
    # The dHash bands come back from photos.phash: 13, 13, 13, 13, 12 bits.
    photos = sa.table('photos', sa.column('id', sa.Integer), sa.column('phash', sa.String))
    bands = sa.table('photo_hash_bands', sa.column('photo_id', sa.Integer), sa.column('band', sa.SmallInteger),
                     sa.column('value', sa.Integer))
    rows = []
    for photo_id, phash in op.get_bind().execute(sa.select(photos.c.id, photos.c.phash)
                                                 .where(photos.c.phash.is_not(None))):
        h, shift = int(phash, 16), 64
        for band, bits in enumerate((13, 13, 13, 13, 12)):
            shift -= bits
            rows.append({'photo_id': photo_id, 'band': band, 'value': (h >> shift) & ((1 << bits) - 1)})
    if rows:
        op.bulk_insert(bands, rows)
    with op.batch_alter_table('photos', schema=None) as batch_op:
        batch_op.drop_column('region_hashes')
