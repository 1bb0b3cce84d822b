"""Private servers the fault tests may stop, hang, cut off and restart: MariaDB, S3, gunicorn.

The shared development servers are never touched: each fixture starts its own process on a
free loopback port and stops it afterwards.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import requests

from scripts.benchlib import free_port
from tests.conftest import missing_component

VENV_BIN = Path(sys.executable).parent
_WAIT = 30.0  # seconds a server may take to come up before the test gives up


def wait_until(check, what: str, timeout: float = _WAIT) -> None:
    """Poll `check()` until it is true; fail the test with `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.1)
    pytest.fail(f"{what} did not happen within {timeout:g} s", pytrace=False)


def listening(port: int) -> bool:
    """Whether something accepts TCP connections on 127.0.0.1:port."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def stop_process(proc: subprocess.Popen, sig: int = signal.SIGTERM) -> None:
    """Signal one process we started and reap it (SIGKILL if it lingers)."""
    if proc.poll() is None:
        proc.send_signal(sig)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


class TcpProxy:
    """A loopback TCP relay to a server: `cut()` makes the server unreachable, `restore()` brings it back."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.port = free_port()
        self._listener: socket.socket | None = None
        self._conns: list[socket.socket] = []
        self._lock = threading.Lock()
        self.requests_relayed = 0  # chunks sent on towards the server: "the app is talking to it now"

    def start(self) -> TcpProxy:
        """Listen and relay every connection in its own threads."""
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()
        return self

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return  # cut() closed the listener
            try:
                upstream = socket.create_connection(("127.0.0.1", self.target_port), timeout=5)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._conns += [client, upstream]
            for src, dst in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(src, dst, dst is upstream), daemon=True).start()

    def _pipe(self, src: socket.socket, dst: socket.socket, towards_server: bool) -> None:
        try:
            while chunk := src.recv(65536):
                dst.sendall(chunk)
                if towards_server:
                    with self._lock:
                        self.requests_relayed += 1
        except OSError:
            pass
        finally:
            for s in (src, dst):
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)

    def cut(self) -> None:
        """Refuse new connections and reset the open ones, as when the server goes away."""
        if self._listener is not None:
            self._listener.close()
            self._listener = None
        with self._lock:
            conns, self._conns = self._conns, []
        for conn in conns:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
            conn.close()

    def restore(self) -> None:
        """Listen again on the same port."""
        self.start()


@pytest.fixture(scope="module")
def moto_server():
    """A private moto_server process on a free port, shared by a module: (Popen, endpoint URL)."""
    binary = VENV_BIN / "moto_server"
    if not binary.exists():
        missing_component(f"moto_server is not installed at {binary}")
    port = free_port()
    proc = subprocess.Popen(
        [str(binary), "-H", "127.0.0.1", "-p", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        wait_until(lambda: listening(port) or proc.poll() is not None, "moto_server start")
        if proc.poll() is not None:
            missing_component(f"moto_server exited with {proc.returncode}")
        yield proc, f"http://127.0.0.1:{port}"
    finally:
        proc.send_signal(signal.SIGCONT)  # a test may have left it frozen
        stop_process(proc)


class MariaDB:
    """A private mariadbd with its datadir in a temporary directory; stop() and start() restart it."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.datadir = workdir / "data"
        self.socket = workdir / "mariadb.sock"
        self.port = free_port()
        self.proc: subprocess.Popen | None = None
        self.user_opt = ["--user=root"] if os.getuid() == 0 else []

    @property
    def url(self) -> str:
        """SQLAlchemy URL of the test database."""
        # No TLS on this server: spare PyMySQL a TLS context per connection (see scripts/test.sh).
        return f"mysql+pymysql://sp:sp-pw@127.0.0.1:{self.port}/sp_faults?charset=utf8mb4&ssl_disabled=true"

    def install(self) -> None:
        """Create the datadir, the database and its user."""
        log = self.workdir / "install.log"
        with log.open("wb") as out:
            done = subprocess.run(
                [
                    "mariadb-install-db",
                    "--no-defaults",
                    *self.user_opt,
                    f"--datadir={self.datadir}",
                    "--auth-root-authentication-method=socket",
                    "--skip-test-db",
                ],
                stdout=out,
                stderr=subprocess.STDOUT,
                check=False,
            )
        if done.returncode:
            pytest.fail(f"mariadb-install-db failed: {log.read_text()[-2000:]}", pytrace=False)
        self.start()
        subprocess.run(
            [
                "mariadb",
                f"--socket={self.socket}",
                "-e",
                "CREATE DATABASE sp_faults CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;"
                "CREATE USER 'sp'@'127.0.0.1' IDENTIFIED BY 'sp-pw';"
                "GRANT ALL ON sp_faults.* TO 'sp'@'127.0.0.1';",
            ],
            check=True,
        )

    def start(self) -> None:
        """Start mariadbd and wait until it answers."""
        log = (self.workdir / "mariadb.log").open("ab")
        self.proc = subprocess.Popen(
            [
                "mariadbd",
                "--no-defaults",
                *self.user_opt,
                f"--datadir={self.datadir}",
                f"--socket={self.socket}",
                f"--port={self.port}",
                "--bind-address=127.0.0.1",
                "--skip-log-bin",
                "--character-set-server=utf8mb4",
                "--collation-server=utf8mb4_unicode_ci",
                "--innodb-flush-log-at-trx-commit=2",
                "--innodb-buffer-pool-size=32M",
                f"--pid-file={self.workdir / 'mariadb.pid'}",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        wait_until(lambda: self._pings() or self.proc.poll() is not None, "mariadbd start")
        if self.proc.poll() is not None:
            pytest.fail(f"mariadbd exited: {(self.workdir / 'mariadb.log').read_text()[-2000:]}", pytrace=False)

    def _pings(self) -> bool:
        return (
            subprocess.run(
                ["mariadb-admin", f"--socket={self.socket}", "ping"],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            ).returncode
            == 0
        )

    def stop(self) -> None:
        """Shut mariadbd down (SIGTERM: a clean shutdown, as a service restart does)."""
        if self.proc is not None:
            stop_process(self.proc)
            self.proc = None


@pytest.fixture(scope="module")
def private_mariadb(tmp_path_factory):
    """A migrated private MariaDB this module's tests may restart."""
    if not shutil.which("mariadbd") or not shutil.which("mariadb-install-db"):
        missing_component("mariadbd is not installed (apt-get install mariadb-server)")
    from server.db import upgrade

    server = MariaDB(tmp_path_factory.mktemp("mariadb"))
    server.install()
    try:
        upgrade(server.url)
        yield server
    finally:
        server.stop()


class Gunicorn:
    """The app served by gunicorn with deploy/gunicorn.conf.py, in a subprocess."""

    def __init__(self, env: dict[str, str], workdir: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = workdir / "gunicorn.log"
        root = Path(__file__).resolve().parents[2]
        with self.log.open("wb") as out:
            self.proc = subprocess.Popen(
                [
                    str(VENV_BIN / "gunicorn"),
                    "-c",
                    str(root / "deploy" / "gunicorn.conf.py"),
                    "--bind",
                    f"127.0.0.1:{self.port}",
                    "--workers",
                    "1",
                    "--threads",
                    "4",
                    "server:create_app()",
                ],
                cwd=root,
                env={**os.environ, **env},
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        try:
            wait_until(self._healthy, "gunicorn start")
        except BaseException:
            self.stop()  # one that never answered is not left running after the test that failed on it
            raise

    def _healthy(self) -> bool:
        if self.proc.poll() is not None:
            pytest.fail(f"gunicorn exited: {self.log.read_text()[-3000:]}", pytrace=False)
        try:
            return requests.get(f"{self.url}/healthz", timeout=2).status_code == 200
        except requests.RequestException:
            return False

    def worker_pids(self) -> list[int]:
        """Pids of the arbiter's live workers (its child processes, from /proc)."""
        pids = []
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                # Fields after the parenthesised command name: state, ppid, ...
                state, ppid = stat.read_text().rsplit(")", 1)[1].split()[:2]
            except (OSError, IndexError):
                continue
            if int(ppid) == self.proc.pid and state != "Z":
                pids.append(int(stat.parent.name))
        return pids

    def stop(self) -> None:
        """Stop the arbiter (it stops its workers)."""
        stop_process(self.proc)
