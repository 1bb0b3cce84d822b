"""late-synced visits, what was given up at submit, and the evidence policy of rounds and assignments

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-06 22:30:00.000000
"""

from alembic import op
import sqlalchemy as sa

import server.models


revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('assignments', schema=None) as batch_op:
        batch_op.add_column(sa.Column('closed_at', server.models.UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column('min_photos', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('min_interviews', sa.Integer(), nullable=True))
    with op.batch_alter_table('assignment_members', schema=None) as batch_op:
        batch_op.add_column(sa.Column('added_at', server.models.UTCDateTime(), nullable=True))
    with op.batch_alter_table('inspection_rounds', schema=None) as batch_op:
        batch_op.add_column(sa.Column('min_photos', sa.Integer(), server_default=sa.text('2'), nullable=False))
        batch_op.add_column(sa.Column('min_interviews', sa.Integer(), server_default=sa.text('1'), nullable=False))
    with op.batch_alter_table('visits', schema=None) as batch_op:
        batch_op.add_column(sa.Column('late_sync_s', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('missing', sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column('evidence_short', sa.JSON(), nullable=True))
    # Existing teams were on their assignment since it was made; a drawn assignment closed with
    # its round. A manual one closed before this revision has no known time and takes no late visit.
    op.execute("UPDATE assignment_members SET added_at = (SELECT a.created_at FROM assignments a "
               "WHERE a.id = assignment_members.assignment_id)")
    op.execute("UPDATE assignments SET closed_at = (SELECT r.closed_at FROM inspection_rounds r "
               "WHERE r.id = assignments.round_id) WHERE status = 'closed' AND round_id IS NOT NULL")


def downgrade() -> None:
    # Plain DROP COLUMN (SQLite 3.35+ and MariaDB): a batch rebuild of visits would trip the
    # foreign keys of its check-ins and photos on SQLite.
    for table, columns in (('visits', ('evidence_short', 'missing', 'late_sync_s')),
                           ('inspection_rounds', ('min_interviews', 'min_photos')),
                           ('assignment_members', ('added_at',)),
                           ('assignments', ('min_interviews', 'min_photos', 'closed_at'))):
        for column in columns:
            op.drop_column(table, column)
