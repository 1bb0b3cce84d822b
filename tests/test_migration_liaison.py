"""Migration 0023: free-text 联系组工干部 becomes a link to the one staff account of that name, or stays text."""

import json

import pytest
from alembic import command
from sqlalchemy import create_engine, text

from server.db import alembic_config, db
from server.models import User
from server.services import cadres, users

pytestmark = pytest.mark.both_databases


def test_0023_links_unambiguous_names_and_keeps_the_rest_as_text(app, world, database_url):
    """胡颖 (one reviewer) is linked; 王芳 (two accounts), 李明 (none) and a secretary's name stay text."""
    with app.app_context():
        s = db.session
        admin = s.get(User, world.ids["admin"])
        made = {}
        for username, name, role in (
            ("huying", "胡颖", "reviewer"),
            ("wf1", "王芳", "reviewer"),
            ("wf2", "王芳", "leader"),
            ("zhao", "赵敏", "secretary"),
        ):
            made[username] = users.create_user(
                s, admin, {"username": username, "name": name, "roles": [role], "password": "p" * 12}
            )[0].id
    app.extensions["db"]["engine"].dispose()
    cfg = alembic_config(database_url)
    command.downgrade(cfg, "0017")
    engine = create_engine(database_url)
    texts = {world.p1: "县委组织部 胡颖", world.p2: "县委组织部  王芳", world.p3: "李明"}
    with engine.begin() as conn:
        for pid, liaison in texts.items():
            value = json.dumps({"牵头书记": "彭建华", "联系组工干部": liaison}, ensure_ascii=False)
            conn.execute(text("UPDATE projects SET responsible = :r WHERE id = :id"), {"r": value, "id": pid})
    engine.dispose()
    command.upgrade(cfg, "head")
    engine = create_engine(database_url)
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT id, liaison_cadre_id, responsible FROM projects ORDER BY id")).all()
    engine.dispose()
    linked = {pid: cadre for pid, cadre, _ in rows}
    assert linked == {world.p1: made["huying"], world.p2: None, world.p3: None}
    kept = {pid: json.loads(r) if isinstance(r, str) else r for pid, _, r in rows}
    assert {pid: kept[pid]["联系组工干部"] for pid in texts} == texts
    with app.app_context():
        assert [p.id for p in cadres.unlinked_projects(db.session)] == [world.p2, world.p3]
