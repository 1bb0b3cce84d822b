"""Invite codes: binding is rate-limited per phone and per address, codes are stored as keyed
HMACs, and the invites of the old unkeyed form are withdrawn by migration 0014."""

from __future__ import annotations

import hashlib

import pytest
from alembic import command
from sqlalchemy import create_engine, text

from server.auth import invite_code_hash
from server.db import alembic_config
from tests.api.test_auth import BIND, error_code, wechat_login
from tests.factories import Api

# Rate limits serialized by a row lock; a migration.
pytestmark = pytest.mark.both_databases

WRONG = "ZZZZ-ZZZZ"


def phone(client, fake_wechat, openid: str) -> Api:
    """A villager's mini-program session for `openid`."""
    return Api(client, wechat_login(client, fake_wechat, openid).get_json()["token"])


def bind(api: Api, code: str, ip: str):
    """POST /auth/bind from an address."""
    return api.post(BIND, {"invite_code": code}, environ_base={"REMOTE_ADDR": ip})


def test_wrong_codes_from_one_phone_are_429_with_retry_after(client, world, fake_wechat):
    """Five wrong codes from one phone, then 429 with Retry-After, even for the right code; another phone binds."""
    guesser = phone(client, fake_wechat, "openid-guesser")
    for i in range(5):
        r = bind(guesser, WRONG, f"10.7.0.{i}")
        assert r.status_code == 400 and error_code(r) == "invite_invalid"
    r = bind(guesser, world.invite_a, "10.7.0.99")
    assert r.status_code == 429 and error_code(r) == "rate_limited"
    assert 0 < int(r.headers["Retry-After"]) <= 900
    owner = phone(client, fake_wechat, "openid-owner")
    assert bind(owner, world.invite_a, "10.7.1.1").status_code == 200


def test_wrong_codes_from_one_address_are_429_across_phones(client, world, fake_wechat):
    """Twenty wrong codes from one address across five phones stop that address; another address binds."""
    for p in range(5):
        guesser = phone(client, fake_wechat, f"openid-guesser-{p}")
        for _ in range(4):
            assert bind(guesser, WRONG, "10.8.8.8").status_code == 400
    newcomer = phone(client, fake_wechat, "openid-newcomer")
    r = bind(newcomer, world.invite_a, "10.8.8.8")
    assert r.status_code == 429 and int(r.headers["Retry-After"]) > 0
    assert bind(newcomer, world.invite_a, "10.8.8.9").status_code == 200


def test_codes_are_stored_as_hmacs_under_the_server_key(app, world):
    """The stored value is not the plain SHA-256 of the code and changes with SECRET_KEY."""
    normalized = world.invite_a.replace("-", "").encode()
    with app.app_context():
        stored = invite_code_hash(world.invite_a)
        assert stored != hashlib.sha256(normalized).hexdigest()
        assert invite_code_hash(world.invite_a.lower().replace("-", " ")) == stored
        app.config["SECRET_KEY"] = "another-server-key-of-enough-length"
        assert invite_code_hash(world.invite_a) != stored


def test_migration_0014_withdraws_unkeyed_invites(tmp_path):
    """Invites stored as plain SHA-256 before 0014 are cleared by it (they cannot be re-keyed)."""
    url = f"sqlite:///{tmp_path / 'old.db'}"
    command.upgrade(alembic_config(url), "0009")
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO users (username, name, invite_code_hash, invite_expires_at, active, "
                "token_version, created_at) VALUES ('old', 'old', :h, '2030-01-01 00:00:00', 1, 1, "
                "'2026-01-01 00:00:00')"
            ),
            {"h": hashlib.sha256(b"ABCD2345").hexdigest()},
        )
    command.upgrade(alembic_config(url), "0014")
    with engine.connect() as conn:
        assert conn.execute(text("SELECT invite_code_hash, invite_expires_at FROM users")).one() == (None, None)
    engine.dispose()
