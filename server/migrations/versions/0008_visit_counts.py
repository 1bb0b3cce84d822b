"""monthly visit, photo and flag counts for the dashboard and the visit list, filled from the rows

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-22 10:00:00.000000
"""

from alembic import op
import sqlalchemy as sa
from sqlalchemy.orm import Session


revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('visit_month_stats',
    sa.Column('month', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('township_id', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('village_id', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('visits', sa.Integer(), nullable=False),
    sa.Column('photos', sa.Integer(), nullable=False),
    sa.Column('flagged_photos', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('month', 'township_id', 'village_id', 'status')
    )
    op.create_table('visit_list_counts',
    sa.Column('month', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('township_id', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('flag', sa.String(length=32), nullable=False),
    sa.Column('visits', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('month', 'township_id', 'status', 'flag')
    )
    # Existing visits are counted once here; from now on every write keeps the counts.
    from server.services import visit_stats

    session = Session(bind=op.get_bind())
    visit_stats.rebuild(session)
    session.flush()


def downgrade() -> None:
    op.drop_table('visit_list_counts')
    op.drop_table('visit_month_stats')
