"""quarterly cycle: quarterly_tasks (调度 / 实地督导 / 反馈通报 per quarter) and their reminders

Revision ID: 0021
Revises: 0019
Create Date: 2026-12-07 04:30:01.756199
"""

from alembic import op
import sqlalchemy as sa
import server.models


revision = '0021'
down_revision = '0019'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('quarterly_tasks',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('year', sa.SmallInteger(), nullable=False),
    sa.Column('quarter', sa.SmallInteger(), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('due_date', sa.Date(), nullable=False),
    sa.Column('owner_id', sa.Integer(), nullable=True),
    sa.Column('notes', sa.Text(), nullable=False),
    sa.Column('done_at', server.models.base.UTCDateTime(), nullable=True),
    sa.Column('done_by_id', sa.Integer(), nullable=True),
    sa.Column('round_id', sa.Integer(), nullable=True),
    sa.Column('evidence_note', sa.Text(), nullable=False),
    sa.Column('evidence_document', sa.String(length=200), nullable=False),
    sa.Column('created_at', server.models.base.UTCDateTime(), nullable=False),
    sa.Column('updated_at', server.models.base.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['done_by_id'], ['users.id'], ),
    sa.ForeignKeyConstraint(['owner_id'], ['users.id'], ),
    sa.ForeignKeyConstraint(['round_id'], ['inspection_rounds.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('year', 'quarter', 'kind', name='uq_quarterly_tasks')
    )
    with op.batch_alter_table('quarterly_tasks', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_quarterly_tasks_due_date'), ['due_date'], unique=False)

    op.create_table('quarterly_reminders',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('task_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=8), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('channel', sa.String(length=8), nullable=False),
    sa.Column('outcome', sa.String(length=16), nullable=False),
    sa.Column('created_at', server.models.base.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['task_id'], ['quarterly_tasks.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('task_id', 'kind', 'user_id', name='uq_quarterly_reminders')
    )
    with op.batch_alter_table('quarterly_reminders', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_quarterly_reminders_user_id'), ['user_id'], unique=False)


def downgrade() -> None:
    # Dropping a table drops its indexes; MariaDB refuses to drop one a foreign key still needs.
    op.drop_table('quarterly_reminders')
    op.drop_table('quarterly_tasks')
