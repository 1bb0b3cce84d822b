"""X-Forwarded-For is believed only from TRUSTED_PROXY_IPS: a client reaching gunicorn directly
cannot pick its address to dodge per-address limits or the /metrics allow-list."""

from __future__ import annotations

import ipaddress
from pathlib import Path

import pytest
import yaml
from flask import request

from server import create_app
from tests.api.test_feedback import SUBMIT, new_villager
from tests.api.test_logins import api_login, time_passes
from tests.factories import now_iso, uid

COMPOSE = Path(__file__).resolve().parent.parent / "deploy" / "docker-compose.yml"
DIRECT = "203.0.113.50"  # a client that reached gunicorn without going through nginx
NGINX = "127.0.0.1"  # the default TRUSTED_PROXY_IPS: nginx on the same machine


@pytest.fixture
def app_settings() -> dict:
    """One proxy hop trusted (nginx on loopback), small per-address limits, metrics for 10.0.0.0/8."""
    return {
        "TRUSTED_PROXIES": 1,
        "FEEDBACK_RATE_LIMITS": "2/hour",
        "VERIFY_RATE_LIMITS": "2/hour",
        "METRICS_ALLOWED_NETWORKS": "10.0.0.0/8",
    }


def via(peer: str, forwarded: str) -> dict:
    """Request options: a direct peer address and the X-Forwarded-For it sends."""
    return {"environ_base": {"REMOTE_ADDR": peer}, "headers": {"X-Forwarded-For": forwarded}}


def address_app(**settings):
    """A bare app with a page answering the client address it believes."""
    application = create_app({"SECRET_KEY": "x" * 32, "DATABASE_URL": "sqlite://", **settings})
    application.add_url_rule("/_ip", "ip", lambda: request.remote_addr)
    return application


def seen(application, peer: str, forwarded: str) -> str:
    """The client address the app believes for a request from `peer` carrying `forwarded`."""
    return application.test_client().get("/_ip", **via(peer, forwarded)).get_data(as_text=True)


def test_metrics_allow_list_ignores_a_direct_clients_forwarded_address(client, world):
    """A direct client claiming an allowed address gets 403; the same claim relayed by nginx is believed."""
    assert client.get("/metrics", **via(DIRECT, "10.9.9.9")).status_code == 403
    assert client.get("/metrics", **via(NGINX, "10.9.9.9")).status_code == 200
    assert client.get("/metrics", **via(NGINX, "203.0.113.9")).status_code == 403


def test_verify_limit_counts_a_direct_client_whatever_it_forwards(client, world):
    """Photo lookups from one direct client count against its own address however X-Forwarded-For varies."""
    codes = [client.get("/verify/NOPE1234", **via(DIRECT, f"198.51.100.{i}")).status_code for i in range(3)]
    assert codes[-1] == 429 and 429 not in codes[:2]
    # Villagers behind nginx are told apart by the address nginx saw.
    relayed = [client.get("/verify/NOPE1234", **via(NGINX, f"198.51.100.{i}")).status_code for i in range(3)]
    assert 429 not in relayed


def test_feedback_limit_counts_a_direct_client_whatever_it_forwards(client, fake_wechat, world):
    """Three villagers' feedback from one direct address is over the per-address limit of two."""
    codes = []
    for i in range(3):
        token = new_villager(client, fake_wechat).token
        body = {
            "client_id": uid(),
            "sent_at": now_iso(),
            "rating": "不满意",
            "category": "问题反映",
            "text": "水渠还没有修好。",
            "anonymous": False,
        }
        codes.append(
            client.post(
                SUBMIT.format(world.p1),
                json=body,
                environ_base={"REMOTE_ADDR": DIRECT},
                headers={"Authorization": f"Bearer {token}", "X-Forwarded-For": f"198.51.100.{i}"},
            ).status_code
        )
    assert codes == [201, 201, 429]


def test_login_address_limit_counts_a_direct_client_whatever_it_forwards(app, client, world):
    """Thirty wrong passwords across usernames from one direct client stop it, whatever it forwards."""
    names = ["admin", "leader", "reviewer1", "reviewer2", "secretary", "insp_a", "insp_b"]
    for i in range(30):
        r = client.post(
            "/api/v1/auth/login",
            json={"username": names[i % len(names)], "password": "wrong"},
            **via(DIRECT, f"198.51.100.{i}"),
        )
        assert r.status_code == 401
    time_passes(app, 120)
    r = client.post(
        "/api/v1/auth/login",
        json={"username": "insp_c", "password": "insp_c-password"},
        **via(DIRECT, "198.51.100.200"),
    )
    assert r.status_code == 429
    assert api_login(client, "insp_c", "insp_c-password", "203.0.113.51").status_code == 200


def test_forwarded_chain_is_read_only_through_trusted_hops():
    """Two hops: the balancer's entry counts only when the balancer is a trusted address itself."""
    application = address_app(TRUSTED_PROXIES=2, TRUSTED_PROXY_IPS="127.0.0.1,100.64.0.0/10")
    assert seen(application, "127.0.0.1", "198.51.100.7, 100.64.3.4") == "198.51.100.7"
    # The entry nginx added is not a balancer: whatever stands left of it was the client's own claim.
    assert seen(application, "127.0.0.1", "10.9.9.9, 198.51.100.8") == "198.51.100.8"
    assert seen(application, DIRECT, "198.51.100.7, 100.64.3.4") == DIRECT


def test_compose_trusts_its_bridge_gateway_only():
    """With the compose file's settings, nginx's requests (from the network's gateway) are believed;
    a request from another container of the network or from outside is not."""
    compose = yaml.safe_load(COMPOSE.read_text("utf-8"))
    env = compose["services"]["app"]["environment"]
    ipam = compose["networks"]["default"]["ipam"]["config"][0]
    gateway, subnet = ipam["gateway"], ipaddress.ip_network(ipam["subnet"])
    trusted = [ipaddress.ip_network(p.strip(), strict=False) for p in env["TRUSTED_PROXY_IPS"].split(",")]
    assert trusted == [ipaddress.ip_network(f"{gateway}/32")] and ipaddress.ip_address(gateway) in subnet
    application = address_app(
        TRUSTED_PROXIES=int(env["TRUSTED_PROXIES"]),
        TRUSTED_PROXY_IPS=env["TRUSTED_PROXY_IPS"],
        METRICS_ALLOWED_NETWORKS=env["METRICS_ALLOWED_NETWORKS"],
        METRICS_TOKEN="compose-metrics-token",
    )
    neighbour = str(subnet.network_address + 5)  # e.g. the MySQL or MinIO container
    assert seen(application, gateway, "198.51.100.7") == "198.51.100.7"
    assert seen(application, neighbour, "198.51.100.7") == neighbour
    assert seen(application, DIRECT, "198.51.100.7") == DIRECT
    # Prometheus on the host also arrives from the gateway: it needs the token.
    client = application.test_client()
    assert client.get("/metrics", environ_base={"REMOTE_ADDR": gateway}).status_code == 403
    token = {"Authorization": "Bearer compose-metrics-token"}
    assert client.get("/metrics", environ_base={"REMOTE_ADDR": gateway}, headers=token).status_code == 200
