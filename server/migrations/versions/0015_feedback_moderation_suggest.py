"""feedback: keep msgSecCheck's verdict, so that risky text is held for county staff only

Revision ID: 0015
Revises: 0009
Create Date: 2026-12-06 22:30:00.000000
"""

import sqlalchemy as sa
from alembic import op


revision = '0015'
down_revision = '0014'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('feedback', schema=None) as batch_op:
        batch_op.add_column(sa.Column('moderation_suggest', sa.String(length=8), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('feedback', schema=None) as batch_op:
        batch_op.drop_column('moderation_suggest')
