"""The app the tests run: conftest's `app`, a second worker, or one with other settings."""

from __future__ import annotations

from werkzeug.routing.rules import Rule

from server import create_app

SECRET = "test-secret-key-for-the-suite-only"
AUDIT_SECRET = "test-audit-key-for-the-suite-only"


def make_app(database_url: str, storage_config: dict, fake_wechat, **settings):
    """An app on `database_url` with WeChat at the fake server; `settings` override anything."""
    return create_app(
        {
            "SECRET_KEY": SECRET,
            "DATA_KEY": SECRET,
            "AUDIT_KEY": AUDIT_SECRET,
            "DATABASE_URL": database_url,
            "WECHAT_APPID": fake_wechat.appid,
            "WECHAT_SECRET": fake_wechat.secret,
            "WECHAT_API_BASE": fake_wechat.url,
            "TESTING": True,
            "LOG_LEVEL": "WARNING",
            "PASSWORD_HASH_METHOD": "pbkdf2:sha256:1000",
            **storage_config,
            **settings,
        }
    )


def cache_url_builders() -> None:
    """Compile each URL rule's builder once per process instead of once per app.

    Werkzeug generates and compiles Python code for every rule of every app: ~0.1 s of CPU for each
    of the suite's ~2,000 apps. The code depends only on the rule and its defaults, so apps with
    the same rules can share it; production builds one app and is untouched.
    """
    compile_builder = Rule._compile_builder
    builders: dict = {}

    def cached(self, append_unknown: bool = True):
        try:
            key = (self.rule, tuple(self._trace), tuple(sorted((self.defaults or {}).items())), append_unknown)
            hash(key)
        except TypeError:  # a default that cannot be a key: compile as werkzeug does
            return compile_builder(self, append_unknown)
        if key not in builders:
            builders[key] = compile_builder(self, append_unknown)
        return builders[key]

    Rule._compile_builder = cached


def share_sql_compilation() -> None:
    """Let every app's SQLite engine reuse the SQL that earlier apps of the process compiled.

    SQLAlchemy caches compiled statements per engine, keyed by the engine's dialect object; each
    test builds an app, hence an engine, so every test compiled its statements again: about a third
    of a typical test's time. SQLite engines are configured alike (server.db.make_engine) and their
    dialect knows nothing of the file, so they share one dialect, initialized on a private in-memory
    database, and one cache. MariaDB engines keep their own: a MySQL dialect learns its connection's
    database. Production builds one engine per process and is untouched.
    """
    from sqlalchemy.util import LRUCache

    import server.db as server_db

    make_engine = server_db.make_engine
    shared: list = []

    def sharing(url: str, *, echo: bool = False):
        engine = make_engine(url, echo=echo)
        if echo or engine.dialect.name != "sqlite":
            return engine
        if not shared:
            private = make_engine("sqlite://")
            with private.connect():  # initializes the dialect (SQLite's version and features)
                pass
            shared.extend((private.dialect, LRUCache(10000)))
        engine.dialect, engine._compiled_cache = shared
        return engine

    server_db.make_engine = sharing
