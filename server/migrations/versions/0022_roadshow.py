"""路演评审: roadshows of a grading session, their speakers, panels and live score sheets

Revision ID: 0022
Revises: 0023
Create Date: 2026-12-07 04:40:00.000000
"""

import sqlalchemy as sa
from alembic import op

import server.models

revision = '0022'
down_revision = '0023'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('roadshows',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('session_id', sa.Integer(), nullable=False),
    sa.Column('title', sa.String(length=100), nullable=False),
    sa.Column('held_on', sa.Date(), nullable=False),
    sa.Column('venue', sa.String(length=100), nullable=False),
    sa.Column('status', sa.String(length=8), nullable=False),
    sa.Column('current_speaker_id', sa.Integer(), nullable=True),
    sa.Column('draw_seed', sa.String(length=64), nullable=True),
    sa.Column('created_by_id', sa.Integer(), nullable=False),
    sa.Column('created_at', server.models.base.UTCDateTime(), nullable=False),
    sa.Column('started_at', server.models.base.UTCDateTime(), nullable=True),
    sa.Column('ended_at', server.models.base.UTCDateTime(), nullable=True),
    sa.Column('copied_at', server.models.base.UTCDateTime(), nullable=True),
    sa.ForeignKeyConstraint(['created_by_id'], ['users.id'], ),
    sa.ForeignKeyConstraint(['session_id'], ['grading_sessions.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('roadshows', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_roadshows_session_id'), ['session_id'], unique=False)

    op.create_table('roadshow_speakers',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('roadshow_id', sa.Integer(), nullable=False),
    sa.Column('entry_id', sa.Integer(), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=8), nullable=False),
    sa.Column('up_at', server.models.base.UTCDateTime(), nullable=True),
    sa.Column('closed_at', server.models.base.UTCDateTime(), nullable=True),
    sa.ForeignKeyConstraint(['entry_id'], ['grading_entries.id'], ),
    sa.ForeignKeyConstraint(['roadshow_id'], ['roadshows.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('roadshow_id', 'entry_id', name='uq_roadshow_speaker_entry')
    )
    with op.batch_alter_table('roadshow_speakers', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_roadshow_speakers_entry_id'), ['entry_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_roadshow_speakers_roadshow_id'), ['roadshow_id'], unique=False)

    op.create_table('roadshow_experts',
    sa.Column('roadshow_id', sa.Integer(), nullable=False),
    sa.Column('expert_id', sa.Integer(), nullable=False),
    sa.Column('added_by_id', sa.Integer(), nullable=False),
    sa.Column('added_at', server.models.base.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['added_by_id'], ['users.id'], ),
    sa.ForeignKeyConstraint(['expert_id'], ['users.id'], ),
    sa.ForeignKeyConstraint(['roadshow_id'], ['roadshows.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('roadshow_id', 'expert_id')
    )
    with op.batch_alter_table('roadshow_experts', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_roadshow_experts_expert_id'), ['expert_id'], unique=False)

    op.create_table('roadshow_sheets',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('speaker_id', sa.Integer(), nullable=False),
    sa.Column('expert_id', sa.Integer(), nullable=False),
    sa.Column('scores', sa.JSON(), nullable=False),
    sa.Column('comment', sa.Text(), nullable=False),
    sa.Column('saved_at', server.models.base.UTCDateTime(), nullable=False),
    sa.Column('finalized_at', server.models.base.UTCDateTime(), nullable=True),
    sa.ForeignKeyConstraint(['expert_id'], ['users.id'], ),
    sa.ForeignKeyConstraint(['speaker_id'], ['roadshow_speakers.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('speaker_id', 'expert_id', name='uq_roadshow_sheet_expert')
    )
    with op.batch_alter_table('roadshow_sheets', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_roadshow_sheets_expert_id'), ['expert_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_roadshow_sheets_speaker_id'), ['speaker_id'], unique=False)


def downgrade() -> None:
    op.drop_table('roadshow_sheets')
    op.drop_table('roadshow_experts')
    op.drop_table('roadshow_speakers')
    op.drop_table('roadshows')
