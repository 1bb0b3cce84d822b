"""The request's database session is closed after the answer is made, whatever the database does then."""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session


class _NodeLeft(Exception):
    """What PyMySQL raises when a Galera node leaving the cluster refuses the ROLLBACK."""

    args = (1047, "WSREP has not yet prepared node for application use")


def test_a_connection_failing_at_close_does_not_turn_the_answer_into_a_500(app, monkeypatch):
    """ROLLBACK failing in teardown (a Galera node leaving): the answer stands, the connection is discarded."""
    from server.db import db

    @app.get("/_teardown_probe")
    def probe():
        db.session.execute(text("SELECT 1"))
        return {"ok": True}

    def refuse(_session):
        raise OperationalError("ROLLBACK", {}, _NodeLeft())

    monkeypatch.setattr(Session, "close", refuse)
    app.config["PROPAGATE_EXCEPTIONS"] = True  # what escapes the app reaches gunicorn as its bare 500
    answer = app.test_client().get("/_teardown_probe")
    monkeypatch.undo()
    assert answer.status_code == 200
    assert answer.get_json() == {"ok": True}
