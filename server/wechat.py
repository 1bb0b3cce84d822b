"""wechatpy adapter: code2Session, text security checks, mini-program codes, subscribe messages.

Every request goes to a configurable API host so that offline machines and tests can point
the adapter at a fake WeChat server; the AppSecret and access tokens are never logged.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import requests
from wechatpy import WeChatClient
from wechatpy.exceptions import WeChatClientException
from wechatpy.session import SessionStorage

from server.config import WECHAT_DEFAULT_API_BASE, ConfigError

logger = logging.getLogger(__name__)

# WeChat's answers when the access token we sent is invalid, superseded or expired.
_TOKEN_ERRCODES = frozenset({40001, 40014, 42001})
# Tokens live 7200 s; renewing a few minutes early keeps one from dying between check and use.
_TOKEN_RENEW_BEFORE_SECONDS = 300
# requests drops None-valued query parameters, and wechatpy only fetches an access token
# when the parameter is absent: this is how a call that takes no token goes without one.
_NO_TOKEN = {"access_token": None}

_CODE_INVALID = ("wechat_code_invalid", 400, "登录凭证无效或已过期,请重新进入小程序")
_ERRORS: dict[int, tuple[str, int, str]] = {
    40029: _CODE_INVALID,  # invalid code
    40163: _CODE_INVALID,  # code already used
    41008: _CODE_INVALID,  # missing code
    45011: ("wechat_rate_limited", 429, "请求过于频繁,请稍后再试"),
    40226: ("wechat_user_risky", 403, "当前微信账号存在安全风险,暂时无法使用"),
    43101: ("wechat_not_subscribed", 409, "用户未订阅该消息或订阅次数已用完"),
}
_OTHER_ERROR = ("wechat_error", 502, "微信服务异常,请稍后再试")
_UNAVAILABLE = ("wechat_unavailable", 503, "暂时无法连接微信服务,请稍后再试")

_IMAGE_MAGIC = (b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff")


class _RedactCredentials(logging.Filter):
    """Mask the AppSecret, access tokens and login codes in URLs that urllib3 logs."""

    _PATTERN = re.compile(r"((?:secret|access_token|js_code)=)[^&\s'\"]+")

    def filter(self, record: logging.LogRecord) -> bool:
        """Rewrite the record's message without credentials; never drops the record."""
        message = record.getMessage()
        redacted = self._PATTERN.sub(r"\1***", message)
        if redacted != message:
            record.msg, record.args = redacted, None
        return True


# WeChat takes its credentials in the query string and urllib3 logs every request line (and
# retried URLs) at DEBUG; a filter on those loggers is the only place to keep them out of logs.
_REDACT = _RedactCredentials()
for _name in ("urllib3.connectionpool", "urllib3.util.retry", "urllib3.poolmanager"):
    logging.getLogger(_name).addFilter(_REDACT)


class WeChatError(Exception):
    """WeChat answered with an error; `code`, `message` (Chinese) and `status` are safe to show."""

    def __init__(
        self,
        errcode: int | None,
        errmsg: str,
        *,
        code: str | None = None,
        status: int | None = None,
        message: str | None = None,
    ) -> None:
        default_code, default_status, default_message = _ERRORS.get(errcode, _OTHER_ERROR)
        self.errcode = errcode
        self.errmsg = errmsg
        self.code = code or default_code
        self.status = status or default_status
        self.message = message or default_message
        super().__init__(f"WeChat error {errcode}: {errmsg}")


class WeChatUnavailable(WeChatError):
    """WeChat could not be reached, timed out or answered something that is not its API."""

    def __init__(self, reason: str) -> None:
        code, status, message = _UNAVAILABLE
        super().__init__(None, reason, code=code, status=status, message=message)


@contextmanager
def _translated() -> Iterator[None]:
    """Turn wechatpy and requests failures into WeChatError / WeChatUnavailable."""
    # `from None` everywhere: the wrapped exceptions carry request URLs with the secret or token.
    try:
        yield
    except WeChatClientException as exc:
        if exc.errcode is None:  # an HTTP error status, from WeChat or a proxy in between
            status = getattr(exc.response, "status_code", "?")
            raise WeChatUnavailable(f"HTTP {status}") from None
        raise WeChatError(int(exc.errcode), str(exc.errmsg)) from None
    except requests.RequestException as exc:
        raise WeChatUnavailable(type(exc).__name__) from None
    except _token_storage_errors() as exc:
        # The shared token store (Redis) restarting is an outage like WeChat's own: 503, retried.
        raise WeChatUnavailable(type(exc).__name__) from None


def _token_storage_errors() -> tuple[type[Exception], ...]:
    """The exceptions of the Redis token storage, when the optional redis package is installed."""
    try:
        import redis
    except ImportError:
        return ()
    return (redis.RedisError,)


def _json(result: Any, *keys: str) -> dict:
    """The decoded JSON answer, or WeChatUnavailable when it is not one or lacks `keys`."""
    if not isinstance(result, dict) or any(key not in result for key in keys):
        raise WeChatUnavailable("unexpected answer")
    return result


class _Client(WeChatClient):
    """A wechatpy client bound to one API host, whose token refresh is serialized by a lock."""

    def __init__(
        self, appid: str, secret: str, *, api_base: str, timeout: float, session: SessionStorage | None
    ) -> None:
        # wechatpy's auto_retry re-fetches the token and recurses with no bound while WeChat
        # keeps rejecting it; WeChat._api retries exactly once instead.
        super().__init__(appid, secret, timeout=timeout, auto_retry=False, session=session)
        # wechatpy builds one API object per client in __new__, so these stay per instance.
        self.API_BASE_URL = f"{api_base}/cgi-bin/"
        self.wxa.API_BASE_URL = f"{api_base}/"
        self._token_lock = threading.Lock()

    def fetch_access_token(self) -> dict:
        """Fetch a new access token from this client's host; callers hold the token lock."""
        # wechatpy's own version has api.weixin.qq.com written into it and sends no timeout.
        result = _json(
            self.get(
                "token",
                params={
                    "grant_type": "client_credential",
                    "appid": self.appid,
                    "secret": self.secret,
                    **_NO_TOKEN,
                },
            ),
            "access_token",
        )
        expires_in = int(result.get("expires_in", 7200))
        # The expiry is stored beside the token so that every node sharing the storage (Redis)
        # knows when to renew a token another node fetched.
        self.session.set(self.access_token_key, result["access_token"], expires_in)
        self.session.set(self._expires_key, time.time() + expires_in, expires_in)
        return result

    @property
    def _expires_key(self) -> str:
        return f"{self.access_token_key}_expires_at"

    @property
    def access_token(self) -> str:
        """The cached access token, fetched anew shortly before WeChat lets it expire."""
        # One lock for check and fetch: gthread workers must not all fetch at once, since each
        # fetch counts against the daily token quota.
        with self._token_lock:
            token = self.session.get(self.access_token_key)
            expires_at = self.session.get(self._expires_key) or 0
            if token and expires_at - time.time() > _TOKEN_RENEW_BEFORE_SECONDS:
                return token
            self.fetch_access_token()
            return self.session.get(self.access_token_key)

    def replace_access_token(self, rejected: str) -> str:
        """A new token in place of one WeChat rejected, unless another thread already got one."""
        with self._token_lock:
            if self.session.get(self.access_token_key) == rejected:
                self.fetch_access_token()
            return self.session.get(self.access_token_key)


class WeChat:
    """WeChat server API of one mini-program, reached through a configurable host."""

    def __init__(
        self,
        appid: str,
        secret: str,
        *,
        api_base: str = WECHAT_DEFAULT_API_BASE,
        timeout: float = 10.0,
        token_storage: SessionStorage | None = None,
    ) -> None:
        self.appid = appid
        self._client = _Client(appid, secret, api_base=api_base.rstrip("/"), timeout=timeout, session=token_storage)

    def code_to_session(self, code: str) -> dict:
        """Exchange a wx.login code for {"openid", "session_key", "unionid" when WeChat sends one}."""
        # Sent without an access token (wechatpy's wxa.code_to_session fetches one first):
        # login then does not depend on the token endpoint and its IP allow-list.
        with _translated():
            answer = self._client.get(
                "sns/jscode2session",
                api_base_url=self._client.wxa.API_BASE_URL,
                params={
                    "appid": self.appid,
                    "secret": self._client.secret,
                    "js_code": code,
                    "grant_type": "authorization_code",
                    **_NO_TOKEN,
                },
            )
        result = _json(answer, "openid", "session_key")
        session = {"openid": result["openid"], "session_key": result["session_key"]}
        if result.get("unionid"):
            session["unionid"] = result["unionid"]
        return session

    def msg_sec_check(self, *, openid: str, content: str, scene: int = 2) -> dict:
        """msgSecCheck v2 of a user's text: {"suggest": "pass" | "review" | "risky", "label": int}."""
        # wechatpy's check_text_security sends the v1 body, which has no verdict levels.
        answer = self._api(
            "wxa/msg_sec_check",
            {"version": 2, "scene": scene, "openid": openid, "content": content},
        )
        verdict = _json(_json(answer, "result")["result"], "suggest", "label")
        if verdict["suggest"] not in ("pass", "review", "risky"):
            raise WeChatUnavailable("unexpected answer")
        return {"suggest": verdict["suggest"], "label": int(verdict["label"])}

    def get_unlimited_wxacode(
        self,
        *,
        scene: str,
        page: str | None = None,
        width: int = 430,
        check_path: bool = False,
        env_version: str = "release",
    ) -> bytes:
        """PNG bytes of a mini-program code (wxa/getwxacodeunlimit) that opens `page` with `scene`."""
        body: dict[str, Any] = {
            "scene": scene,
            "width": width,
            "check_path": check_path,
            "env_version": env_version,
        }
        if page:
            body["page"] = page
        answer = self._api("wxa/getwxacodeunlimit", body)
        # WeChat answers JSON only on error (raised above); a success is the raw image.
        if not isinstance(answer, requests.Response) or not answer.content.startswith(_IMAGE_MAGIC):
            raise WeChatUnavailable("unexpected answer")
        return answer.content

    def send_subscribe_message(
        self, *, openid: str, template_id: str, data: Mapping[str, Any], page: str | None = None
    ) -> None:
        """Send a subscribe message; WeChatError code 'wechat_not_subscribed' without the user's consent."""
        body: dict[str, Any] = {"touser": openid, "template_id": template_id, "data": dict(data)}
        if page:
            body["page"] = page
        _json(self._api("message/subscribe/send", body, api_base_url=self._client.API_BASE_URL))

    def _api(self, endpoint: str, body: dict, *, api_base_url: str | None = None) -> Any:
        """POST to an access-token API; when WeChat rejects the token, renew it and retry once."""
        base = api_base_url or self._client.wxa.API_BASE_URL
        with _translated():
            token = self._client.access_token
            try:
                return self._post(base, endpoint, token, body)
            except WeChatClientException as exc:
                if exc.errcode not in _TOKEN_ERRCODES:
                    raise
                logger.info("WeChat rejected the access token (errcode %s); renewing it", exc.errcode)
            token = self._client.replace_access_token(token)
            return self._post(base, endpoint, token, body)

    def _post(self, base: str, endpoint: str, token: str, body: dict) -> Any:
        """One POST with an explicit token, so a rejection names the token to replace."""
        return self._client.post(endpoint, api_base_url=base, params={"access_token": token}, data=body)


def redis_token_storage(url: str) -> SessionStorage:
    """wechatpy's Redis session storage at `url`, for an access token shared by every app node."""
    try:
        import redis
    except ImportError:
        raise ConfigError(
            "REDIS_URL is set but the Python package 'redis' is not installed (pip install redis)"
        ) from None
    from wechatpy.session.redisstorage import RedisStorage

    return RedisStorage(redis.Redis.from_url(url, socket_timeout=5), prefix="sp:wechat")


def wechat_from_config(cfg: Mapping[str, Any]) -> WeChat | None:
    """The WeChat adapter for this configuration, or None when WECHAT_APPID or WECHAT_SECRET is empty.

    With REDIS_URL the access token is kept in Redis: WeChat allows 2,000 token fetches a day
    and every fetch supersedes the previous token, so several nodes must share one.
    """
    appid, secret = cfg.get("WECHAT_APPID"), cfg.get("WECHAT_SECRET")
    if not appid or not secret:
        return None
    storage = redis_token_storage(cfg["REDIS_URL"]) if cfg.get("REDIS_URL") else None
    return WeChat(appid, secret, api_base=cfg.get("WECHAT_API_BASE") or WECHAT_DEFAULT_API_BASE, token_storage=storage)
