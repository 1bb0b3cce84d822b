"""A fake WeChat API server on 127.0.0.1 that wechatpy really talks to over HTTP.

Serves /cgi-bin/token, /sns/jscode2session, /wxa/msg_sec_check, /wxa/getwxacodeunlimit and
/cgi-bin/message/subscribe/send with WeChat's error codes, and checks access tokens like WeChat.

Standalone (scripts/run_demo.sh, end-to-end tests): `python -m server.devtools.fake_wechat --port 8901`
prints its URL; another process drives it with POST /__fake__/<action> and a JSON object of arguments,
action one of code_for, consent, expire_tokens, fail_next, add_sec_check_rule.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import re
import secrets
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from PIL import Image, ImageDraw

ERRMSG = {
    -1: "system error",
    40001: "invalid credential, access_token is invalid or not latest",
    40002: "invalid grant_type",
    40013: "invalid appid",
    40029: "invalid code",
    40097: "invalid args",
    40125: "invalid appsecret",
    40163: "code been used",
    40169: "invalid length for scene, or the data is not json string",
    40226: "high risk level user",
    41001: "access_token missing",
    41008: "missing code",
    41030: "invalid page",
    42001: "access_token expired",
    43101: "user refuse to accept the msg",
    45011: "api minute-quota reach limit  mustslower  retry next minute",
    47001: "data format error",
    47003: "argument invalid!",
}
# WeChat's documented scene alphabet for getwxacodeunlimit, at most 32 characters.
_SCENE = re.compile(r"[0-9A-Za-z!#$&'()*+,/:;=?@\-._~]{1,32}")
_LABEL_OTHER = 21000  # msgSecCheck's "other" category, for any non-pass verdict
_LABEL_NORMAL = 100


class _Answer(Exception):
    """Stops handling a request with a WeChat error answer."""

    def __init__(self, errcode: int) -> None:
        super().__init__(errcode)
        self.errcode = errcode


class FakeWeChat:
    """WeChat's server API for one mini-program, in memory, over real HTTP on 127.0.0.1."""

    appid = "wx-test-appid"
    secret = "test-secret"
    token_ttl = 7200

    def __init__(self, port: int = 0) -> None:
        self._port = port
        self._lock = threading.Lock()
        self._codes: dict[str, tuple[str, str | None]] = {}  # code -> (openid, unionid)
        self._used_codes: set[str] = set()
        self._tokens: dict[str, float] = {}  # token -> monotonic expiry
        self._consents: dict[tuple[str, str], int] = {}
        self._failures: list[int] = []
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.url = ""
        self.sec_check_rules: dict[str, str] = {}
        self.sec_check_labels: dict[str, int] = {}
        self.requests: list[dict] = []
        self.sent_messages: list[dict] = []

    # --- lifecycle -------------------------------------------------------------------------

    def start(self) -> FakeWeChat:
        """Listen on 127.0.0.1 and serve from a daemon thread."""
        self._server = ThreadingHTTPServer(("127.0.0.1", self._port), _Handler)
        self._server.fake = self
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        # A short poll interval keeps stop() (and so each test's teardown) fast.
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the socket."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._thread.join()
            self._server = self._thread = None

    def __enter__(self) -> FakeWeChat:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # --- scenario set-up -------------------------------------------------------------------

    def code_for(self, openid: str, unionid: str | None = None) -> str:
        """Register a one-time wx.login code that jscode2session exchanges for `openid`."""
        code = f"code-{secrets.token_hex(8)}"
        with self._lock:
            self._codes[code] = (openid, unionid)
        return code

    def consent(self, openid: str, template_id: str) -> None:
        """The user accepted one subscribe message of `template_id` (as wx.requestSubscribeMessage)."""
        with self._lock:
            self._consents[(openid, template_id)] = self._consents.get((openid, template_id), 0) + 1

    def expire_tokens(self) -> None:
        """Every access token issued so far expires now: the next API call answers 42001."""
        with self._lock:
            now = time.monotonic()
            self._tokens = {token: now for token in self._tokens}

    def fail_next(self, n: int, errcode: int = -1) -> None:
        """The next `n` API calls (anything but /cgi-bin/token) answer `errcode`."""
        with self._lock:
            self._failures.extend([errcode] * n)

    def add_sec_check_rule(self, substring: str, suggest: str, label: int | None = None) -> None:
        """Text containing `substring` gets msgSecCheck verdict `suggest` ("review" or "risky"),
        with result.label `label` (e.g. 20006 违法犯罪; 21000 "other" when not given)."""
        with self._lock:
            self.sec_check_rules[substring] = suggest
            if label is not None:
                self.sec_check_labels[substring] = label

    def calls(self, path: str) -> list[dict]:
        """The recorded requests to `path`."""
        return [request for request in self.requests if request["path"] == path]

    # --- endpoints -------------------------------------------------------------------------

    def _handle(self, method: str, path: str, query: dict[str, str], raw: bytes) -> Any:
        """Answer one API request: a JSON-able dict or PNG bytes; raises _Answer on errors."""
        body = None
        if method == "POST":
            try:
                body = json.loads(raw.decode("utf-8"))
            except ValueError:
                body = None
        with self._lock:
            self.requests.append({"method": method, "path": path, "query": query, "json": body})
            if path == "/cgi-bin/token":
                return self._token(query)
            if self._failures:
                raise _Answer(self._failures.pop(0))
            if path == "/sns/jscode2session":
                return self._jscode2session(query)
            handler = {
                "/wxa/msg_sec_check": self._msg_sec_check,
                "/wxa/getwxacodeunlimit": self._getwxacodeunlimit,
                "/cgi-bin/message/subscribe/send": self._subscribe_send,
            }.get(path)
            if handler is None or method != "POST":
                return None
            self._check_token(query.get("access_token"))
            if not isinstance(body, dict):
                raise _Answer(47001)
            return handler(body)

    def _check_app(self, query: dict[str, str]) -> None:
        if query.get("appid") != self.appid:
            raise _Answer(40013)
        if query.get("secret") != self.secret:
            raise _Answer(40125)

    def _token(self, query: dict[str, str]) -> dict:
        if query.get("grant_type") != "client_credential":
            raise _Answer(40002)
        self._check_app(query)
        token = secrets.token_urlsafe(24)
        self._tokens[token] = time.monotonic() + self.token_ttl
        return {"access_token": token, "expires_in": self.token_ttl}

    def _check_token(self, token: str | None) -> None:
        if not token:
            raise _Answer(41001)
        if token not in self._tokens:
            raise _Answer(40001)
        if self._tokens[token] <= time.monotonic():
            raise _Answer(42001)

    def _jscode2session(self, query: dict[str, str]) -> dict:
        self._check_app(query)
        code = query.get("js_code", "")
        if query.get("grant_type") != "authorization_code":
            raise _Answer(40002)
        if not code:
            raise _Answer(41008)
        for prefix, errcode in (("bad", 40029), ("ratelimit", 45011), ("risky", 40226)):
            if code.startswith(prefix):
                raise _Answer(errcode)
        if code in self._used_codes:
            raise _Answer(40163)
        if code not in self._codes:
            raise _Answer(40029)
        self._used_codes.add(code)
        openid, unionid = self._codes.pop(code)
        answer = {"openid": openid, "session_key": secrets.token_urlsafe(16)}
        if unionid:
            answer["unionid"] = unionid
        return answer

    def _msg_sec_check(self, body: dict) -> dict:
        content = body.get("content")
        if (
            body.get("version") != 2
            or body.get("scene") not in (1, 2, 3, 4)
            or not isinstance(body.get("openid"), str)
            or not body["openid"]
            or not isinstance(content, str)
            or not content
        ):
            raise _Answer(47001)
        matched = [(suggest, part) for part, suggest in self.sec_check_rules.items() if part in content]
        suggest = next((s for s in ("risky", "review") if s in {v for v, _ in matched}), "pass")
        label = (
            _LABEL_NORMAL
            if suggest == "pass"
            else next(
                (self.sec_check_labels[part] for v, part in matched if v == suggest and part in self.sec_check_labels),
                _LABEL_OTHER,
            )
        )
        return {
            "errcode": 0,
            "errmsg": "ok",
            "result": {"suggest": suggest, "label": label},
            "detail": [
                {
                    "strategy": "content_model",
                    "errcode": 0,
                    "suggest": suggest,
                    "label": label,
                    "prob": 90,
                }
            ],
            "trace_id": secrets.token_hex(8),
        }

    def _getwxacodeunlimit(self, body: dict) -> bytes:
        scene = body.get("scene")
        if not isinstance(scene, str) or not _SCENE.fullmatch(scene):
            raise _Answer(40169)
        page = body.get("page", "")
        if not isinstance(page, str) or page.startswith("/") or "?" in page:
            raise _Answer(41030)
        if body.get("env_version", "release") not in ("release", "trial", "develop"):
            raise _Answer(40097)
        width = body.get("width", 430)
        if not isinstance(width, int):
            raise _Answer(47001)
        return _png(min(max(width, 280), 1280))

    def _subscribe_send(self, body: dict) -> dict:
        openid, template_id, data = body.get("touser"), body.get("template_id"), body.get("data")
        if not openid or not template_id or not isinstance(data, dict):
            raise _Answer(47001)
        if not all(isinstance(v, dict) and isinstance(v.get("value"), str) for v in data.values()):
            raise _Answer(47003)
        remaining = self._consents.get((openid, template_id), 0)
        if remaining == 0:
            raise _Answer(43101)
        self._consents[(openid, template_id)] = remaining - 1
        self.sent_messages.append(body)
        return {"errcode": 0, "errmsg": "ok", "msgid": secrets.randbelow(10**12)}

    def _control(self, action: str, raw: bytes) -> Any:
        """Run a scenario set-up method for a standalone client: POST /__fake__/<action>."""
        actions = {
            "code_for": self.code_for,
            "consent": self.consent,
            "expire_tokens": self.expire_tokens,
            "fail_next": self.fail_next,
            "add_sec_check_rule": self.add_sec_check_rule,
        }
        return {"result": actions[action](**json.loads(raw or b"{}"))}


def _png(width: int) -> bytes:
    """A small PNG standing in for a mini-program code: a dark ring on white."""
    image = Image.new("RGB", (width, width), "white")
    margin = width // 8
    ImageDraw.Draw(image).ellipse(
        (margin, margin, width - margin, width - margin), outline="black", width=max(2, width // 20)
    )
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


class _Handler(BaseHTTPRequestHandler):
    """Routes HTTP requests to the FakeWeChat stored on the server."""

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def _dispatch(self, method: str) -> None:
        fake: FakeWeChat = self.server.fake
        url = urlsplit(self.path)
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if url.path.startswith("/__fake__/") and method == "POST":
            try:
                self._send_json(fake._control(url.path.removeprefix("/__fake__/"), raw))
            except (KeyError, TypeError, ValueError) as exc:
                self._send_json({"error": str(exc)}, status=400)
            return
        try:
            answer = fake._handle(method, url.path, dict(parse_qsl(url.query)), raw)
        except _Answer as exc:
            answer = {"errcode": exc.errcode, "errmsg": ERRMSG.get(exc.errcode, "error")}
        if answer is None:
            self._send_json({"errcode": 404, "errmsg": "not found"}, status=404)
        elif isinstance(answer, bytes):
            self._send(answer, "image/png")
        else:
            self._send_json(answer)

    def _send_json(self, answer: Any, status: int = 200) -> None:
        # WeChat answers errors with HTTP 200 and this (odd) content type.
        body = json.dumps(answer, ensure_ascii=False).encode("utf-8")
        self._send(body, "application/json; encoding=utf-8", status)

    def _send(self, body: bytes, content_type: str, status: int = 200) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        """Silent: request lines carry the AppSecret and tokens, and would clutter test output."""


def main(argv: list[str] | None = None) -> None:
    """Run the fake until interrupted, printing its URL on the first line of stdout."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    args = parser.parse_args(argv)
    if os.environ.get("APP_ENV", "").strip().lower() == "production":
        # A production service pointed at this would let anyone log in as anyone.
        parser.exit(2, "the fake WeChat server is for development and tests only (APP_ENV=production)\n")
    fake = FakeWeChat(port=args.port).start()
    print(fake.url, flush=True)
    print(
        f"WECHAT_API_BASE={fake.url} WECHAT_APPID={fake.appid} WECHAT_SECRET={fake.secret}",
        file=sys.stderr,
        flush=True,
    )
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        fake.stop()


if __name__ == "__main__":
    main()
