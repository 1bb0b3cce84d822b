"""near-duplicate index in three wide bands: every stored hash within the distance is found

Revision ID: 0031
Revises: 0032
Create Date: 2026-12-07 07:50:00.000000

photo_hash_bands keeps one row per region hash and band, but a hash is now cut into 3 bands of
24, 20 and 20 bits instead of 5 of 13, 13, 13, 13 and 12 (server.imaging.phash.hash_bands), and
the lookup probes each band up to 2 bits off (phash.band_probes). The schema does not change:
rows of bands 0-2 get their new values from the whole hash each row holds (migration 0029), rows
of bands 3 and 4 are dropped, a batch of photos at a time. Downgrade cuts the old five bands from
the same hash.
"""

import sqlalchemy as sa
from alembic import op

revision = "0031"
down_revision = "0032"
branch_labels = None
depends_on = None

_BATCH = 20000
# (shift, mask) of each band, bit 63 first; written out, as a migration must not change when the
# app's code does. `hash` is the signed BIGINT of the same 64 bits: MariaDB shifts it as unsigned,
# SQLite sign-extends, and the mask keeps only the band's own bits either way.
_WIDE = ((40, (1 << 24) - 1), (20, (1 << 20) - 1), (0, (1 << 20) - 1))
_NARROW = ((51, (1 << 13) - 1), (38, (1 << 13) - 1), (25, (1 << 13) - 1), (12, (1 << 13) - 1), (0, (1 << 12) - 1))


def _value(bands) -> str:
    """SQL for a row's band value under a layout, from its whole hash."""
    whens = " ".join(f"WHEN {band} THEN (hash >> {shift}) & {mask}" for band, (shift, mask) in enumerate(bands))
    return f"CASE band {whens} END"


def _batches():
    """(first, last) photo_id of each batch of indexed photos."""
    conn = op.get_bind()
    low, high = conn.execute(sa.text("SELECT MIN(photo_id), MAX(photo_id) FROM photo_hash_bands")).one()
    if low is None:
        return
    for first in range(low, high + 1, _BATCH):
        yield first, first + _BATCH - 1


def _relayout(old, new) -> None:
    """Re-cut every indexed hash from the `old` band layout into the `new` one."""
    conn = op.get_bind()
    for first, last in _batches():
        span = {"first": first, "last": last}
        conn.execute(
            sa.text(f"DELETE FROM photo_hash_bands WHERE band >= {len(new)} AND photo_id BETWEEN :first AND :last"),
            span,
        )
        conn.execute(
            sa.text(f"UPDATE photo_hash_bands SET value = {_value(new)} WHERE photo_id BETWEEN :first AND :last"),
            span,
        )
        for band in range(len(old), len(new)):
            shift, mask = new[band]
            conn.execute(
                sa.text(
                    "INSERT INTO photo_hash_bands (photo_id, kind, band, value, hash)"
                    f" SELECT photo_id, kind, {band}, (hash >> {shift}) & {mask}, hash FROM photo_hash_bands"
                    " WHERE band = 0 AND photo_id BETWEEN :first AND :last"
                ),
                span,
            )


def upgrade() -> None:
    _relayout(_NARROW, _WIDE)


def downgrade() -> None:
    _relayout(_WIDE, _NARROW)
