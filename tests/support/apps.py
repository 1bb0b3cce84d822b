"""The app the tests run: conftest's `app`, a second worker, or one with other settings."""

from __future__ import annotations

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


def share_url_maps() -> None:
    """Let apps whose URL rules are the same share one built URL map.

    Each test builds an app, and each app bound its ~300 rules to a fresh werkzeug Map: werkzeug
    parsed every rule, compiled Python code to build its URLs, and built the Map's matcher (its
    state machine, sorted on the first request), most of an app's CPU. A map's behaviour
    depends only on its rules and its settings, so an app's map now only collects the rules Flask
    adds; when the map is first used (a request, a URL built, its rules listed) it takes the matcher
    and rule index of a map built once per process from the same rules and settings. A rule added
    after that (a test's own route), or merge_slashes changed, gives the app a map of its own, built
    from its own rules as werkzeug would. Production builds one app and is untouched.
    """
    from flask import Flask
    from werkzeug.routing import Map
    from werkzeug.routing.matcher import StateMachineMatcher

    built: dict = {}

    def rule_key(rule) -> tuple:
        return (
            type(rule),
            rule.rule,
            rule.endpoint,
            tuple(sorted(rule.methods)) if rule.methods is not None else None,
            tuple(sorted((rule.defaults or {}).items())),
            rule.subdomain,
            rule.host,
            rule.strict_slashes,
            rule.merge_slashes,
            rule.build_only,
            rule.alias,
            rule.websocket,
            rule.redirect_to,
            getattr(rule, "provide_automatic_options", None),
        )

    class SharedMap(Map):
        def __init__(self, *args, **kwargs) -> None:
            self._own: list | None = []  # rules collected, not yet bound; None once private
            super().__init__(*args, **kwargs)

        @property
        def _adopted(self) -> bool:
            """Whether the map uses a built map's matcher (collected rules, then first used)."""
            return self._own is not None and self._remap is False

        def add(self, rulefactory) -> None:
            if self._adopted:
                self._go_private()  # a rule after the map was first used: a map of its own
            if self._own is None:
                return super().add(rulefactory)
            self._own.extend(rulefactory.get_rules(self))
            self._remap = True

        @property
        def merge_slashes(self) -> bool:
            return self._matcher.merge_slashes

        @merge_slashes.setter
        def merge_slashes(self, value: bool) -> None:
            if self._adopted:
                self._go_private()  # the matcher is shared: change a map of its own
            self._matcher.merge_slashes = value

        def update(self) -> None:
            if self._own is not None and self._remap:
                self._adopt()
            super().update()

        def _settings(self) -> tuple:
            return (
                tuple(sorted(self.converters.items())),
                self.default_subdomain,
                self.strict_slashes,
                self.merge_slashes,
                self.redirect_defaults,
                self.sort_parameters,
                self.sort_key,
                self.host_matching,
            )

        def _adopt(self) -> None:
            try:
                key = (self._settings(), tuple(rule_key(r) for r in self._own))
                hash(key)
            except TypeError:  # a default or redirect that cannot be a key: bind as werkzeug does
                return self._go_private()
            with self._remap_lock:
                if key not in built:
                    model = Map(
                        default_subdomain=self.default_subdomain,
                        strict_slashes=self.strict_slashes,
                        merge_slashes=self.merge_slashes,
                        redirect_defaults=self.redirect_defaults,
                        converters=dict(self.converters),
                        sort_parameters=self.sort_parameters,
                        sort_key=self.sort_key,
                        host_matching=self.host_matching,
                    )
                    for rule in self._own:
                        copy = rule.empty()  # Rule.empty() leaves these two at their defaults
                        copy.merge_slashes, copy.websocket = rule.merge_slashes, rule.websocket
                        if hasattr(rule, "provide_automatic_options"):
                            copy.provide_automatic_options = rule.provide_automatic_options
                        model.add(copy)
                    model.update()
                    built[key] = model
                model = built[key]
                self._matcher, self._rules_by_endpoint = model._matcher, model._rules_by_endpoint
                self._remap = False

        def _go_private(self) -> None:
            own, self._own = self._own, None
            self._matcher = StateMachineMatcher(self.merge_slashes)
            self._rules_by_endpoint = {}
            for rule in own:
                super().add(rule)

    Flask.url_map_class = SharedMap


def share_botocore_data() -> None:
    """Let every botocore session of the process share one data loader.

    Each app on S3 storage opens a boto3 session of its own (server/storage/s3.py: sessions are
    not thread-safe), and each session's loader read and parsed botocore's JSON service and
    endpoint models again: 0.15 s of CPU per S3 storage, ~330 of them in a run. The loader only
    caches what it reads from botocore's data files, so one loader serves every session, as one
    session's loader serves all its clients. Production opens one session per process.
    """
    import os

    import boto3.session
    import botocore.session
    from botocore.loaders import create_loader

    loaders: dict = {}

    def register_data_loader(self) -> None:
        def shared_loader():
            path = self.get_config_variable("data_path")
            if path not in loaders:
                loaders[path] = create_loader(path)
            return loaders[path]

        self._components.lazy_register_component("data_loader", shared_loader)

    def setup_loader(self) -> None:
        # boto3 adds its own data folder to the loader's search path for each session: once is enough.
        self._loader = self._session.get_component("data_loader")
        folder = os.path.join(os.path.dirname(boto3.session.__file__), "data")
        if folder not in self._loader.search_paths:
            self._loader.search_paths.append(folder)

    botocore.session.Session._register_data_loader = register_data_loader
    boto3.session.Session._setup_loader = setup_loader


def share_template_code() -> None:
    """Compile each Jinja template once per process instead of once per app.

    Every app has its own Jinja environment, so each test that renders a console page parsed and
    compiled its templates again (~9 ms each). A process-wide bytecode cache hands later apps the
    code object of the same source (its checksum is part of the key); the apps' environments are
    configured alike. Production builds one environment per process and is untouched.
    """
    from flask import Flask
    from jinja2 import BytecodeCache

    class ProcessCache(BytecodeCache):
        def __init__(self) -> None:
            self.code: dict = {}

        def load_bytecode(self, bucket) -> None:
            bucket.code = self.code.get((bucket.key, bucket.checksum))

        def dump_bytecode(self, bucket) -> None:
            self.code[(bucket.key, bucket.checksum)] = bucket.code

    cache = ProcessCache()
    create_environment = Flask.create_jinja_environment

    def sharing(self):
        environment = create_environment(self)
        environment.bytecode_cache = cache
        return environment

    Flask.create_jinja_environment = sharing


def _no_fsync(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA synchronous=OFF")
    cursor.close()


def share_sql_compilation() -> None:
    """Let every app's SQLite engine reuse the SQL that earlier apps of the process compiled.

    SQLAlchemy caches compiled statements per engine, keyed by the engine's dialect object; each
    test builds an app, hence an engine, so every test compiled its statements again: about a third
    of a typical test's time. SQLite engines are configured alike (server.db.make_engine) and their
    dialect knows nothing of the file, so they share one dialect, initialized on a private in-memory
    database, and one cache. A MySQL dialect learns its server and database on its first connection,
    so MariaDB engines share by URL: each pytest process has one MariaDB database, and every engine
    on it takes the dialect and cache of the first one whose dialect has connected
    (about a quarter of a MariaDB test's CPU was compiling SQL again). Production builds one engine
    per process and is untouched.

    The suite's SQLite files are thrown away after each test, so they skip the fsync of every
    commit (PRAGMA synchronous=OFF): ~14 ms of waiting per commit, over a thousand per hundred tests.
    """
    from sqlalchemy import event
    from sqlalchemy.util import LRUCache

    import server.db as server_db

    make_engine = server_db.make_engine
    shared: list = []

    by_url: dict = {}  # MariaDB URL -> (dialect, compiled cache) of an engine whose dialect has connected

    def sharing(url: str, *, echo: bool = False):
        engine = make_engine(url, echo=echo)
        if echo:
            return engine
        if engine.dialect.name == "mysql":
            if url in by_url:
                engine.dialect, engine._compiled_cache = by_url[url]
            else:
                # Listeners run in order: this one after create_engine's first-connect setup of the
                # dialect, and only if that setup succeeded.
                shared_pair = (engine.dialect, engine._compiled_cache)
                event.listen(engine.pool, "connect", lambda *_: by_url.setdefault(url, shared_pair), once=True)
            return engine
        if engine.dialect.name != "sqlite":
            return engine
        if not shared:
            private = make_engine("sqlite://")
            with private.connect():  # initializes the dialect (SQLite's version and features)
                pass
            shared.extend((private.dialect, LRUCache(10000)))
        engine.dialect, engine._compiled_cache = shared
        event.listen(engine, "connect", _no_fsync)
        return engine

    server_db.make_engine = sharing
