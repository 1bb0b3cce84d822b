"""The wechatpy adapter against a fake WeChat server that it really talks to over HTTP."""

from __future__ import annotations

import io
import json
import logging
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from PIL import Image
from wechatpy.session.memorystorage import MemoryStorage

from server.devtools.fake_wechat import FakeWeChat
from server.wechat import WeChat, WeChatError, WeChatUnavailable, wechat_from_config

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def fake() -> Iterator[FakeWeChat]:
    with FakeWeChat() as server:
        yield server


@pytest.fixture
def wechat(fake: FakeWeChat) -> WeChat:
    return WeChat(fake.appid, fake.secret, api_base=fake.url, timeout=5)


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_code_to_session_returns_openid(fake, wechat):
    """A registered wx.login code is exchanged for its openid and a session key."""
    session = wechat.code_to_session(fake.code_for("o-villager-1"))
    assert session["openid"] == "o-villager-1"
    assert session["session_key"]
    assert "unionid" not in session


def test_code_to_session_passes_unionid(fake, wechat):
    """The unionid is returned when WeChat sends one."""
    session = wechat.code_to_session(fake.code_for("o-villager-1", unionid="u-1"))
    assert session["unionid"] == "u-1"


def test_code_to_session_needs_no_access_token(fake, wechat):
    """Login does not fetch an access token, which jscode2session does not take."""
    wechat.code_to_session(fake.code_for("o-villager-1"))
    assert fake.calls("/cgi-bin/token") == []
    assert "access_token" not in fake.calls("/sns/jscode2session")[0]["query"]


def test_invalid_code_is_rejected(wechat):
    """An invalid code gives wechat_code_invalid, HTTP 400, with a Chinese message."""
    with pytest.raises(WeChatError) as caught:
        wechat.code_to_session("bad-code")
    assert (caught.value.errcode, caught.value.code, caught.value.status) == (
        40029,
        "wechat_code_invalid",
        400,
    )
    assert caught.value.message == "登录凭证无效或已过期,请重新进入小程序"


def test_reused_code_is_invalid(fake, wechat):
    """A code works once; the second exchange is wechat_code_invalid (40163)."""
    code = fake.code_for("o-villager-1")
    wechat.code_to_session(code)
    with pytest.raises(WeChatError) as caught:
        wechat.code_to_session(code)
    assert (caught.value.errcode, caught.value.code) == (40163, "wechat_code_invalid")


def test_rate_limit_maps_to_429(wechat):
    """WeChat's minute quota (45011) becomes wechat_rate_limited, HTTP 429."""
    with pytest.raises(WeChatError) as caught:
        wechat.code_to_session("ratelimit-1")
    assert (caught.value.code, caught.value.status) == ("wechat_rate_limited", 429)


def test_risky_user_maps_to_403(wechat):
    """A high-risk WeChat account (40226) becomes wechat_user_risky, HTTP 403."""
    with pytest.raises(WeChatError) as caught:
        wechat.code_to_session("risky-1")
    assert (caught.value.code, caught.value.status) == ("wechat_user_risky", 403)


def test_system_busy_maps_to_502(fake, wechat):
    """Any other WeChat error (here -1, system busy) becomes wechat_error, HTTP 502."""
    fake.fail_next(1)
    with pytest.raises(WeChatError) as caught:
        wechat.code_to_session(fake.code_for("o-villager-1"))
    assert (caught.value.errcode, caught.value.code, caught.value.status) == (
        -1,
        "wechat_error",
        502,
    )
    assert not isinstance(caught.value, WeChatUnavailable)


def test_access_token_is_cached(fake, wechat):
    """Several API calls share one access token fetched once."""
    for _ in range(3):
        wechat.msg_sec_check(openid="o-1", content="路面已经修好")
    wechat.get_unlimited_wxacode(scene="p=1")
    assert len(fake.calls("/cgi-bin/token")) == 1
    tokens = {call["query"]["access_token"] for call in fake.requests if call["path"] != "/cgi-bin/token"}
    assert len(tokens) == 1


def test_nodes_sharing_token_storage_fetch_one_token(fake):
    """Two app nodes with one shared token storage (Redis in production) fetch one token between them."""
    shared = MemoryStorage()
    nodes = [WeChat(fake.appid, fake.secret, api_base=fake.url, timeout=5, token_storage=shared) for _ in range(2)]
    for node in nodes:
        node.msg_sec_check(openid="o-1", content="路面已经修好")
    assert len(fake.calls("/cgi-bin/token")) == 1


def test_node_renews_a_shared_token_close_to_expiry(fake):
    """A node renews a shared token that another node fetched once it is within five minutes of expiring."""
    shared = MemoryStorage()
    first = WeChat(fake.appid, fake.secret, api_base=fake.url, timeout=5, token_storage=shared)
    first.msg_sec_check(openid="o-1", content="好")
    key = first._client.access_token_key
    shared.set(f"{key}_expires_at", time.time() + 120)
    second = WeChat(fake.appid, fake.secret, api_base=fake.url, timeout=5, token_storage=shared)
    second.msg_sec_check(openid="o-1", content="好")
    assert len(fake.calls("/cgi-bin/token")) == 2


def test_concurrent_first_calls_fetch_one_token(fake, wechat):
    """Threads that all start without a token fetch only one between them."""
    with ThreadPoolExecutor(max_workers=8) as pool:
        verdicts = list(pool.map(lambda i: wechat.msg_sec_check(openid=f"o-{i}", content="好"), range(8)))
    assert all(v["suggest"] == "pass" for v in verdicts)
    assert len(fake.calls("/cgi-bin/token")) == 1


def test_expired_token_is_renewed_and_call_retried(fake, wechat):
    """After 42001 the token is fetched again and the call retried once with the new one."""
    wechat.msg_sec_check(openid="o-1", content="第一次")
    fake.expire_tokens()
    assert wechat.msg_sec_check(openid="o-1", content="第二次")["suggest"] == "pass"
    checks = fake.calls("/wxa/msg_sec_check")
    assert len(fake.calls("/cgi-bin/token")) == 2
    assert len(checks) == 3
    assert checks[1]["query"]["access_token"] == checks[0]["query"]["access_token"]
    assert checks[2]["query"]["access_token"] != checks[1]["query"]["access_token"]


def test_token_is_renewed_only_once(fake, wechat):
    """When WeChat rejects the new token too, the call fails instead of looping."""
    fake.fail_next(2, errcode=42001)
    with pytest.raises(WeChatError) as caught:
        wechat.msg_sec_check(openid="o-1", content="你好")
    assert caught.value.errcode == 42001
    assert len(fake.calls("/wxa/msg_sec_check")) == 2
    assert len(fake.calls("/cgi-bin/token")) == 2


def test_wrong_secret_is_a_wechat_error(fake):
    """A wrong AppSecret makes the token fetch fail with WeChat's 40125, HTTP 502."""
    wechat = WeChat(fake.appid, "not-the-secret", api_base=fake.url)
    with pytest.raises(WeChatError) as caught:
        wechat.msg_sec_check(openid="o-1", content="你好")
    assert (caught.value.errcode, caught.value.code, caught.value.status) == (
        40125,
        "wechat_error",
        502,
    )
    assert fake.calls("/wxa/msg_sec_check") == []


def test_server_down_is_unavailable_quickly():
    """A closed port gives WeChatUnavailable (HTTP 503) at once, not after the timeout."""
    wechat = WeChat("wx-app", "s3cret", api_base=f"http://127.0.0.1:{_closed_port()}", timeout=30)
    started = time.monotonic()
    with pytest.raises(WeChatUnavailable) as caught:
        wechat.code_to_session("any-code")
    assert time.monotonic() - started < 2
    assert (caught.value.code, caught.value.status) == ("wechat_unavailable", 503)


def test_silent_server_times_out_as_unavailable():
    """A server that accepts but never answers gives WeChatUnavailable after the timeout."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(4)  # never accepted: the kernel completes the handshake, nobody answers
        port = listener.getsockname()[1]
        wechat = WeChat("wx-app", "s3cret", api_base=f"http://127.0.0.1:{port}", timeout=0.3)
        started = time.monotonic()
        with pytest.raises(WeChatUnavailable):
            wechat.code_to_session("any-code")
        assert time.monotonic() - started < 3


def test_non_json_answer_is_unavailable():
    """An HTML page with HTTP 200 (a proxy or portal in the way) gives WeChatUnavailable."""

    class Portal(BaseHTTPRequestHandler):
        def do_GET(self):
            body = b"<html><body>login required</body></html>"
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Portal)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        wechat = WeChat("wx-app", "s3cret", api_base=f"http://127.0.0.1:{server.server_address[1]}")
        with pytest.raises(WeChatUnavailable):
            wechat.code_to_session("any-code")
    finally:
        server.shutdown()
        server.server_close()


def test_msg_sec_check_pass_sends_v2_body(fake, wechat):
    """Clean text passes, and the request is msgSecCheck v2 with scene, openid and content."""
    verdict = wechat.msg_sec_check(openid="o-1", content="村道两侧已清理干净", scene=3)
    assert verdict == {"suggest": "pass", "label": 100}
    body = fake.calls("/wxa/msg_sec_check")[0]["json"]
    assert body == {"version": 2, "scene": 3, "openid": "o-1", "content": "村道两侧已清理干净"}


def test_msg_sec_check_review(fake, wechat):
    """Text matching a review rule comes back as suggest=review with its label."""
    fake.sec_check_rules["加微信"] = "review"
    verdict = wechat.msg_sec_check(openid="o-1", content="有事加微信联系")
    assert verdict["suggest"] == "review"
    assert verdict["label"] != 100


def test_msg_sec_check_risky(fake, wechat):
    """Text matching a risky rule comes back as suggest=risky, with the rule's label when it has one."""
    fake.sec_check_rules["违禁"] = "risky"
    assert wechat.msg_sec_check(openid="o-1", content="违禁内容")["suggest"] == "risky"
    fake.add_sec_check_rule("赌博", "risky", 20006)
    assert wechat.msg_sec_check(openid="o-1", content="村里有人赌博") == {"suggest": "risky", "label": 20006}


def test_unlimited_wxacode_returns_png(fake, wechat):
    """getwxacodeunlimit gives PNG bytes Pillow opens, for the scene and page asked."""
    png = wechat.get_unlimited_wxacode(scene="p=42", page="pages/report/report", width=280)
    with Image.open(io.BytesIO(png)) as image:
        assert image.format == "PNG"
        assert image.size == (280, 280)
    body = fake.calls("/wxa/getwxacodeunlimit")[0]["json"]
    assert (body["scene"], body["page"], body["env_version"]) == (
        "p=42",
        "pages/report/report",
        "release",
    )


def test_unlimited_wxacode_rejects_long_scene(wechat):
    """A scene over 32 characters is refused by WeChat (40169) as a WeChatError."""
    with pytest.raises(WeChatError) as caught:
        wechat.get_unlimited_wxacode(scene="x" * 33)
    assert (caught.value.errcode, caught.value.code) == (40169, "wechat_error")


def test_subscribe_message_without_consent(wechat):
    """Without the user's consent WeChat answers 43101: wechat_not_subscribed."""
    with pytest.raises(WeChatError) as caught:
        wechat.send_subscribe_message(openid="o-1", template_id="tpl-visit", data={"thing1": {"value": "暗访结果"}})
    assert (caught.value.errcode, caught.value.code) == (43101, "wechat_not_subscribed")


def test_subscribe_message_with_consent_uses_it_up(fake, wechat):
    """One consent delivers one message; the next needs a new consent."""
    fake.consent("o-1", "tpl-visit")
    data = {"thing1": {"value": "暗访结果已公布"}}
    wechat.send_subscribe_message(openid="o-1", template_id="tpl-visit", data=data, page="pages/index/index")
    assert fake.sent_messages == [
        {"touser": "o-1", "template_id": "tpl-visit", "data": data, "page": "pages/index/index"}
    ]
    with pytest.raises(WeChatError) as caught:
        wechat.send_subscribe_message(openid="o-1", template_id="tpl-visit", data=data)
    assert caught.value.code == "wechat_not_subscribed"


@pytest.mark.parametrize(
    "cfg",
    [
        {"WECHAT_APPID": "", "WECHAT_SECRET": "", "WECHAT_API_BASE": ""},
        {"WECHAT_APPID": "wx-app", "WECHAT_SECRET": ""},
        {"WECHAT_APPID": "", "WECHAT_SECRET": "s3cret"},
    ],
)
def test_wechat_from_config_none_when_unconfigured(cfg):
    """Without both an AppID and an AppSecret WeChat is not configured."""
    assert wechat_from_config(cfg) is None


def test_wechat_from_config_uses_api_base(fake):
    """A configured adapter talks to WECHAT_API_BASE."""
    wechat = wechat_from_config({"WECHAT_APPID": fake.appid, "WECHAT_SECRET": fake.secret, "WECHAT_API_BASE": fake.url})
    assert wechat.code_to_session(fake.code_for("o-1"))["openid"] == "o-1"


def test_secret_and_tokens_never_logged(fake, wechat, caplog):
    """Neither the AppSecret nor an access token appears in any log record, even at DEBUG."""
    caplog.set_level(logging.DEBUG)
    wechat.code_to_session(fake.code_for("o-1"))
    wechat.msg_sec_check(openid="o-1", content="你好")
    fake.expire_tokens()
    wechat.get_unlimited_wxacode(scene="p=1")
    with pytest.raises(WeChatError):
        wechat.code_to_session("bad-code")
    tokens = {call["query"]["access_token"] for call in fake.requests if "access_token" in call["query"]}
    assert len(tokens) == 2
    assert any(r.name.startswith("urllib3") for r in caplog.records), "request lines were not logged"
    for record in caplog.records:
        text = record.getMessage()
        assert fake.secret not in text
        assert not any(token in text for token in tokens)


def test_connection_failure_traceback_has_no_secret(caplog):
    """A logged WeChatUnavailable traceback does not carry the URL with the secret."""
    secret = "very-secret-appsecret"
    wechat = WeChat("wx-app", secret, api_base=f"http://127.0.0.1:{_closed_port()}")
    try:
        wechat.code_to_session("any-code")
    except WeChatUnavailable as exc:
        logging.getLogger("tests").exception("login failed")
        assert secret not in str(exc)
    assert "ConnectionError" in caplog.text
    assert secret not in caplog.text


def test_standalone_fake_prints_url_and_takes_control_requests():
    """`python -m server.devtools.fake_wechat` prints its URL and registers codes over HTTP."""
    process = subprocess.Popen(
        [sys.executable, "-m", "server.devtools.fake_wechat", "--port", "0"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        url = process.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:")
        request = urllib.request.Request(
            f"{url}/__fake__/code_for",
            data=json.dumps({"openid": "o-demo"}).encode(),
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=5) as answer:
            code = json.load(answer)["result"]
        wechat = WeChat(FakeWeChat.appid, FakeWeChat.secret, api_base=url)
        assert wechat.code_to_session(code)["openid"] == "o-demo"
    finally:
        process.terminate()
        process.wait(timeout=5)


def test_standalone_fake_refuses_to_run_in_production():
    """Under APP_ENV=production the fake does not start: a service pointed at it would let anyone log in as anyone."""
    result = subprocess.run(
        [sys.executable, "-m", "server.devtools.fake_wechat", "--port", "0"],
        cwd=ROOT,
        env={**os.environ, "APP_ENV": "production"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert result.stdout == "" and "development" in result.stderr
