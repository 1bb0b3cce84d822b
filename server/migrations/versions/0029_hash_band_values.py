"""near-duplicate lookup filtered in the index: each hash band row holds its whole region hash

Revision ID: 0029
Revises: 0027
Create Date: 2026-12-07 05:30:00.000000

photo_hash_bands.hash is the 64-bit canonical region hash the row's band value was cut from
(server.imaging.phash.db_hash: signed BIGINT, the same 64 bits), and the lookup index becomes
(band, value, hash, photo_id, kind): the database keeps only rows within
NEAR_DUPLICATE_DISTANCE of a probe while scanning the index, instead of returning every row that
shares a band value (thousands per value at millions of photos) to be compared in Python.

Existing rows are filled here from photos.region_hashes, a batch of photos at a time (about a
minute per million photos). A row whose photo has no region hashes any more is dropped;
`flask --app server rehash-photos` indexes such photos again.
"""

import sqlalchemy as sa
from alembic import op

revision = "0029"
down_revision = '0027'
branch_labels = None
depends_on = None

_BATCH = 2000


def _signed(hex16: str) -> int:
    # phash.db_hash, written out: a migration must not change when the app's code does.
    h = int(hex16, 16)
    return h - (1 << 64) if h >> 63 else h


def _fill() -> None:
    conn = op.get_bind()
    update = sa.text("UPDATE photo_hash_bands SET hash = :h WHERE photo_id = :p AND kind = :k")
    last = 0
    while True:
        chunk = conn.execute(
            sa.text(
                "SELECT id, region_hashes FROM photos WHERE id > :last AND region_hashes IS NOT NULL "
                "AND id IN (SELECT photo_id FROM photo_hash_bands) ORDER BY id LIMIT :n"
            ),
            {"last": last, "n": _BATCH},
        ).all()
        if not chunk:
            break
        params = [
            {"h": _signed(part[:16]), "p": photo_id, "k": kind}
            for photo_id, text in chunk
            for kind, part in enumerate(text.split(","))
        ]
        conn.execute(update, params)
        last = chunk[-1][0]
    conn.execute(sa.text("DELETE FROM photo_hash_bands WHERE hash IS NULL"))


def upgrade() -> None:
    op.add_column("photo_hash_bands", sa.Column("hash", sa.BigInteger(), nullable=True))
    _fill()
    op.drop_index("ix_photo_hash_bands_lookup", table_name="photo_hash_bands")
    with op.batch_alter_table("photo_hash_bands") as batch:
        batch.alter_column("hash", existing_type=sa.BigInteger(), nullable=False)
    op.create_index(
        "ix_photo_hash_bands_near", "photo_hash_bands", ["band", "value", "hash", "photo_id", "kind"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_photo_hash_bands_near", table_name="photo_hash_bands")
    op.create_index("ix_photo_hash_bands_lookup", "photo_hash_bands", ["band", "value", "kind"], unique=False)
    with op.batch_alter_table("photo_hash_bands") as batch:
        batch.drop_column("hash")
