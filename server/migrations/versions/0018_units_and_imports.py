"""reporting units (归口单位) as a managed list: organizations and unit reviewers belong to one

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-07 05:00:00.000000

Until now a reporting unit was only a unit_reviewer account scoped by its organizations. The new
table names the units; organizations.unit_id files an organization under one and users.unit_id
gives a unit reviewer every organization of the unit. Both are nullable: existing accounts keep
their explicit organizations.
"""

import sqlalchemy as sa
from alembic import op

import server.models.base

revision = '0018'
down_revision = '0017'
branch_labels = None
depends_on = None

_COLUMNS = (('organizations', 'fk_organizations_unit_id'), ('users', 'fk_users_unit_id'))


def upgrade() -> None:
    op.create_table('reporting_units',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('township_id', sa.Integer(), nullable=True),
    sa.Column('created_at', server.models.base.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['township_id'], ['townships.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('name')
    )
    op.create_index('ix_reporting_units_township_id', 'reporting_units', ['township_id'], unique=False)
    sqlite = op.get_bind().dialect.name == 'sqlite'
    for table, fk in _COLUMNS:
        # SQLite adds a referencing column in place (Alembic would only offer a batch rebuild, and
        # rebuilding users would trip the foreign keys that point at it).
        if sqlite:
            op.execute(sa.text(f'ALTER TABLE {table} ADD COLUMN unit_id INTEGER REFERENCES reporting_units (id)'))
        else:
            op.add_column(table, sa.Column('unit_id', sa.Integer(), nullable=True))
            op.create_foreign_key(fk, table, 'reporting_units', ['unit_id'], ['id'])
        op.create_index(f'ix_{table}_unit_id', table, ['unit_id'], unique=False)


def downgrade() -> None:
    sqlite = op.get_bind().dialect.name == 'sqlite'
    for table, fk in _COLUMNS:
        if sqlite:  # in place, as it was added (SQLite 3.35 and later)
            op.drop_index(f'ix_{table}_unit_id', table_name=table)
            op.execute(sa.text(f'ALTER TABLE {table} DROP COLUMN unit_id'))
        else:  # MariaDB keeps the index while the foreign key needs it
            op.drop_constraint(fk, table, type_='foreignkey')
            op.drop_index(f'ix_{table}_unit_id', table_name=table)
            op.drop_column(table, 'unit_id')
    op.drop_table('reporting_units')
