"""Logins (WeChat code, invite binding, password), tokens and role checks."""

from datetime import timedelta

import pytest

from server import create_app
from server.db import db
from server.models import User, utcnow
from tests.conftest import SECRET
from tests.factories import Api

WECHAT = "/api/v1/auth/wechat"
BIND = "/api/v1/auth/bind"
LOGIN = "/api/v1/auth/login"
ME = "/api/v1/auth/me"


def wechat_login(client, fake_wechat, openid: str):
    """POST /auth/wechat with a fresh code for `openid`; the raw response."""
    return client.post(WECHAT, json={"code": fake_wechat.code_for(openid)})


def error_code(response) -> str:
    """The `error.code` of an error response."""
    return response.get_json()["error"]["code"]


# ---- WeChat login --------------------------------------------------------------------------


def test_wechat_login_of_unknown_openid_makes_a_villager(client, world, fake_wechat):
    """A first WeChat login answers a token of a new user holding only the villager role."""
    r = wechat_login(client, fake_wechat, "openid-new-1")
    assert r.status_code == 200, r.get_json()
    body = r.get_json()
    assert body["user"]["roles"] == ["villager"]
    assert body["user"]["id"] not in world.ids.values()
    me = Api(client, body["token"]).get(ME)
    assert me.status_code == 200
    assert me.get_json()["id"] == body["user"]["id"]


@pytest.mark.both_databases
def test_wechat_login_twice_is_the_same_user(client, world, fake_wechat):
    """A second login with the same openid finds the user created by the first."""
    first = wechat_login(client, fake_wechat, "openid-again").get_json()
    second = wechat_login(client, fake_wechat, "openid-again")
    assert second.status_code == 200
    assert second.get_json()["user"]["id"] == first["user"]["id"]


def test_wechat_login_with_invalid_code(client, world):
    """A code WeChat does not know answers 400 wechat_code_invalid."""
    r = client.post(WECHAT, json={"code": "code-that-wechat-never-issued"})
    assert r.status_code == 400
    assert error_code(r) == "wechat_code_invalid"


def test_wechat_login_code_is_single_use(client, world, fake_wechat):
    """Replaying a wx.login code that was already exchanged answers 400 wechat_code_invalid."""
    code = fake_wechat.code_for("openid-replay")
    assert client.post(WECHAT, json={"code": code}).status_code == 200
    r = client.post(WECHAT, json={"code": code})
    assert r.status_code == 400
    assert error_code(r) == "wechat_code_invalid"


def test_wechat_login_without_configuration(database_url, tmp_path):
    """An app without WECHAT_APPID answers 503 wechat_not_configured."""
    app = create_app(
        {
            "SECRET_KEY": SECRET,
            "DATA_KEY": SECRET,
            "DATABASE_URL": database_url,
            "WECHAT_APPID": "",
            "WECHAT_SECRET": "",
            "STORAGE_BACKEND": "local",
            "STORAGE_DIR": str(tmp_path / "storage"),
            "TESTING": True,
            "LOG_LEVEL": "WARNING",
        }
    )
    try:
        r = app.test_client().post(WECHAT, json={"code": "any-code"})
        assert r.status_code == 503
        assert error_code(r) == "wechat_not_configured"
    finally:
        app.extensions["db"]["engine"].dispose()


def test_wechat_login_of_deactivated_account_is_refused(client, world, fake_wechat):
    """A WeChat identity bound to a deactivated account gets no token."""
    villager = wechat_login(client, fake_wechat, "openid-gone").get_json()
    admin = Api(client, world.tokens["admin"])
    assert admin.patch(f"/api/v1/admin/users/{villager['user']['id']}", {"active": False}).status_code == 200
    r = wechat_login(client, fake_wechat, "openid-gone")
    assert r.status_code == 403
    assert "token" not in r.get_json()


# ---- invite binding ------------------------------------------------------------------------


def test_bind_invite_turns_the_wechat_user_into_the_staff_account(client, world, fake_wechat):
    """Binding insp_a's invite answers a token whose /auth/me is insp_a with the inspector role."""
    villager = wechat_login(client, fake_wechat, "openid-insp-a").get_json()
    r = Api(client, villager["token"]).post(BIND, {"invite_code": world.invite_a})
    assert r.status_code == 200, r.get_json()
    me = Api(client, r.get_json()["token"]).get(ME)
    assert me.status_code == 200
    assert me.get_json()["roles"] == ["inspector"]
    assert me.get_json()["id"] == world.ids["insp_a"]


def test_bound_wechat_logs_in_as_the_staff_account(client, world, fake_wechat):
    """After binding, a WeChat login with the same openid is the staff account, not a villager."""
    villager = wechat_login(client, fake_wechat, "openid-bound").get_json()
    Api(client, villager["token"]).post(BIND, {"invite_code": world.invite_a})
    r = wechat_login(client, fake_wechat, "openid-bound")
    assert r.status_code == 200
    assert r.get_json()["user"]["id"] == world.ids["insp_a"]
    assert r.get_json()["user"]["roles"] == ["inspector"]


def test_invite_code_cannot_be_used_twice(client, world, fake_wechat):
    """A second WeChat user presenting an already used invite code gets 400 invite_invalid."""
    first = wechat_login(client, fake_wechat, "openid-first").get_json()
    assert Api(client, first["token"]).post(BIND, {"invite_code": world.invite_a}).status_code == 200
    second = wechat_login(client, fake_wechat, "openid-second").get_json()
    r = Api(client, second["token"]).post(BIND, {"invite_code": world.invite_a})
    assert r.status_code == 400
    assert error_code(r) == "invite_invalid"


def test_binding_invalidates_the_villager_token(client, world, fake_wechat):
    """The villager token used for binding stops working once the identity moved to the staff account."""
    villager = wechat_login(client, fake_wechat, "openid-old-token").get_json()
    old = Api(client, villager["token"])
    assert old.post(BIND, {"invite_code": world.invite_a}).status_code == 200
    r = old.get(ME)
    assert r.status_code == 401
    assert error_code(r) == "token_invalid"


@pytest.mark.both_databases
@pytest.mark.parametrize("spelling", ["lower", "no-dash", "spaces"])
def test_invite_code_ignores_case_and_dashes(client, world, fake_wechat, spelling):
    """An invite code typed in lower case, without the dash or with spaces still binds."""
    code = world.invite_a
    typed = {
        "lower": code.lower(),
        "no-dash": code.replace("-", ""),
        "spaces": " " + code.replace("-", " ").lower() + " ",
    }[spelling]
    villager = wechat_login(client, fake_wechat, f"openid-{spelling}").get_json()
    r = Api(client, villager["token"]).post(BIND, {"invite_code": typed})
    assert r.status_code == 200, r.get_json()
    assert r.get_json()["user"]["id"] == world.ids["insp_a"]


def test_unknown_invite_code(client, world, fake_wechat):
    """A code that was never issued answers 400 invite_invalid."""
    villager = wechat_login(client, fake_wechat, "openid-guess").get_json()
    r = Api(client, villager["token"]).post(BIND, {"invite_code": "ZZZZ-ZZZZ"})
    assert r.status_code == 400
    assert error_code(r) == "invite_invalid"


def test_expired_invite_code(app, client, world, fake_wechat):
    """An invite code past its expiry answers 400 invite_invalid."""
    with app.app_context():
        user = db.session.get(User, world.ids["insp_a"])
        user.invite_expires_at = utcnow() - timedelta(minutes=1)
        db.session.commit()
    villager = wechat_login(client, fake_wechat, "openid-late").get_json()
    r = Api(client, villager["token"]).post(BIND, {"invite_code": world.invite_a})
    assert r.status_code == 400
    assert error_code(r) == "invite_invalid"


def test_bind_needs_a_wechat_identity(client, world):
    """A password-login token (no WeChat behind it) cannot bind an invite code."""
    r = Api(client, world.tokens["insp_b"]).post(BIND, {"invite_code": world.invite_a})
    assert r.status_code == 403
    assert error_code(r) == "forbidden"


def test_reset_invite_binds_and_the_old_code_is_dead(client, world, fake_wechat):
    """After an admin reset, the new invite code binds and the previous one is invalid."""
    admin = Api(client, world.tokens["admin"])
    new_code = admin.patch(f"/api/v1/admin/users/{world.ids['insp_a']}", {"reset_invite": True}).get_json()[
        "invite_code"
    ]
    villager = Api(client, wechat_login(client, fake_wechat, "openid-reset").get_json()["token"])
    r = villager.post(BIND, {"invite_code": world.invite_a})
    assert error_code(r) == "invite_invalid"
    r = villager.post(BIND, {"invite_code": new_code})
    assert r.status_code == 200
    assert r.get_json()["user"]["id"] == world.ids["insp_a"]


def test_no_invite_for_an_account_already_bound(client, world, fake_wechat):
    """Once an account is bound to WeChat, reset_invite is refused (409): no second phone can take it over."""
    first = wechat_login(client, fake_wechat, "openid-owner").get_json()
    assert Api(client, first["token"]).post(BIND, {"invite_code": world.invite_a}).status_code == 200
    admin = Api(client, world.tokens["admin"])
    r = admin.patch(f"/api/v1/admin/users/{world.ids['insp_a']}", {"reset_invite": True})
    assert r.status_code == 409 and error_code(r) == "conflict" and "invite_code" not in r.get_json()


# ---- password login ------------------------------------------------------------------------


def test_password_login(client, world):
    """The right username and password answer a token for that account."""
    r = client.post(LOGIN, json={"username": "reviewer1", "password": "reviewer1-password"})
    assert r.status_code == 200
    body = r.get_json()
    assert body["user"]["id"] == world.ids["reviewer1"]
    assert Api(client, body["token"]).get(ME).get_json()["roles"] == ["reviewer"]


def test_password_login_with_wrong_password(client, world):
    """A wrong password answers 401 login_failed."""
    r = client.post(LOGIN, json={"username": "reviewer1", "password": "not-the-password"})
    assert r.status_code == 401
    assert error_code(r) == "login_failed"


def test_password_login_of_unknown_user(client, world):
    """An unknown username answers the same 401 login_failed as a wrong password."""
    r = client.post(LOGIN, json={"username": "nobody", "password": "reviewer1-password"})
    assert r.status_code == 401
    assert error_code(r) == "login_failed"


def test_password_login_of_account_without_password(client, world):
    """A staff account created without a password cannot log in with any password."""
    admin = Api(client, world.tokens["admin"])
    r = admin.post("/api/v1/admin/users", {"username": "wx_only", "name": "微信用户", "roles": ["inspector"]})
    assert r.status_code == 201
    r = client.post(LOGIN, json={"username": "wx_only", "password": "anything-at-all"})
    assert r.status_code == 401
    assert error_code(r) == "login_failed"


def test_password_login_of_deactivated_user(client, world):
    """A deactivated account cannot log in even with the right password."""
    Api(client, world.tokens["admin"]).patch(f"/api/v1/admin/users/{world.ids['reviewer1']}", {"active": False})
    r = client.post(LOGIN, json={"username": "reviewer1", "password": "reviewer1-password"})
    assert r.status_code == 401
    assert error_code(r) == "login_failed"


# ---- tokens --------------------------------------------------------------------------------


def test_token_of_deactivated_user_is_refused(client, world):
    """Deactivating a user makes the user's existing token answer 401 token_invalid."""
    api = Api(client, world.tokens["insp_a"])
    assert api.get(ME).status_code == 200
    r = Api(client, world.tokens["admin"]).patch(f"/api/v1/admin/users/{world.ids['insp_a']}", {"active": False})
    assert r.status_code == 200
    r = api.get(ME)
    assert r.status_code == 401
    assert error_code(r) == "token_invalid"


def test_reactivation_does_not_revive_old_tokens(client, world):
    """A token from before a deactivation stays invalid after the user is activated again."""
    admin = Api(client, world.tokens["admin"])
    path = f"/api/v1/admin/users/{world.ids['insp_a']}"
    admin.patch(path, {"active": False})
    admin.patch(path, {"active": True})
    assert Api(client, world.tokens["insp_a"]).get(ME).status_code == 401


def test_password_change_invalidates_old_tokens(client, world):
    """A new password signs the user out everywhere; the new password logs in, the old one does not."""
    r = Api(client, world.tokens["admin"]).patch(
        f"/api/v1/admin/users/{world.ids['reviewer1']}", {"password": "brand-new-password"}
    )
    assert r.status_code == 200
    assert Api(client, world.tokens["reviewer1"]).get(ME).status_code == 401
    assert client.post(LOGIN, json={"username": "reviewer1", "password": "reviewer1-password"}).status_code == 401
    r = client.post(LOGIN, json={"username": "reviewer1", "password": "brand-new-password"})
    assert r.status_code == 200
    assert Api(client, r.get_json()["token"]).get(ME).status_code == 200


def test_no_token(client, world):
    """A request without a token answers 401 unauthorized with a Bearer challenge."""
    r = client.get(ME)
    assert r.status_code == 401
    assert error_code(r) == "unauthorized"
    assert r.headers["WWW-Authenticate"] == "Bearer"


def test_non_bearer_authorization(client, world):
    """An Authorization header of another scheme counts as no token."""
    r = client.get(ME, headers={"Authorization": "Basic YWRtaW46YWRtaW4="})
    assert r.status_code == 401
    assert error_code(r) == "unauthorized"


def test_garbage_token(client, world):
    """A token that is not ours answers 401 token_invalid."""
    r = Api(client, "not.a-real.token").get(ME)
    assert r.status_code == 401
    assert error_code(r) == "token_invalid"


def test_token_signed_with_another_secret(app, client, world):
    """A well-formed token signed with another SECRET_KEY answers 401 token_invalid."""
    from itsdangerous import URLSafeTimedSerializer

    forged = URLSafeTimedSerializer("some-other-secret", salt="api-token").dumps({"uid": world.ids["admin"], "v": 1})
    r = Api(client, forged).get(ME)
    assert r.status_code == 401
    assert error_code(r) == "token_invalid"


def test_wrong_role(client, world):
    """An inspector calling an admin endpoint gets 403 forbidden naming the required role."""
    r = Api(client, world.tokens["insp_a"]).get("/api/v1/admin/users")
    assert r.status_code == 403
    body = r.get_json()["error"]
    assert body["code"] == "forbidden"
    assert body["details"]["required_roles"] == ["admin"]


def test_me_answers_the_caller(client, world):
    """/auth/me answers the user the token belongs to, with name and roles."""
    r = Api(client, world.tokens["leader"]).get(ME)
    assert r.status_code == 200
    assert r.get_json() == {"id": world.ids["leader"], "name": "leader", "roles": ["leader"]}


@pytest.mark.both_databases
def test_password_login_locks_after_five_failures(client, world):
    """Five wrong passwords lock the username with 429 and Retry-After, even for the right password."""
    for _ in range(5):
        r = client.post("/api/v1/auth/login", json={"username": "insp_a", "password": "wrong"})
        assert r.status_code == 401
    r = client.post("/api/v1/auth/login", json={"username": "insp_a", "password": "insp_a-password"})
    assert r.status_code == 429 and int(r.headers["Retry-After"]) > 0
    other = client.post(
        "/api/v1/auth/login",
        json={"username": "admin", "password": "admin-password"},
        environ_base={"REMOTE_ADDR": "10.0.0.9"},
    )
    assert other.status_code == 200
