"""Staff accounts through /api/v1/admin/users: lists, creation, roles, invite codes, passwords."""

import re

import pytest

from tests.api.conftest import A, audit_entries, error_of
from tests.factories import Api

INVITE = re.compile(r"^[23456789ABCDEFGHJKMNPQRSTUVWXYZ]{4}-[23456789ABCDEFGHJKMNPQRSTUVWXYZ]{4}$")


def test_list_users_by_role(admin, world):
    """role narrows the user list to holders of that role."""
    body = admin.get(f"{A}/users", query_string={"role": "inspector"}).get_json()
    assert sorted(u["id"] for u in body["items"]) == sorted(world.ids[k] for k in ("insp_a", "insp_b", "insp_c"))


def test_create_user_answers_an_invite_code(admin, world):
    """An inspector created with issue_invite comes with a one-time invite code like K7M2-Q9PX."""
    r = admin.post(
        f"{A}/users",
        {
            "username": "insp_d",
            "name": "王督查",
            "roles": ["inspector"],
            "home_township_id": world.t1,
            "township_ids": [world.t2],
            "issue_invite": True,
        },
    )
    assert r.status_code == 201
    body = r.get_json()
    assert INVITE.match(body["invite_code"])
    assert body["roles"] == ["inspector"] and body["invite_pending"] is True and body["wechat_bound"] is False
    assert (body["home_township_id"], body["township_ids"]) == (world.t1, [world.t2])


def test_invites_are_issued_on_demand_to_miniprogram_accounts_only(admin, world):
    """No invite unless asked; none for accounts that do not use the mini-program (admin, leader, reviewer)."""
    plain = admin.post(f"{A}/users", {"username": "insp_e", "name": "赵督查", "roles": ["inspector"]})
    assert plain.status_code == 201
    assert "invite_code" not in plain.get_json() and plain.get_json()["invite_pending"] is False
    refused = admin.post(
        f"{A}/users", {"username": "leader3", "name": "部长", "roles": ["leader"], "issue_invite": True}
    )
    assert refused.status_code == 409 and refused.get_json()["error"]["code"] == "conflict"
    assert admin.get(f"{A}/users", query_string={"q": "leader3"}).get_json()["total"] == 0
    for key in ("admin", "reviewer1", "leader"):
        r = admin.patch(f"{A}/users/{world.ids[key]}", {"reset_invite": True})
        assert r.status_code == 409 and "invite_code" not in r.get_json(), key
    secretary = admin.patch(f"{A}/users/{world.ids['secretary']}", {"reset_invite": True})
    assert secretary.status_code == 200 and INVITE.match(secretary.get_json()["invite_code"])


def test_created_user_can_log_in_with_password(client, admin):
    """A staff account created with a password logs in with it."""
    admin.post(
        f"{A}/users", {"username": "leader2", "name": "副部长", "roles": ["leader"], "password": "leader2-password"}
    )
    r = client.post("/api/v1/auth/login", json={"username": "leader2", "password": "leader2-password"})
    assert r.status_code == 200
    assert r.get_json()["user"]["roles"] == ["leader"]


@pytest.mark.parametrize(
    "body",
    [
        {"name": "某人", "roles": ["superuser"]},
        {"name": "某人", "roles": []},
        {"name": "某人"},
        {"name": "某人", "roles": ["inspector", "inspector"]},
        {"name": "某人", "role": "boss"},
    ],
)
def test_user_roles_are_validated(admin, body):
    """Unknown, empty, missing or repeated roles answer 400 validation_failed."""
    r = admin.post(f"{A}/users", body)
    assert r.status_code == 400
    assert error_of(r)["code"] == "validation_failed"


def test_user_with_several_roles(admin):
    """roles may hold several roles, answered sorted."""
    r = admin.post(f"{A}/users", {"name": "复合", "roles": ["reviewer", "inspector"]})
    assert r.status_code == 201
    assert r.get_json()["roles"] == ["inspector", "reviewer"]


def test_patch_user_roles(client, admin, world):
    """PATCH roles replaces the user's roles; the user's token then carries the new ones."""
    r = admin.patch(f"{A}/users/{world.ids['insp_a']}", {"roles": ["inspector", "reviewer"]})
    assert r.status_code == 200, r.get_json()
    assert r.get_json()["roles"] == ["inspector", "reviewer"]
    me = Api(client, world.tokens["insp_a"]).get("/api/v1/auth/me").get_json()
    assert me["roles"] == ["inspector", "reviewer"]


@pytest.mark.both_databases
def test_duplicate_username(admin):
    """A username already in use answers 409 conflict."""
    r = admin.post(f"{A}/users", {"username": "insp_a", "name": "重名", "roles": ["inspector"]})
    assert r.status_code == 409
    assert error_of(r)["code"] == "conflict"


@pytest.mark.parametrize(
    "body",
    [
        {"username": "a", "name": "短", "roles": ["inspector"]},
        {"username": "有中文", "name": "中", "roles": ["inspector"]},
        {"username": "shortpw", "name": "短密码", "roles": ["inspector"], "password": "1234567"},
    ],
)
def test_username_and_password_rules(admin, body):
    """Usernames of the wrong shape and passwords under 8 characters answer 400."""
    r = admin.post(f"{A}/users", body)
    assert r.status_code == 400


def test_user_in_unknown_township(admin):
    """township_ids naming a township that does not exist answers 404."""
    r = admin.post(f"{A}/users", {"name": "某人", "roles": ["reviewer"], "township_ids": [99999]})
    assert r.status_code == 404
    assert error_of(r)["details"]["township_ids"] == [99999]


def test_reset_invite_issues_a_new_code(admin, world):
    """PATCH reset_invite answers a fresh invite code different from the first one."""
    r = admin.patch(f"{A}/users/{world.ids['insp_a']}", {"reset_invite": True})
    assert r.status_code == 200
    code = r.get_json()["invite_code"]
    assert INVITE.match(code) and code != world.invite_a


def test_plain_patch_answers_no_invite_code(admin, world):
    """A PATCH without reset_invite does not reveal or issue an invite code."""
    r = admin.patch(f"{A}/users/{world.ids['insp_a']}", {"name": "张三"})
    assert r.status_code == 200
    assert "invite_code" not in r.get_json() and r.get_json()["name"] == "张三"


def test_user_audit_entry_has_no_password(app, admin):
    """Creating a user with a password records the username and roles, never the password."""
    admin.post(
        f"{A}/users", {"username": "pw_user", "name": "某人", "roles": ["leader"], "password": "secret-password-9"}
    )
    last = audit_entries(app)[-1]
    assert last.data == {"username": "pw_user", "roles": ["leader"]}
    assert "secret-password-9" not in repr(last.data)
