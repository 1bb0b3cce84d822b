"""feedback_replies.public (answers shown on the public page); grading_sessions.grade_points and
grade_amounts (年度考核加分 and 奖补资金 per grade)

Revision ID: 0027
Revises: 0026
Create Date: 2026-12-07 05:20:00.000000
"""

import sqlalchemy as sa
from alembic import op


revision = '0027'
down_revision = '0026'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Plain ADD COLUMNs: existing replies stay private (server default false) and existing sessions
    # have no outcome tables (NULL) until the department fills them in.
    op.add_column('feedback_replies', sa.Column('public', sa.Boolean(), server_default=sa.text('0'), nullable=False))
    op.add_column('grading_sessions', sa.Column('grade_points', sa.JSON(), nullable=True))
    op.add_column('grading_sessions', sa.Column('grade_amounts', sa.JSON(), nullable=True))


def downgrade() -> None:
    # Plain DROP COLUMNs (SQLite 3.35+ and MariaDB): a batch rebuild would trip the foreign keys.
    op.drop_column('grading_sessions', 'grade_amounts')
    op.drop_column('grading_sessions', 'grade_points')
    op.drop_column('feedback_replies', 'public')
