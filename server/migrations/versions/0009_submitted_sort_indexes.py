"""visit list at scale: covering indexes for the list's orders and its village and inspector filters

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-22 10:40:00.000000
"""

from alembic import op


revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('visits', schema=None) as batch_op:
        batch_op.drop_index('ix_visits_started')
        batch_op.create_index('ix_visits_started', ['started_at', 'id', 'submitted_at'], unique=False)
        batch_op.create_index('ix_visits_township_submitted', ['township_id', 'submitted_at', 'id'], unique=False)
        batch_op.drop_index('ix_visits_status')
        batch_op.create_index('ix_visits_status', ['status', 'started_at', 'id'], unique=False)
        # The wider index first: MySQL keeps an index on a foreign key column at all times.
        for column, name in (('village_id', 'village'), ('assignment_id', 'assignment')):
            batch_op.create_index(f'ix_visits_{name}_list', [column, 'status', 'township_id', 'started_at',
                                                             'submitted_at'], unique=False)
            batch_op.drop_index(f'ix_visits_{column}')


def downgrade() -> None:
    with op.batch_alter_table('visits', schema=None) as batch_op:
        for column, name in (('village_id', 'village'), ('assignment_id', 'assignment')):
            batch_op.create_index(f'ix_visits_{column}', [column], unique=False)
            batch_op.drop_index(f'ix_visits_{name}_list')
        batch_op.drop_index('ix_visits_status')
        batch_op.create_index('ix_visits_status', ['status'], unique=False)
        batch_op.drop_index('ix_visits_township_submitted')
        batch_op.drop_index('ix_visits_started')
        batch_op.create_index('ix_visits_started', ['started_at', 'id'], unique=False)
