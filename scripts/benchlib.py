"""Shared helpers of the benchmarks: private MariaDB and S3 servers, process CPU and memory, percentiles.

Nothing here is a test. The servers are started on free loopback ports with their data in a
temporary directory, and stopped (by their own process id) when the benchmark ends.
"""

from __future__ import annotations

import math
import os
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
VENV_BIN = Path(sys.executable).parent
CLK_TCK = os.sysconf("SC_CLK_TCK")
S3_KEY = "bench"  # moto accepts any credentials
S3_REGION = "us-east-1"


def percentile(values: list[float], p: float) -> float | None:
    """The p-th percentile (0..100) by linear interpolation between closest ranks; None when empty."""
    if not values:
        return None
    ordered = sorted(values)
    rank = (len(ordered) - 1) * p / 100
    low, high = math.floor(rank), math.ceil(rank)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


# Not the module-level random: a test that seeds it would give every process the same ports.
_PORT_CHOICE = random.SystemRandom()
# Ports this process handed out: a cluster takes ~20 before it binds any, and must not get one twice.
_HANDED_OUT: set[int] = set()


def _ephemeral_range() -> tuple[int, int]:
    """The ports the kernel gives the local end of outgoing connections (net.ipv4.ip_local_port_range)."""
    try:
        low, high = (int(n) for n in Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split())
    except (OSError, ValueError):
        return 32768, 60999  # Linux's default
    return low, high


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now, from below the kernel's ephemeral range.

    A server is often told its port some time before it binds it (a Galera joiner's rsync port, half a
    minute later). A port from the ephemeral range can meanwhile become the local end of any outgoing
    connection on the machine, and the server then fails with "address in use"; the kernel never hands
    out a port below that range. Falls back to any free port when the range starts too low to leave room.
    Never the same port twice in one process.
    """
    low, _ = _ephemeral_range()
    below = [_PORT_CHOICE.randrange(20000, low) for _ in range(200)] if low - 20000 >= 2000 else []
    for wanted in below + [0] * 200:  # 0: the kernel's choice
        if wanted in _HANDED_OUT:
            continue
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", wanted))
            except OSError:
                continue
            port = probe.getsockname()[1]
        if port not in _HANDED_OUT:
            _HANDED_OUT.add(port)
            return port
    raise OSError("no free TCP port on 127.0.0.1")


def wait_for(check, what: str, timeout: float = 30.0) -> None:
    """Poll check() until it returns true; raise RuntimeError after timeout seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except OSError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{what} did not come up within {timeout:.0f} s")


# ---- processes ----------------------------------------------------------------------------


def children(pid: int) -> list[int]:
    """Direct child process ids of pid (from /proc/<pid>/task/*/children)."""
    out: list[int] = []
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/children") as fh:
                out += [int(c) for c in fh.read().split()]
    except OSError:
        pass
    return out


def process_tree(pid: int) -> list[int]:
    """pid and all its descendants."""
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo += children(p)
    return out


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds used so far by one process (all its threads), from /proc/<pid>/stat."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            # The command name may contain spaces: fields are counted after its closing ')'.
            fields = fh.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def tree_cpu(pid: int) -> dict[int, float]:
    """CPU seconds of pid and each live descendant, by process id."""
    return {p: cpu_seconds(p) for p in process_tree(pid)}


def cpu_delta(before: dict[int, float], after: dict[int, float]) -> float:
    """CPU seconds spent between two tree_cpu() snapshots (a process new since `before` counts from 0)."""
    return sum(after[p] - before.get(p, 0.0) for p in after)


def status_kb(pid: int, name: str) -> int:
    """A /proc/<pid>/status value in kB (VmHWM: peak resident set, VmRSS: current)."""
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith(name + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


# ---- private servers --------------------------------------------------------------------


@dataclass
class Servers:
    """Servers this benchmark started (stopped by stop()); pids are None for servers given by URL."""

    workdir: Path
    procs: list[subprocess.Popen] = field(default_factory=list)
    mysql_url: str | None = None
    mariadb_pid: int | None = None
    s3_endpoint: str | None = None
    moto_pid: int | None = None

    def stop(self) -> None:
        """Stop every server started here, newest first, and wait for them."""
        for proc in reversed(self.procs):
            if proc.poll() is None:
                proc.terminate()
        for proc in reversed(self.procs):
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        self.procs.clear()


def start_mariadb(servers: Servers, *, buffer_pool: str = "256M", database: str = "sp_bench") -> str:
    """A private mariadbd on a free port with its datadir under servers.workdir; returns the app URL.

    Started the way scripts/test.sh does it (no systemd, --user=root when run as root).
    """
    datadir, sock = servers.workdir / "mariadb", servers.workdir / "mariadb.sock"
    user = ["--user=root"] if os.getuid() == 0 else []
    install = subprocess.run(
        [
            "mariadb-install-db",
            "--no-defaults",
            *user,
            f"--datadir={datadir}",
            "--auth-root-authentication-method=socket",
            "--skip-test-db",
        ],
        capture_output=True,
        text=True,
    )
    if install.returncode:
        raise RuntimeError(f"mariadb-install-db failed:\n{install.stdout}{install.stderr}")
    port = free_port()
    log = open(servers.workdir / "mariadb.log", "w")  # noqa: SIM115 - lives as long as the server
    mariadbd = shutil.which("mariadbd") or "/usr/sbin/mariadbd"
    proc = subprocess.Popen(
        [
            mariadbd,
            "--no-defaults",
            *user,
            f"--datadir={datadir}",
            f"--socket={sock}",
            f"--port={port}",
            "--bind-address=127.0.0.1",
            "--skip-log-bin",
            "--character-set-server=utf8mb4",
            "--collation-server=utf8mb4_unicode_ci",
            "--innodb-flush-log-at-trx-commit=2",
            f"--innodb-buffer-pool-size={buffer_pool}",
            "--max-connections=500",
            f"--tmpdir={servers.workdir}",
            f"--pid-file={servers.workdir / 'mariadb.pid'}",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    servers.procs.append(proc)
    servers.mariadb_pid = proc.pid

    def ping() -> bool:
        if proc.poll() is not None:
            raise RuntimeError(f"mariadbd exited; see {servers.workdir / 'mariadb.log'}")
        return subprocess.run(["mariadb-admin", f"--socket={sock}", "ping"], capture_output=True).returncode == 0

    wait_for(ping, "MariaDB")
    sql = (
        f"CREATE DATABASE {database} CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;"
        "CREATE USER 'sp'@'127.0.0.1' IDENTIFIED BY 'sp-bench-pw';"
        f"GRANT ALL ON {database}.* TO 'sp'@'127.0.0.1';"
    )
    subprocess.run(["mariadb", f"--socket={sock}", "-e", sql], check=True)
    servers.mysql_url = f"mysql+pymysql://sp:sp-bench-pw@127.0.0.1:{port}/{database}?charset=utf8mb4"
    return servers.mysql_url


def start_moto(servers: Servers) -> str:
    """A private moto_server (a real HTTP S3 API) on a free port; returns its endpoint URL."""
    port = free_port()
    log = open(servers.workdir / "moto.log", "w")  # noqa: SIM115 - lives as long as the server
    proc = subprocess.Popen(
        [str(VENV_BIN / "moto_server"), "-H", "127.0.0.1", "-p", str(port)], stdout=log, stderr=subprocess.STDOUT
    )
    servers.procs.append(proc)
    servers.moto_pid = proc.pid
    endpoint = f"http://127.0.0.1:{port}"
    wait_for(lambda: urllib.request.urlopen(endpoint + "/", timeout=1).status == 200, "moto_server")
    servers.s3_endpoint = endpoint
    return endpoint


def listening_pid(port: int) -> int | None:
    """The id of the process listening on a loopback TCP port, if it is visible to us."""
    inode = None
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table) as fh:
                next(fh)
                for line in fh:
                    parts = line.split()
                    if int(parts[1].rsplit(":", 1)[1], 16) == port and parts[3] == "0A":
                        inode = parts[9]
                        break
        except OSError:
            continue
        if inode:
            break
    if not inode:
        return None
    target = f"socket:[{inode}]"
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            for fd in os.listdir(f"/proc/{pid}/fd"):
                if os.readlink(f"/proc/{pid}/fd/{fd}") == target:
                    return int(pid)
        except OSError:
            continue
    return None


def serve_mariadb(argv: list[str]) -> int:
    """Run a private MariaDB until SIGINT/SIGTERM, printing its URL: `benchlib.py mariadb [DIR] [BUFFER_POOL]`."""
    import signal

    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
    workdir = Path(argv[0]) if argv else Path(tempfile.mkdtemp(prefix="sp-mariadb."))
    workdir.mkdir(parents=True, exist_ok=True)
    servers = Servers(workdir)
    try:
        print(start_mariadb(servers, buffer_pool=argv[1] if len(argv) > 1 else "1G"), flush=True)
        signal.sigwait({signal.SIGINT, signal.SIGTERM})
    finally:
        servers.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    if sys.argv[1:2] != ["mariadb"]:
        sys.exit("usage: benchlib.py mariadb [WORKDIR] [BUFFER_POOL]")
    sys.exit(serve_mariadb(sys.argv[2:]))
