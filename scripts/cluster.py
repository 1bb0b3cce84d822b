"""The production topology on loopback: nginx (TLS), two app nodes, the photo pool, Redis, S3, Galera.

    .venv/bin/python scripts/cluster.py up [--dir DIR]   # start everything, print URLs and env, wait
    .venv/bin/python scripts/cluster.py down [--dir DIR] # stop a cluster started by `up` in another shell

Everything comes from Debian packages (nginx, redis-server, mariadb-server, galera-4, rsync,
socat, openssl) and the project's own deploy/ files: the nginx site is deploy/nginx/
secretary-projects.conf rendered for these ports (render_site), every gunicorn reads
deploy/gunicorn.conf.py. All ports are free ones on 127.0.0.1; all state lives in one folder.

Database: MariaDB as a 3-node Galera cluster (wsrep, rsync state transfer). The Galera nodes run
as the `mysql` user when we are root (rsync SST refuses to run as root), otherwise as ourselves.
Write routing: every app process writes to its own Galera node (app node 1 → galera 1, app node 2
→ galera 2, the photo pool → galera 3), so all three nodes take writes and Galera certifies them
against each other: a conflict aborts the later transaction with 1213 (ER_LOCK_DEADLOCK), which
the API's transaction retry runs again. `wsrep_sync_wait=1` makes every read wait until the node
has applied what the cluster committed before it, so a phone's next request sees its last write
whichever node nginx hands it to. Cluster.conflicts() sums the nodes' certification failures and
brute-force aborts (the 1213 count).

Redis: REDIS_URL of every app node; the app keeps WeChat's access token there (server/wechat.py),
so the nodes share one token. The fake WeChat server (server/devtools) stands in for WeChat.

The Python API (tests/test_cluster.py, scripts/bench_load.py --cluster):

    with Cluster() as c:
        c.base_url, c.ca_file, c.env ...
        c.kill_app(1); c.start_app(1); c.stop_galera(2); c.start_galera(2); c.restart_redis(); c.stall_s3(10)
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import pwd
import re
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if not __package__:  # run as a script: the scripts package is found from the repository's root
    sys.path.insert(0, str(ROOT))
from scripts.benchlib import free_port  # noqa: E402 - after the path it needs

VENV_BIN = ROOT / ".venv" / "bin"
SITE_TEMPLATE = ROOT / "deploy" / "nginx" / "secretary-projects.conf"
GALERA_PROVIDER = "/usr/lib/galera/libgalera_smm.so"
# The Debian packages the cluster runs on (scripts/test.sh installs them for tests/test_cluster.py).
PACKAGES = ("nginx", "redis-server", "mariadb-server", "galera-4", "rsync", "socat", "openssl")
SERVER_NAME = "sp.localhost"
DATABASE = "sp_cluster"
DB_USER, DB_PASSWORD = "sp", "sp-cluster-pw"
S3_BUCKET, S3_KEY, S3_REGION = "sp-cluster", "testing", "us-east-1"
SECRET_KEY = "cluster-secret-key-" + "x" * 32
STATE_FILE = "cluster.json"
# deploy/systemd/secretary-projects-photos.service's Nice=.
PHOTO_POOL_NICE = 10
_WAIT = 60.0


class ClusterError(RuntimeError):
    """A component did not start or stop as expected (the message names its log)."""


class ComponentExited(ClusterError):
    """A process we started has exited: waiting for it longer is pointless."""

    @classmethod
    def of(cls, name: str, log: Path, lines: int = 40) -> ComponentExited:
        """The exit of `name`, with the end of its log: the folder holding the log is gone when a test fails."""
        try:
            tail = "\n".join(log.read_text(errors="replace").splitlines()[-lines:])
        except OSError as exc:
            tail = f"(its log cannot be read: {exc})"
        return cls(f"{name} exited; the end of {log}:\n{tail}")


def wait_for(check, what: str, timeout: float = _WAIT) -> None:
    """Poll `check()` (exceptions count as not yet) until true, or raise ClusterError."""
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except ComponentExited:
            raise
        except Exception as exc:  # noqa: BLE001 - a server coming up fails in many ways
            last = exc
        time.sleep(0.1)
    raise ClusterError(f"{what} did not happen within {timeout:g} s ({last})")


def missing_packages() -> list[str]:
    """The Debian packages of PACKAGES that are not installed."""
    out = []
    for pkg in PACKAGES:
        status = subprocess.run(["dpkg-query", "-W", "-f=${Status}", pkg], capture_output=True, text=True).stdout
        if "install ok installed" not in status:
            out.append(pkg)
    return out


# ---- nginx: the production site, rendered for loopback ---------------------------------------


def _sub(text: str, pattern: str, repl: str, count: int = 0) -> str:
    """re.sub that refuses to do nothing: a changed template must fail loudly, not render stale."""
    new, n = re.subn(pattern, repl, text, count=count, flags=re.MULTILINE)
    if not n:
        raise ClusterError(f"deploy/nginx template no longer has {pattern!r}")
    return new


def render_site(
    template: str,
    *,
    http_port: int,
    https_port: int,
    app_ports: list[int],
    photo_ports: list[int],
    cert: Path,
    key: Path,
    access_log: Path,
    static_dir: Path,
) -> str:
    """deploy/nginx/secretary-projects.conf with loopback listeners, our upstreams, certificate and paths.

    Only addresses and paths change; every proxy, TLS, header and routing rule is the production one.
    """
    out = _sub(template, r"^\s*listen \[::\]:\d+.*\n", "")
    out = _sub(out, r"listen 80;", f"listen 127.0.0.1:{http_port};", 1)
    out = _sub(out, r"listen 443 ssl", f"listen 127.0.0.1:{https_port} ssl", 1)
    out = _sub(out, r"inspect\.example\.gov\.cn;", f"{SERVER_NAME};")
    out = _sub(out, r"ssl_certificate\s+\S+;", f"ssl_certificate     {cert};", 1)
    out = _sub(out, r"ssl_certificate_key\s+\S+;", f"ssl_certificate_key {key};", 1)
    out = _sub(out, r"access_log \S+ sp_main;", f"access_log {access_log} sp_main;", 1)
    out = _sub(out, r"alias \S+/server/console/static/;", f"alias {static_dir}/;", 1)
    # The redirect keeps the port of our HTTPS listener (production's 443 needs none).
    out = _sub(out, r"return 301 https://\$host\$request_uri;", f"return 301 https://$host:{https_port}$request_uri;")
    app = "".join(f"    server 127.0.0.1:{p} max_fails=3 fail_timeout=10s;\n" for p in app_ports)
    photos = "".join(f"    server 127.0.0.1:{p} max_fails=3 fail_timeout=10s;\n" for p in photo_ports)
    out = _sub(out, r"(upstream secretary_projects \{\n)    server 127\.0\.0\.1:8000 [^\n]*\n", rf"\g<1>{app}", 1)
    out = _sub(
        out, r"(upstream secretary_projects_photos \{\n)    server 127\.0\.0\.1:8001 [^\n]*\n", rf"\g<1>{photos}", 1
    )
    return out


def nginx_main_conf(site: Path, prefix: Path, *, run_as: str | None) -> str:
    """The nginx.conf around the site: private pid, logs and temp folders, Debian's mime types."""
    user = f"user {run_as};\n" if run_as else ""
    temps = "".join(f"    {name}_temp_path {prefix / (name + '_temp')};\n" for name in ("client_body", "proxy"))
    return (
        f"{user}worker_processes 1;\npid {prefix / 'nginx.pid'};\nerror_log {prefix / 'error.log'} warn;\n"
        "events { worker_connections 1024; }\n"
        "http {\n    include /etc/nginx/mime.types;\n    default_type application/octet-stream;\n"
        f"{temps}    fastcgi_temp_path {prefix / 'fastcgi_temp'};\n    uwsgi_temp_path {prefix / 'uwsgi_temp'};\n"
        f"    scgi_temp_path {prefix / 'scgi_temp'};\n    include {site};\n}}\n"
    )


def start_nginx(
    prefix: Path, *, http_port: int, https_port: int, app_ports: list[int], photo_ports: list[int]
) -> subprocess.Popen:
    """nginx with the production site in `prefix`: a fresh self-signed cert.pem, `nginx -t`, then started."""
    prefix.mkdir(parents=True, exist_ok=True)
    cert, key = prefix / "cert.pem", prefix / "key.pem"
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
            "-keyout", str(key), "-out", str(cert), "-subj", "/CN=127.0.0.1",
            "-addext", f"subjectAltName=IP:127.0.0.1,DNS:{SERVER_NAME}",
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip
    site = prefix / "site.conf"
    site.write_text(
        render_site(
            SITE_TEMPLATE.read_text(),
            http_port=http_port,
            https_port=https_port,
            app_ports=app_ports,
            photo_ports=photo_ports,
            cert=cert,
            key=key,
            access_log=prefix / "access.log",
            static_dir=ROOT / "server" / "console" / "static",
        )
    )
    # As root, nginx's workers would drop to `nobody`, who cannot read this folder: keep ours.
    run_as = pwd.getpwuid(os.getuid()).pw_name if os.getuid() == 0 else None
    conf = prefix / "nginx.conf"
    conf.write_text(nginx_main_conf(site, prefix, run_as=run_as))
    argv = ["nginx", "-p", str(prefix), "-c", str(conf)]
    check = subprocess.run([*argv, "-t"], capture_output=True, text=True)
    if check.returncode:
        raise ClusterError(f"nginx -t failed:\n{check.stderr}")
    log = open(prefix / "nginx.log", "a")  # noqa: SIM115 - lives as long as nginx
    return subprocess.Popen([*argv, "-g", "daemon off;"], stdout=log, stderr=subprocess.STDOUT, start_new_session=True)


# ---- Galera ------------------------------------------------------------------------------------


@dataclass
class GaleraNode:
    """One MariaDB node of the Galera cluster: its ports, folder and (while running) process."""

    index: int
    port: int
    gcomm_port: int
    ist_port: int
    sst_port: int
    folder: Path
    proc: subprocess.Popen | None = None

    @property
    def socket(self) -> Path:
        """The node's Unix socket (root's admin access)."""
        return self.folder / "mysqld.sock"

    @property
    def cnf(self) -> Path:
        """The node's option file (the SST script reads it too)."""
        return self.folder / "my.cnf"

    def url(self, database: str = DATABASE) -> str:
        """The SQLAlchemy URL of the app's database (or another made by Cluster.add_database) on this node."""
        return (
            f"mysql+pymysql://{DB_USER}:{DB_PASSWORD}@127.0.0.1:{self.port}/{database}"
            "?charset=utf8mb4&ssl_disabled=true"
        )


def galera_cnf(node: GaleraNode, peers: list[GaleraNode], run_as: str) -> str:
    """The option file of one node: wsrep on, rsync SST, every peer's group-communication port."""
    members = ",".join(f"127.0.0.1:{p.gcomm_port}" for p in peers)
    provider_options = (
        f"base_port={node.gcomm_port}; gmcast.listen_addr=tcp://127.0.0.1:{node.gcomm_port}; "
        f"ist.recv_addr=127.0.0.1:{node.ist_port}; gcache.size=64M; evs.suspect_timeout=PT3S; "
        "evs.inactive_timeout=PT6S; pc.wait_prim_timeout=PT30S"
    )
    return f"""[mysqld]
user={run_as}
datadir={node.folder / "data"}
socket={node.socket}
pid-file={node.folder / "mysqld.pid"}
tmpdir={node.folder / "tmp"}
port={node.port}
bind-address=127.0.0.1
character-set-server=utf8mb4
collation-server=utf8mb4_unicode_ci
innodb_buffer_pool_size=64M
innodb_log_file_size=16M
innodb_flush_log_at_trx_commit=2
max_connections=300
skip-name-resolve
binlog_format=ROW
default_storage_engine=InnoDB
innodb_autoinc_lock_mode=2
wsrep_on=ON
wsrep_provider={GALERA_PROVIDER}
wsrep_cluster_name=sp_cluster
wsrep_cluster_address=gcomm://{members}
wsrep_node_name=galera{node.index}
wsrep_node_address=127.0.0.1:{node.gcomm_port}
wsrep_provider_options="{provider_options}"
wsrep_sst_method=rsync
wsrep_sst_receive_address=127.0.0.1:{node.sst_port}
wsrep_slave_threads=2
# Causal reads: a read waits until this node applied every write the cluster committed before it.
wsrep_sync_wait=1
"""


# ---- the cluster -------------------------------------------------------------------------------


@dataclass
class Cluster:
    """The whole topology in one folder; start() it, stop() it, or use it as a context manager."""

    workdir: Path | None = None
    app_workers: int = 1
    app_threads: int = 8
    photo_workers: int = 1
    procs: dict[str, subprocess.Popen] = field(default_factory=dict)
    galera: list[GaleraNode] = field(default_factory=list)
    ports: dict[str, int] = field(default_factory=dict)
    _owns_workdir: bool = False

    # -- public API ------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        """The site's HTTPS address (nginx)."""
        return f"https://127.0.0.1:{self.ports['https']}"

    @property
    def ca_file(self) -> Path:
        """The self-signed certificate a client must trust to reach base_url."""
        return self.workdir / "nginx" / "cert.pem"

    @property
    def app_nodes(self) -> list[str]:
        """The names of the gunicorn processes: two app nodes, then the photo pool."""
        return ["app1", "app2", "photos"]

    def env(self, name: str = "app1", database: str = DATABASE) -> dict[str, str]:
        """The environment of one app process (`flask --app server …` on the same database uses it too);
        `database` names another database of the cluster (Cluster.add_database) for an app of one's own,
        which gets a bucket of its own too: the audit checkpoints kept there belong to one database."""
        galera = {"app1": 0, "app2": 1, "photos": 2}[name]
        bucket = S3_BUCKET if database == DATABASE else f"{S3_BUCKET}-{database.replace('_', '-')}"
        return {
            "APP_ENV": "development",
            "SECRET_KEY": SECRET_KEY,
            "DATABASE_URL": self.galera[galera].url(database),
            "STORAGE_BACKEND": "s3",
            "S3_ENDPOINT_URL": f"http://127.0.0.1:{self.ports['s3']}",
            "S3_BUCKET": bucket,
            "S3_REGION": S3_REGION,
            "S3_ACCESS_KEY_ID": S3_KEY,
            "S3_SECRET_ACCESS_KEY": S3_KEY,
            "S3_ADDRESSING_STYLE": "path",
            "REDIS_URL": f"redis://127.0.0.1:{self.ports['redis']}/0",
            "WECHAT_API_BASE": f"http://127.0.0.1:{self.ports['wechat']}",
            "WECHAT_APPID": self.wechat_credentials[0],
            "WECHAT_SECRET": self.wechat_credentials[1],
            "TRUSTED_PROXIES": "1",
            "TRUSTED_PROXY_IPS": "127.0.0.1",
            "INSTANCE_DIR": str(self.workdir / "instance"),
            "LOG_LEVEL": "WARNING",
            "WEB_CONCURRENCY": str(self.photo_workers if name == "photos" else self.app_workers),
            "GUNICORN_THREADS": str(self.app_threads),
            "PORT": str(self.ports[name]),
            "PYTHONPATH": str(ROOT),
        }

    wechat_credentials: tuple[str, str] = ("", "")

    def start(self) -> Cluster:
        """Start every component (Galera, S3, Redis, fake WeChat, migrations, app nodes, nginx)."""
        missing = missing_packages()
        if missing:
            raise ClusterError(f"missing Debian packages: {' '.join(missing)} (apt-get install them)")
        if self.workdir is None:
            self.workdir = Path(tempfile.mkdtemp(prefix="sp-cluster."))
            self._owns_workdir = True
        self.workdir.mkdir(parents=True, exist_ok=True)
        # The Galera nodes run as mysql and must reach their folders below this one.
        self.workdir.chmod(0o755)
        for name in ("https", "http", "app1", "app2", "photos", "redis", "s3", "wechat"):
            self.ports[name] = free_port()
        try:
            # Overlapped where the parts are independent: on 2 shared cores the start-up is what a
            # CI run pays for. Node 1 is bootstrapped and migrated alone; the joiners then receive
            # the migrated database by rsync, while the gunicorns import the app.
            self._start_redis()
            self._start_s3(wait=False)
            self._start_wechat()
            self._bootstrap_galera()
            self._prepare_database()
            self._launch_galera(self.galera[1], bootstrap=False)
            for name in self.app_nodes:
                self.start_app(name, wait=False)
            self._wait_synced(self.galera[1])
            self._launch_galera(self.galera[2], bootstrap=False)
            self._wait_synced(self.galera[2])
            for name in self.app_nodes:
                self._wait_ready(name)
            self._start_nginx()
            self._save_state()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Stop everything this cluster started (nginx and the apps first, Galera last)."""
        order = ["nginx", "photos", "app2", "app1", "wechat", "redis", "s3"]
        for name in order:
            self._stop_proc(name)
        for node in reversed(self.galera):
            self._stop_galera_proc(node)
        if self._owns_workdir and self.workdir is not None:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self) -> Cluster:
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()

    # -- faults ------------------------------------------------------------------------------

    def kill_app(self, name: str) -> None:
        """SIGKILL an app node: its gunicorn master and every worker at once, as a crash would."""
        proc = self.procs.pop(name)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()

    def start_app(self, name: str, *, wait: bool = True) -> None:
        """Start (or restart) one gunicorn with deploy/gunicorn.conf.py and (unless told not to) wait until ready."""
        log = open(self.workdir / f"{name}.log", "a")  # noqa: SIM115 - lives as long as the process
        # The photo pool yields the CPU to the app nodes, as deploy/systemd's Nice=10 makes it in
        # production: a burst of photo completes must not hold back the phones' JSON requests.
        nice = ["nice", "-n", str(PHOTO_POOL_NICE)] if name == "photos" else []
        proc = subprocess.Popen(
            [
                *nice,
                str(VENV_BIN / "gunicorn"),
                "-c",
                "deploy/gunicorn.conf.py",
                # gunicorn's control socket defaults to one path per user: three masters would share it.
                "--control-socket",
                str(self.workdir / f"{name}.ctl"),
                "server:create_app()",
            ],
            cwd=ROOT,
            env={**os.environ, **self.env(name)},
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: kill_app() kills master and workers
        )
        self.procs[name] = proc
        if wait:
            self._wait_ready(name)

    def _wait_ready(self, name: str) -> None:
        url = f"http://127.0.0.1:{self.ports[name]}/readyz"
        wait_for(lambda: self._alive(name) and _http_ok(url), f"{name} ready", timeout=120)

    def stop_galera(self, index: int) -> None:
        """Stop Galera node `index` (1-based) cleanly; the other two keep quorum and keep serving."""
        self._stop_galera_proc(self.galera[index - 1])

    def start_galera(self, index: int) -> float:
        """Restart Galera node `index`; it rejoins (IST from a peer's gcache). Returns seconds until Synced."""
        started = time.monotonic()
        node = self.galera[index - 1]
        self._launch_galera(node, bootstrap=False)
        self._wait_synced(node)
        return time.monotonic() - started

    def add_database(self, name: str) -> str:
        """A new empty database on the cluster, for the app's user (Galera replicates it to every node):
        tests that need a database of their own share one running cluster. Returns the name."""
        if not re.fullmatch(r"[a-z][a-z0-9_]{0,63}", name):
            raise ValueError(f"not a database name: {name!r}")
        self.sql(
            1,
            f"CREATE DATABASE {name} CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;"
            f"GRANT ALL ON {name}.* TO '{DB_USER}'@'127.0.0.1';",
        )
        return name

    def restart_redis(self) -> None:
        """Stop Redis and start it again empty (no persistence: the token is fetched anew)."""
        self._stop_proc("redis")
        self._start_redis()

    def stall_s3(self) -> None:
        """Freeze the S3 server (SIGSTOP): connections open but nothing answers."""
        os.kill(self.procs["s3"].pid, signal.SIGSTOP)

    def resume_s3(self) -> None:
        """Let the frozen S3 server run again (SIGCONT)."""
        os.kill(self.procs["s3"].pid, signal.SIGCONT)

    def sql(self, index: int, statement: str) -> list[list[str]]:
        """Run SQL as the node's root (over its socket); rows as lists of strings."""
        out = subprocess.run(
            ["mariadb", f"--socket={self.galera[index - 1].socket}", "-N", "-B", "-e", statement],
            capture_output=True,
            text=True,
            timeout=30,
        )
        if out.returncode:
            raise ClusterError(f"galera{index}: {out.stderr.strip()}")
        return [line.split("\t") for line in out.stdout.splitlines()]

    def wsrep_status(self, index: int) -> dict[str, str]:
        """The node's wsrep_% status variables."""
        return dict(self.sql(index, "SHOW GLOBAL STATUS LIKE 'wsrep_%'"))

    def conflicts(self) -> int:
        """Certification failures plus brute-force aborts on the running nodes: the 1213s Galera raised."""
        total = 0
        for node in self.galera:
            if node.proc is not None and node.proc.poll() is None:
                status = self.wsrep_status(node.index)
                total += int(status.get("wsrep_local_cert_failures", 0)) + int(status.get("wsrep_local_bf_aborts", 0))
        return total

    def flask(self, *args: str, name: str = "app1") -> subprocess.CompletedProcess:
        """Run `flask --app server ARGS` with an app node's environment."""
        return subprocess.run(
            [str(VENV_BIN / "flask"), "--app", "server", *args],
            cwd=ROOT,
            env={**os.environ, **self.env(name)},
            capture_output=True,
            text=True,
            timeout=300,
        )

    # -- internals ---------------------------------------------------------------------------

    def _alive(self, name: str) -> bool:
        proc = self.procs.get(name)
        if proc is None or proc.poll() is not None:
            raise ComponentExited.of(name, self.workdir / f"{name}.log")
        return True

    def _stop_proc(self, name: str) -> None:
        proc = self.procs.pop(name, None)
        if proc is None or proc.poll() is not None:
            return
        if name == "s3":
            with contextlib.suppress(ProcessLookupError):
                os.kill(proc.pid, signal.SIGCONT)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM) if name in self.app_nodes else proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

    def _galera_user(self) -> str:
        # rsync state transfer refuses to run as root; mariadbd drops to `user=` itself.
        return "mysql" if os.getuid() == 0 else pwd.getpwuid(os.getuid()).pw_name

    def _bootstrap_galera(self) -> None:
        run_as = self._galera_user()
        account = pwd.getpwnam(run_as)
        for i in (1, 2, 3):
            folder = self.workdir / f"galera{i}"
            (folder / "data").mkdir(parents=True, exist_ok=True)
            (folder / "tmp").mkdir(exist_ok=True)
            node = GaleraNode(i, free_port(), free_port(), free_port(), free_port(), folder)
            self.galera.append(node)
        for node in self.galera:
            node.cnf.write_text(galera_cnf(node, self.galera, run_as))
            for path in (node.folder, node.folder / "data", node.folder / "tmp"):
                os.chown(path, account.pw_uid, account.pw_gid)
        first = self.galera[0]
        install = subprocess.run(
            [
                "mariadb-install-db",
                f"--defaults-file={first.cnf}",
                f"--user={run_as}",
                "--auth-root-authentication-method=socket",
                "--skip-test-db",
            ],
            capture_output=True,
            text=True,
        )
        if install.returncode:
            raise ClusterError(f"mariadb-install-db failed:\n{install.stdout}{install.stderr}")
        self._launch_galera(first, bootstrap=True)
        self._wait_synced(first)
        self.sql(
            1,
            f"CREATE DATABASE {DATABASE} CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;"
            f"CREATE USER '{DB_USER}'@'127.0.0.1' IDENTIFIED BY '{DB_PASSWORD}';"
            f"GRANT ALL ON {DATABASE}.* TO '{DB_USER}'@'127.0.0.1';",
        )

    def _launch_galera(self, node: GaleraNode, *, bootstrap: bool) -> None:
        log = open(node.folder.parent / f"galera{node.index}.log", "a")  # noqa: SIM115
        argv = [shutil.which("mariadbd") or "/usr/sbin/mariadbd", f"--defaults-file={node.cnf}"]
        if bootstrap:
            argv.append("--wsrep-new-cluster")
        node.proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)

    def _wait_synced(self, node: GaleraNode) -> None:
        def synced() -> bool:
            if node.proc.poll() is not None:
                raise ComponentExited.of(f"galera{node.index}", self.workdir / f"galera{node.index}.log")
            status = self.wsrep_status(node.index)
            return status.get("wsrep_local_state_comment") == "Synced" and status.get("wsrep_ready") == "ON"

        wait_for(synced, f"galera{node.index} Synced", timeout=120)

    def _stop_galera_proc(self, node: GaleraNode) -> None:
        if node.proc is None:
            return
        if node.proc.poll() is None:
            node.proc.terminate()
            try:
                node.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(node.proc.pid, signal.SIGKILL)
                node.proc.wait()
        node.proc = None

    def _start_s3(self, *, wait: bool = True) -> None:
        port = self.ports["s3"]
        log = open(self.workdir / "s3.log", "a")  # noqa: SIM115
        self.procs["s3"] = subprocess.Popen(
            [str(VENV_BIN / "moto_server"), "-H", "127.0.0.1", "-p", str(port)], stdout=log, stderr=subprocess.STDOUT
        )
        if wait:
            self._wait_s3()

    def _wait_s3(self) -> None:
        url = f"http://127.0.0.1:{self.ports['s3']}/"
        wait_for(lambda: self._alive("s3") and _http_ok(url), "S3 server")

    def _start_redis(self) -> None:
        port = self.ports["redis"]
        folder = self.workdir / "redis"
        folder.mkdir(exist_ok=True)
        log = open(self.workdir / "redis.log", "a")  # noqa: SIM115
        argv = ["redis-server", "--bind", "127.0.0.1", "--port", str(port), "--dir", str(folder), "--save", ""]
        self.procs["redis"] = subprocess.Popen([*argv, "--appendonly", "no"], stdout=log, stderr=subprocess.STDOUT)
        wait_for(lambda: self._alive("redis") and _redis_ping(port), "Redis")

    def _start_wechat(self) -> None:
        log = open(self.workdir / "wechat.log", "a")  # noqa: SIM115
        proc = subprocess.Popen(
            [str(VENV_BIN / "python"), "-m", "server.devtools.fake_wechat", "--port", str(self.ports["wechat"])],
            cwd=ROOT,
            env={**os.environ, "APP_ENV": "development", "PYTHONPATH": str(ROOT)},
            stdout=subprocess.PIPE,
            stderr=log,
            text=True,
        )
        self.procs["wechat"] = proc
        proc.stdout.readline()
        wait_for(
            lambda: self._alive("wechat") and "WECHAT_SECRET=" in (self.workdir / "wechat.log").read_text(), "WeChat"
        )
        line = (self.workdir / "wechat.log").read_text()
        self.wechat_credentials = (
            re.search(r"WECHAT_APPID=(\S+)", line).group(1),
            re.search(r"WECHAT_SECRET=(\S+)", line).group(1),
        )

    def _prepare_database(self) -> None:
        """Migrate the database (what `flask --app server init-db` does) and create the bucket, in one process."""
        code = (
            "import os; from server.db import upgrade; from server.app import create_app; "
            "upgrade(os.environ['DATABASE_URL']); create_app().extensions['storage'].ensure_bucket()"
        )
        self._wait_s3()
        done = subprocess.run(
            [str(VENV_BIN / "python"), "-c", code], cwd=ROOT, env={**os.environ, **self.env()}, capture_output=True,
            text=True, timeout=300,
        )  # fmt: skip
        if done.returncode:
            raise ClusterError(f"migrations failed:\n{done.stdout}{done.stderr}")

    def _start_nginx(self) -> None:
        prefix = self.workdir / "nginx"
        self.procs["nginx"] = start_nginx(
            prefix,
            http_port=self.ports["http"],
            https_port=self.ports["https"],
            app_ports=[self.ports["app1"], self.ports["app2"]],
            photo_ports=[self.ports["photos"]],
        )
        context = ssl.create_default_context(cafile=str(self.ca_file))
        wait_for(lambda: self._alive("nginx") and _http_ok(self.base_url + "/healthz", context), "nginx")

    def _save_state(self) -> None:
        state = {
            "pids": {name: p.pid for name, p in self.procs.items()}
            | {f"galera{n.index}": n.proc.pid for n in self.galera if n.proc},
            "base_url": self.base_url,
            "ca_file": str(self.ca_file),
        }
        (self.workdir / STATE_FILE).write_text(json.dumps(state, indent=2))


def _http_ok(url: str, context: ssl.SSLContext | None = None) -> bool:
    with urllib.request.urlopen(url, timeout=2, context=context) as response:  # noqa: S310 - our loopback URL
        return response.status == 200


def _redis_ping(port: int) -> bool:
    with socket.create_connection(("127.0.0.1", port), timeout=1) as conn:
        conn.sendall(b"PING\r\n")
        return conn.recv(16).startswith(b"+PONG")


# ---- command line ------------------------------------------------------------------------------


def _down(workdir: Path) -> int:
    """Stop the processes a `cluster.py up` recorded in workdir (it stops the rest itself on SIGTERM)."""
    state = json.loads((workdir / STATE_FILE).read_text())
    os.kill(state["pids"]["up"], signal.SIGTERM)
    print(f"stopping the cluster in {workdir}")
    return 0


def _interrupted(*_args) -> None:
    """SIGTERM (from `cluster.py down`) ends `up` the way Ctrl-C does: everything is stopped."""
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    """`up`: start the cluster, print URLs and env, run until Ctrl-C or `down`; `down`: stop it."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=("up", "down"))
    parser.add_argument("--dir", type=Path, default=Path(tempfile.gettempdir()) / "sp-cluster")
    args = parser.parse_args(argv)
    if args.command == "down":
        return _down(args.dir)
    if args.dir.exists():
        shutil.rmtree(args.dir)
    signal.signal(signal.SIGTERM, _interrupted)
    cluster = Cluster(args.dir)
    try:
        cluster.start()
        state = json.loads((args.dir / STATE_FILE).read_text())
        state["pids"]["up"] = os.getpid()
        (args.dir / STATE_FILE).write_text(json.dumps(state, indent=2))
        print(f"site:     {cluster.base_url}/console/  (certificate: {cluster.ca_file})")
        for name in cluster.app_nodes:
            print(f"{name:9} http://127.0.0.1:{cluster.ports[name]}  → galera{cluster.app_nodes.index(name) + 1}")
        for node in cluster.galera:
            print(f"galera{node.index}:  127.0.0.1:{node.port}  (socket {node.socket})")
        print(
            f"redis:    redis://127.0.0.1:{cluster.ports['redis']}/0\ns3:       http://127.0.0.1:{cluster.ports['s3']}"
        )
        print("env of app node 1:")
        for key, value in cluster.env("app1").items():
            print(f"  {key}={value}")
        print(f"stop with Ctrl-C or: .venv/bin/python scripts/cluster.py down --dir {args.dir}", flush=True)
        signal.pause()
    except KeyboardInterrupt:
        pass
    finally:
        cluster.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
