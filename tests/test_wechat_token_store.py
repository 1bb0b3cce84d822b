"""WeChat's access token kept in Redis (REDIS_URL): a Redis outage is a WeChat outage, not a server bug."""

from __future__ import annotations

import socket

import pytest

from server.wechat import WeChat, WeChatUnavailable, redis_token_storage


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_unreachable_token_store_answers_wechat_unavailable():
    """Redis restarting while a feedback's text is checked: WeChatUnavailable (503, held), not a raw redis error."""
    storage = redis_token_storage(f"redis://127.0.0.1:{_closed_port()}/0")
    wechat = WeChat("wx-appid", "secret", api_base="http://127.0.0.1:9", token_storage=storage)
    with pytest.raises(WeChatUnavailable) as refused:
        wechat.msg_sec_check(openid="o-villager", content="路灯坏了")
    assert refused.value.status == 503
