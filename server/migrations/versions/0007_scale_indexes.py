"""visit indexes for a million visits: township + start, submitted-at sort, dashboard period

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-22 07:40:00.000000
"""

from alembic import op


revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('visits', schema=None) as batch_op:
        batch_op.create_index('ix_visits_township_started', ['township_id', 'started_at', 'id'], unique=False)
        batch_op.create_index('ix_visits_submitted', ['submitted_at', 'id'], unique=False)
        batch_op.create_index('ix_visits_period', ['started_at', 'township_id', 'village_id', 'status'],
                              unique=False)


def downgrade() -> None:
    with op.batch_alter_table('visits', schema=None) as batch_op:
        batch_op.drop_index('ix_visits_period')
        batch_op.drop_index('ix_visits_submitted')
        batch_op.drop_index('ix_visits_township_started')
