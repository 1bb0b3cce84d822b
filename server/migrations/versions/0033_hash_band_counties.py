"""near-duplicate index by county: a complete searches its own county, a nightly pass every county

Revision ID: 0033
Revises: 0031
Create Date: 2026-12-07 14:00:00.000000

photo_hash_bands gets the county of each photo's owner (`county_id`, NULL for a villager's photo
not yet sent with feedback), and the covering index puts it after (band, value): a probe within one
county reads that county's rows only, a probe of every county (the nightly cross-county pass) still
reaches all of them by (band, value). Existing rows take the county of their photo's owner, as the
owner kinds are today: a visit, feedback, a rectification order and an observation event carry it,
a project report its project, and a draft its uploader; in a deployment of one county every row is
that county's.

The nightly pass keeps where it got to in `job_cursors`, starting at this migration (every photo
completed before it was searched for in every county), and reads photos by `completed_at` (indexed).
"""

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

import server.models

revision = "0033"
down_revision = "0031"
branch_labels = None
depends_on = None

_INDEX = "ix_photo_hash_bands_near"
_BATCH = 20000
# owner_kind -> SQL for the county of a photo `p` of that kind (written out: a migration must not
# change when the app's owners do). A draft is its uploader's.
_UPLOADERS = "SELECT county_id FROM users WHERE users.id = p.owner_id"
_OWNER_COUNTY = {
    "visit": "SELECT county_id FROM visits WHERE visits.id = p.owner_id",
    "feedback": "SELECT county_id FROM feedback WHERE feedback.id = p.owner_id",
    "rectification": "SELECT county_id FROM rectification_orders WHERE rectification_orders.id = p.owner_id",
    "project_report": "SELECT pr.county_id FROM project_reports r JOIN projects pr ON pr.id = r.project_id"
    " WHERE r.id = p.owner_id",
    "observation_stop": "SELECT e.county_id FROM observation_stops s JOIN observation_events e ON e.id = s.event_id"
    " WHERE s.id = p.owner_id",
    **dict.fromkeys(("report_draft", "rect_draft", "feedback_draft"), _UPLOADERS),
}


def _batches():
    """(first, last) photo_id of each batch of indexed photos."""
    low, high = op.get_bind().execute(sa.text("SELECT MIN(photo_id), MAX(photo_id) FROM photo_hash_bands")).one()
    if low is None:
        return
    for first in range(low, high + 1, _BATCH):
        yield first, first + _BATCH - 1


def upgrade() -> None:
    # Where the nightly cross-county pass got to (server.models.claims.JobCursor).
    # It starts now: every photo completed before was searched for in every county at its complete.
    cursors = op.create_table(
        "job_cursors",
        sa.Column("name", sa.String(96), primary_key=True),
        sa.Column("done_until", server.models.UTCDateTime(), nullable=True),
        sa.Column("last_id", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", server.models.UTCDateTime(), nullable=True),
    )
    now = datetime.now(UTC)
    op.bulk_insert(cursors, [{"name": "cross-county-duplicates", "done_until": now, "last_id": 0, "updated_at": now}])
    op.create_index("ix_photos_completed_at", "photos", ["completed_at"])
    op.add_column("photo_hash_bands", sa.Column("county_id", sa.Integer(), nullable=True))
    conn = op.get_bind()
    counties = conn.execute(sa.text("SELECT id FROM counties ORDER BY id LIMIT 2")).scalars().all()
    # A batch of photos at a time (as 0031): one statement over 150 M rows would be one transaction
    # larger than a Galera write set may be.
    for first, last in _batches():
        span = {"first": first, "last": last}
        if len(counties) == 1:
            conn.execute(
                sa.text("UPDATE photo_hash_bands SET county_id = :c WHERE photo_id BETWEEN :first AND :last"),
                {**span, "c": counties[0]},
            )
            continue
        for kind, county in _OWNER_COUNTY.items():
            conn.execute(
                sa.text(
                    "UPDATE photo_hash_bands SET county_id ="
                    f" (SELECT ({county}) FROM photos p WHERE p.id = photo_hash_bands.photo_id)"
                    " WHERE photo_id BETWEEN :first AND :last"
                    " AND photo_id IN (SELECT id FROM photos WHERE owner_kind = :kind AND id BETWEEN :first AND :last)"
                ),
                {**span, "kind": kind},
            )
    op.drop_index(_INDEX, table_name="photo_hash_bands")
    op.create_index(_INDEX, "photo_hash_bands", ["band", "value", "county_id", "hash", "photo_id", "kind"])


def downgrade() -> None:
    op.drop_index(_INDEX, table_name="photo_hash_bands")
    op.create_index(_INDEX, "photo_hash_bands", ["band", "value", "hash", "photo_id", "kind"])
    op.drop_column("photo_hash_bands", "county_id")
    op.drop_index("ix_photos_completed_at", table_name="photos")
    op.drop_table("job_cursors")
