"""inspection teams (督查组), declared conflicts (回避申报) and the teams a round sends

Revision ID: 0024
Revises: 0022
Create Date: 2026-12-07 04:50:00.000000
"""

import sqlalchemy as sa
from alembic import op

import server.models

revision = '0024'
down_revision = '0022'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'inspection_teams',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('name', sa.String(length=64), nullable=False),
        sa.Column('leader_id', sa.Integer(), nullable=True),
        sa.Column('lead_official_id', sa.Integer(), nullable=True),
        sa.Column('active', sa.Boolean(), nullable=False),
        sa.Column('created_by_id', sa.Integer(), nullable=True),
        sa.Column('created_at', server.models.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(['leader_id'], ['users.id']),
        sa.ForeignKeyConstraint(['lead_official_id'], ['users.id']),
        sa.ForeignKeyConstraint(['created_by_id'], ['users.id']),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('name'),
    )
    op.create_table(
        'inspection_team_members',
        sa.Column('team_id', sa.Integer(), nullable=False),
        sa.Column('user_id', sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(['team_id'], ['inspection_teams.id'], ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['user_id'], ['users.id'], ondelete='RESTRICT'),
        sa.PrimaryKeyConstraint('team_id', 'user_id'),
    )
    op.create_index('ix_inspection_team_members_user', 'inspection_team_members', ['user_id'], unique=False)
    op.create_table(
        'conflict_declarations',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('user_id', sa.Integer(), nullable=False),
        sa.Column('kind', sa.String(length=16), nullable=False),
        sa.Column('village_id', sa.Integer(), nullable=True),
        sa.Column('township_id', sa.Integer(), nullable=True),
        sa.Column('organization_id', sa.Integer(), nullable=True),
        sa.Column('note', sa.String(length=200), nullable=False),
        sa.Column('declared_by_id', sa.Integer(), nullable=True),
        sa.Column('declared_at', server.models.UTCDateTime(), nullable=False),
        sa.Column('withdrawn_by_id', sa.Integer(), nullable=True),
        sa.Column('withdrawn_at', server.models.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(['user_id'], ['users.id']),
        sa.ForeignKeyConstraint(['village_id'], ['villages.id']),
        sa.ForeignKeyConstraint(['township_id'], ['townships.id']),
        sa.ForeignKeyConstraint(['organization_id'], ['organizations.id']),
        sa.ForeignKeyConstraint(['declared_by_id'], ['users.id']),
        sa.ForeignKeyConstraint(['withdrawn_by_id'], ['users.id']),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_conflict_declarations_user_id', 'conflict_declarations', ['user_id'], unique=False)
    # Nullable, no default: rounds defined before teams existed draw from their inspectors.
    op.add_column('inspection_rounds', sa.Column('team_ids', sa.JSON(), nullable=True))


def downgrade() -> None:
    op.drop_column('inspection_rounds', 'team_ids')
    # The indexes go with their tables: MariaDB refuses to drop one a foreign key still needs.
    op.drop_table('conflict_declarations')
    op.drop_table('inspection_team_members')
    op.drop_table('inspection_teams')
