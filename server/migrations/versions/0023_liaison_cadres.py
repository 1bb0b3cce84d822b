"""联系组工干部 as an account: projects.liaison_cadre_id, the 1+1 蹲点 contacts and their reminders

Existing free text in projects.responsible["联系组工干部"] ("县委组织部 胡颖") is linked to the one
active staff account of that name; text that names nobody, or several people, stays as it is and is
listed for the admin to link (console 联系组工干部 page).

Revision ID: 0023
Revises: 0021
Create Date: 2026-12-07 04:45:00.000000
"""

import json

import sqlalchemy as sa
from alembic import op

import server.models


revision = '0023'
down_revision = '0021'
branch_labels = None
depends_on = None

LIAISON = "联系组工干部"
# The roles a liaison cadre may hold (services/cadres.py LIAISON_ROLES at the time of writing).
LIAISON_ROLES = ("admin", "leader", "reviewer", "cadre")


def _name_candidates(text: str) -> set[str]:
    """The whole text and its last word: "县委组织部 胡颖" may name 胡颖."""
    text = " ".join(text.split())
    return {text, text.rsplit(" ", 1)[-1]} if text else set()


def _link_free_text() -> None:
    conn = op.get_bind()
    users = conn.execute(
        sa.text(
            "SELECT DISTINCT u.id, u.name FROM users u JOIN user_roles r ON r.user_id = u.id "
            "WHERE u.active = :on AND r.role IN :roles"
        ).bindparams(sa.bindparam("roles", expanding=True)),
        {"on": True, "roles": list(LIAISON_ROLES)},
    ).all()
    by_name: dict[str, set[int]] = {}
    for uid, name in users:
        if name and name.strip():
            by_name.setdefault(name.strip(), set()).add(uid)
    for pid, raw in conn.execute(sa.text("SELECT id, responsible FROM projects")).all():
        responsible = json.loads(raw) if isinstance(raw, str) else (raw or {})
        value = responsible.get(LIAISON) if isinstance(responsible, dict) else None
        if not isinstance(value, str):
            continue
        found = set().union(*(by_name.get(n, set()) for n in _name_candidates(value))) if value.strip() else set()
        if len(found) == 1:
            conn.execute(
                sa.text("UPDATE projects SET liaison_cadre_id = :uid WHERE id = :pid"), {"uid": found.pop(), "pid": pid}
            )


def upgrade() -> None:
    if op.get_bind().dialect.name == 'sqlite':
        # No batch rebuild of projects: the foreign keys of its visits, orders and reports refuse it on
        # a populated file. SQLite adds a column with its REFERENCES in place (and keeps it on downgrade).
        if 'liaison_cadre_id' not in {c['name'] for c in sa.inspect(op.get_bind()).get_columns('projects')}:
            op.execute('ALTER TABLE projects ADD COLUMN liaison_cadre_id INTEGER REFERENCES users (id)')
        op.create_index('ix_projects_liaison_cadre_id', 'projects', ['liaison_cadre_id'], unique=False)
    else:
        op.add_column('projects', sa.Column('liaison_cadre_id', sa.Integer(), nullable=True))
        # The index first, so that MariaDB's foreign key uses it instead of adding one of its own.
        op.create_index('ix_projects_liaison_cadre_id', 'projects', ['liaison_cadre_id'], unique=False)
        op.create_foreign_key('fk_projects_liaison_cadre_id_users', 'projects', 'users', ['liaison_cadre_id'], ['id'])
    op.create_table(
        'liaison_contacts',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('project_id', sa.Integer(), nullable=False),
        sa.Column('cadre_id', sa.Integer(), nullable=False),
        sa.Column('kind', sa.String(length=8), nullable=False),
        sa.Column('contact_on', sa.Date(), nullable=False),
        sa.Column('summary', sa.Text(), nullable=False),
        sa.Column('author_id', sa.Integer(), nullable=False),
        sa.Column('created_at', server.models.base.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(['author_id'], ['users.id']),
        sa.ForeignKeyConstraint(['cadre_id'], ['users.id']),
        sa.ForeignKeyConstraint(['project_id'], ['projects.id']),
        sa.PrimaryKeyConstraint('id'),
    )
    with op.batch_alter_table('liaison_contacts') as batch_op:
        batch_op.create_index('ix_liaison_contacts_project_day', ['project_id', 'contact_on'], unique=False)
        batch_op.create_index(batch_op.f('ix_liaison_contacts_cadre_id'), ['cadre_id'], unique=False)
    op.create_table(
        'cadre_reminders',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('project_id', sa.Integer(), nullable=False),
        sa.Column('kind', sa.String(length=8), nullable=False),
        sa.Column('period', sa.String(length=8), nullable=False),
        sa.Column('state', sa.String(length=8), nullable=False),
        sa.Column('cadre_id', sa.Integer(), nullable=False),
        sa.Column('outcome', sa.String(length=16), nullable=False),
        sa.Column('created_at', server.models.base.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(['cadre_id'], ['users.id']),
        sa.ForeignKeyConstraint(['project_id'], ['projects.id']),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('project_id', 'kind', 'period', name='uq_cadre_reminders'),
    )
    with op.batch_alter_table('cadre_reminders') as batch_op:
        batch_op.create_index(batch_op.f('ix_cadre_reminders_cadre_id'), ['cadre_id'], unique=False)
    _link_free_text()


def downgrade() -> None:
    # The linked accounts' names stay in responsible["联系组工干部"] (services/cadres.py keeps them there).
    op.drop_table('cadre_reminders')
    op.drop_table('liaison_contacts')
    if op.get_bind().dialect.name == 'sqlite':
        # SQLite drops no column that a foreign key names, and projects cannot be rebuilt while its
        # children point at it: the column stays, unused, and upgrade() takes it back as it is.
        op.drop_index('ix_projects_liaison_cadre_id', table_name='projects')
        op.execute('UPDATE projects SET liaison_cadre_id = NULL')
    else:
        op.drop_constraint('fk_projects_liaison_cadre_id_users', 'projects', type_='foreignkey')
        op.drop_index('ix_projects_liaison_cadre_id', table_name='projects')
        op.drop_column('projects', 'liaison_cadre_id')
