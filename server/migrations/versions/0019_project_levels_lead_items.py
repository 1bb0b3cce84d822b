"""projects.level (县级/镇级/村级/县委书记领办), and 书记领办事项 with their progress and 软弱涣散 decisions

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-07 05:00:00.000000

Existing projects keep level NULL (未定级): nothing says which level they were, and the console
shows them as such until someone sets it.
"""

import sqlalchemy as sa
from alembic import op

import server.models.base

revision = '0019'
down_revision = '0018'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A plain nullable ADD COLUMN: a batch rebuild of projects would trip the foreign keys of its
    # visits, orders and reports on a populated SQLite file.
    op.add_column('projects', sa.Column('level', sa.String(length=16), nullable=True))
    op.create_index(op.f('ix_projects_level'), 'projects', ['level'], unique=False)

    op.create_table('lead_items',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('year', sa.Integer(), nullable=False),
    sa.Column('started_on', sa.Date(), nullable=False),
    sa.Column('organization_id', sa.Integer(), nullable=False),
    sa.Column('secretary_id', sa.Integer(), nullable=True),
    sa.Column('leader_name', sa.String(length=64), nullable=False),
    sa.Column('level', sa.String(length=16), nullable=False),
    sa.Column('problem', sa.Text(), nullable=False),
    sa.Column('milestones', sa.JSON(), nullable=False),
    sa.Column('status', sa.String(length=12), nullable=False),
    sa.Column('created_by_id', sa.Integer(), nullable=False),
    sa.Column('created_at', server.models.base.UTCDateTime(), nullable=False),
    sa.Column('updated_at', server.models.base.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['created_by_id'], ['users.id'], ),
    sa.ForeignKeyConstraint(['organization_id'], ['organizations.id'], ),
    sa.ForeignKeyConstraint(['secretary_id'], ['users.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('lead_items', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_lead_items_level'), ['level'], unique=False)
        batch_op.create_index(batch_op.f('ix_lead_items_organization_id'), ['organization_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_lead_items_secretary_id'), ['secretary_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_lead_items_status'), ['status'], unique=False)
        batch_op.create_index(batch_op.f('ix_lead_items_year'), ['year'], unique=False)

    op.create_table('lead_item_progress',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('item_id', sa.Integer(), nullable=False),
    sa.Column('noted_on', sa.Date(), nullable=False),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('visible_result', sa.Boolean(), nullable=False),
    sa.Column('author_id', sa.Integer(), nullable=False),
    sa.Column('created_at', server.models.base.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['author_id'], ['users.id'], ),
    sa.ForeignKeyConstraint(['item_id'], ['lead_items.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('lead_item_progress', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_lead_item_progress_item_id'), ['item_id'], unique=False)

    op.create_table('lead_item_decisions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('item_id', sa.Integer(), nullable=False),
    sa.Column('decision', sa.String(length=12), nullable=False),
    sa.Column('decided_on', sa.Date(), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('warning_id', sa.Integer(), nullable=True),
    sa.Column('decided_by_id', sa.Integer(), nullable=False),
    sa.Column('created_at', server.models.base.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['decided_by_id'], ['users.id'], ),
    sa.ForeignKeyConstraint(['item_id'], ['lead_items.id'], ),
    sa.ForeignKeyConstraint(['warning_id'], ['weak_org_warnings.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('lead_item_decisions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_lead_item_decisions_item_id'), ['item_id'], unique=False)


def downgrade() -> None:
    op.drop_table('lead_item_decisions')
    op.drop_table('lead_item_progress')
    op.drop_table('lead_items')
    op.drop_index(op.f('ix_projects_level'), table_name='projects')
    op.drop_column('projects', 'level')
