"""console sessions kept on the server; outstanding invite codes withdrawn (now keyed HMACs)

Revision ID: 0014
Revises: 0009
Create Date: 2026-12-06 23:00:00.000000

Invite codes were stored as plain SHA-256 of about 40 bits, which anyone holding the database
can reverse by trying every code; they are now HMACs under the server's SECRET_KEY. A stored
hash cannot be turned into the new form without the code itself, and every staff account
(admin included) held one, so the outstanding invites are withdrawn: staff issue a new one
on demand to inspectors and secretaries who still have to bind WeChat.
"""

import sqlalchemy as sa
from alembic import op

import server.models

revision = '0014'
down_revision = '0013'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('console_sessions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('sid_hash', sa.String(length=64), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('created_at', server.models.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('sid_hash')
    )
    with op.batch_alter_table('console_sessions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_console_sessions_created_at'), ['created_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_console_sessions_user_id'), ['user_id'], unique=False)
    op.execute(sa.text("UPDATE users SET invite_code_hash = NULL, invite_expires_at = NULL"))


def downgrade() -> None:
    # Dropping the table drops its indexes; dropping ix_console_sessions_user_id first is refused
    # by MariaDB, whose foreign key on user_id needs it.
    op.drop_table('console_sessions')
