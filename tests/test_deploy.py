"""Deployment files agree with the code: .env.example, docker-compose.yml, nginx, gunicorn, systemd."""

from __future__ import annotations

import os
import re
import runpy
import secrets
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from server.config import load_config
from tests.conftest import missing_component

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"
COMPOSE = DEPLOY / "docker-compose.yml"
# Read by gunicorn.conf.py, entrypoint.sh, prometheus_client or the compose file, not by config.py.
DEPLOY_NAMES = {
    "WEB_CONCURRENCY",
    "GUNICORN_THREADS",
    "PROMETHEUS_MULTIPROC_DIR",
    "MIGRATE_ON_START",
    "MYSQL_PASSWORD",
    "MINIO_ROOT_USER",
    "MINIO_ROOT_PASSWORD",
    "BIND_ADDRESS",
}
COMPOSE_ENV = {
    "MYSQL_PASSWORD": "compose-check-pw",
    "MINIO_ROOT_USER": "sp-minio",
    "MINIO_ROOT_PASSWORD": "compose-check-minio-pw",
    "METRICS_TOKEN": "compose-check-metrics-token",
}


class _Recorder(dict):
    """An environment that remembers every name looked up in it."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.seen: set[str] = set()

    def get(self, key, default=None):
        """Record the name, then look it up."""
        self.seen.add(key)
        return super().get(key, default)


def _config_names() -> set[str]:
    """Every environment name load_config reads (production with S3 reads them all)."""
    env = _Recorder(
        {
            "APP_ENV": "production",
            "DATABASE_URL": "mysql+pymysql://u:p@h/d",
            "STORAGE_BACKEND": "s3",
            "S3_BUCKET": "b",
            "SECRET_KEY": secrets.token_hex(32),
            "DATA_KEY": secrets.token_hex(32),
            "AUDIT_KEY": secrets.token_hex(32),
        }
    )
    load_config(env)
    return env.seen


def _example_names() -> list[str]:
    return re.findall(r"^([A-Z][A-Z0-9_]*)=", (ROOT / ".env.example").read_text("utf-8"), re.MULTILINE)


def _compose() -> dict:
    return yaml.safe_load(COMPOSE.read_text("utf-8"))


# ---- .env.example --------------------------------------------------------------------------


def test_env_example_lists_exactly_the_settings():
    """.env.example names every setting config.py reads plus the deployment ones, each once, nothing else."""
    names = _example_names()
    assert len(names) == len(set(names)), "a name is listed twice"
    assert set(names) == _config_names() | DEPLOY_NAMES


def test_deployment_names_are_really_used():
    """Each deployment-only name in .env.example is read by a file under deploy/."""
    # Python's bytecode cache of gunicorn.conf.py (written when a test imports it) is no deployment file.
    files = [p for p in DEPLOY.rglob("*") if p.is_file() and "__pycache__" not in p.parts]
    text = "\n".join(p.read_text("utf-8") for p in files)
    assert {n for n in DEPLOY_NAMES if n not in text} == set()


# ---- docker-compose.yml --------------------------------------------------------------------


def test_compose_has_the_services_with_healthchecks():
    """The compose file runs the app with MySQL 8, MinIO and Redis, each with a healthcheck."""
    services = _compose()["services"]
    assert {"app", "mysql", "minio", "redis"} <= set(services)
    assert services["mysql"]["image"].startswith("mysql:8")
    for name in ("app", "mysql", "minio", "redis"):
        assert services[name]["healthcheck"]["test"], name
    assert "/readyz" in " ".join(services["app"]["healthcheck"]["test"])


def test_compose_app_waits_for_its_dependencies():
    """The app starts only once the database and Redis are healthy and the bucket exists."""
    depends = _compose()["services"]["app"]["depends_on"]
    assert depends["mysql"]["condition"] == "service_healthy"
    assert depends["redis"]["condition"] == "service_healthy"
    bucket = next(k for k, v in depends.items() if v["condition"] == "service_completed_successfully")
    assert "mc mb" in " ".join(_compose()["services"][bucket]["entrypoint"])


def test_compose_app_environment_names_real_settings():
    """Every variable the compose file gives the app is a setting config.py reads (or the metrics folder)."""
    app = _compose()["services"]["app"]
    assert set(app["environment"]) - _config_names() - {"PROMETHEUS_MULTIPROC_DIR", "BIND_ADDRESS"} == set()
    assert app["environment"]["DATABASE_URL"].startswith("mysql+pymysql://")
    assert app["environment"]["STORAGE_BACKEND"] == "s3"


def test_compose_file_is_valid(tmp_path):
    """`docker compose config` (or docker-compose) accepts the file with .env.example as the environment."""
    if shutil.which("docker") and subprocess.run(["docker", "compose", "version"], capture_output=True).returncode == 0:
        command = ["docker", "compose"]
    elif shutil.which("docker-compose"):
        command = ["docker-compose"]
    else:
        missing_component("neither `docker compose` nor docker-compose is installed (apt-get install docker-compose)")
    # The same layout as the repository: the compose file in deploy/, .env beside deploy/.
    (tmp_path / "deploy").mkdir()
    shutil.copy(COMPOSE, tmp_path / "deploy" / "docker-compose.yml")
    shutil.copy(ROOT / ".env.example", tmp_path / ".env")
    result = subprocess.run(
        [*command, "-f", str(tmp_path / "deploy" / "docker-compose.yml"), "config", "-q"],
        cwd=tmp_path,
        env={**os.environ, **COMPOSE_ENV},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr


def test_container_migrates_then_execs_gunicorn():
    """The image's entrypoint applies migrations before it replaces itself with gunicorn."""
    dockerfile = (DEPLOY / "Dockerfile").read_text("utf-8")
    assert 'ENTRYPOINT ["/app/deploy/entrypoint.sh"]' in dockerfile
    script = (DEPLOY / "entrypoint.sh").read_text("utf-8")
    assert script.index("flask --app server init-db") < script.index("exec gunicorn -c deploy/gunicorn.conf.py")
    assert os.access(DEPLOY / "entrypoint.sh", os.X_OK)


# ---- nginx, gunicorn, systemd --------------------------------------------------------------


def test_nginx_accepts_the_largest_photo_upload():
    """nginx's client_max_body_size admits what the app accepts (MAX_PHOTO_BYTES plus form fields)."""
    conf = (DEPLOY / "nginx" / "secretary-projects.conf").read_text("utf-8")
    size = re.search(r"client_max_body_size (\d+)m;", conf)
    default_photo = load_config({"INSTANCE_DIR": "/nonexistent", "SECRET_KEY": "k"})["MAX_PHOTO_BYTES"]
    assert size and int(size.group(1)) * 1024 * 1024 >= default_photo + 64 * 1024


def test_nginx_passes_what_proxyfix_trusts():
    """nginx sets the X-Forwarded headers ProxyFix reads and a request id, and hides /metrics."""
    conf = (DEPLOY / "nginx" / "secretary-projects.conf").read_text("utf-8")
    for header in ("X-Forwarded-For", "X-Forwarded-Proto", "X-Forwarded-Host", "X-Request-ID"):
        assert f"proxy_set_header {header} " in conf
    assert "location = /metrics { return 404; }" in conf


def test_gunicorn_json_logging_keeps_query_strings_out(monkeypatch):
    """In production gunicorn logs through the JSON formatter and its access log (full URLs) stays off."""
    monkeypatch.setenv("APP_ENV", "production")
    monkeypatch.delenv("LOG_FORMAT", raising=False)
    settings = runpy.run_path(str(DEPLOY / "gunicorn.conf.py"))
    assert settings["worker_class"] == "gthread"
    assert settings["accesslog"] is None
    logging_config = settings["logconfig_dict"]
    assert logging_config["formatters"]["json"]["()"] == "server.telemetry.JsonFormatter"
    assert logging_config["loggers"]["gunicorn.access"]["handlers"] == []
    assert callable(settings["child_exit"])


def test_systemd_unit_migrates_before_serving():
    """The app unit applies migrations before gunicorn starts and gives the workers a metrics folder."""
    unit = (DEPLOY / "systemd" / "secretary-projects.service").read_text("utf-8")
    assert unit.index("ExecStartPre=/opt/secretary-projects/.venv/bin/flask --app server init-db") < unit.index(
        "ExecStart=/opt/secretary-projects/.venv/bin/gunicorn"
    )
    assert "PROMETHEUS_MULTIPROC_DIR=/run/secretary-projects/" in unit
    timer = (DEPLOY / "systemd" / "secretary-projects-backup.timer").read_text("utf-8")
    assert "OnCalendar=" in timer


def test_audit_checkpoint_runs_at_least_hourly():
    """systemd (a timer) and compose (a looping service) both run `audit-checkpoint` at least once an hour."""
    unit = (DEPLOY / "systemd" / "secretary-projects-audit-checkpoint.service").read_text("utf-8")
    assert "ExecStart=/opt/secretary-projects/.venv/bin/flask --app server audit-checkpoint" in unit
    timer = (DEPLOY / "systemd" / "secretary-projects-audit-checkpoint.timer").read_text("utf-8")
    assert "OnCalendar=hourly" in timer and "Persistent=true" in timer
    service = _compose()["services"]["audit-checkpoint"]
    loop = " ".join(service["entrypoint"])
    assert "flask --app server audit-checkpoint" in loop
    assert int(re.search(r"sleep (\d+)", loop).group(1)) <= 3600
    assert service["environment"]["APP_ENV"] == "production"


def test_photo_completes_have_their_own_lower_priority_pool():
    """nginx sends photo completes (only) to port 8001, which systemd and compose run niced / with fewer CPU shares."""
    import re

    conf = (DEPLOY / "nginx" / "secretary-projects.conf").read_text("utf-8")
    routes = re.findall(r"location ~ (\S+) \{\s*proxy_pass http://(\w+);", conf)
    assert routes, "no regex location"
    pattern, upstream = routes[0]
    assert upstream == "secretary_projects_photos"
    assert re.search(rf"upstream {upstream} \{{\s*server 127\.0\.0\.1:8001", conf)
    assert re.match(pattern, "/api/v1/photos/123/complete")
    assert not re.match(pattern, "/api/v1/photos/123") and not re.match(pattern, "/api/v1/visits/1/photos")
    unit = (DEPLOY / "systemd" / "secretary-projects-photos.service").read_text("utf-8")
    assert "Environment=PORT=8001" in unit and "Nice=10" in unit and "init-db" not in unit
    photos = _compose()["services"]["photos"]
    assert photos["environment"]["PORT"] == "8001" and photos["environment"]["MIGRATE_ON_START"] == "false"
    assert photos["environment"]["DATABASE_URL"] == _compose()["services"]["app"]["environment"]["DATABASE_URL"]
    assert photos["cpu_shares"] < 1024
    assert photos["depends_on"]["app"]["condition"] == "service_healthy"


@pytest.mark.parametrize(
    "unit",
    [
        "secretary-projects.service",
        "secretary-projects-photos.service",
        "secretary-projects-backup.service",
        "secretary-projects-backup.timer",
        "secretary-projects-reminders.service",
        "secretary-projects-reminders.timer",
        "secretary-projects-quarterly-reminders.service",
        "secretary-projects-quarterly-reminders.timer",
        "secretary-projects-cadre-reminders.service",
        "secretary-projects-cadre-reminders.timer",
        "secretary-projects-cross-county.service",
        "secretary-projects-cross-county.timer",
    ],
)
def test_systemd_units_parse(unit):
    """systemd-analyze finds nothing wrong with a unit besides programs not installed on this machine."""
    if not shutil.which("systemd-analyze"):
        missing_component("systemd-analyze is not installed")
    result = subprocess.run(
        ["systemd-analyze", "verify", str(DEPLOY / "systemd" / unit)], capture_output=True, text=True, timeout=60
    )
    problems = [
        line
        for line in (result.stdout + result.stderr).splitlines()
        if line.strip() and "is not executable: No such file or directory" not in line
    ]
    assert problems == []


def test_gunicorn_binds_loopback_unless_told(monkeypatch):
    """gunicorn listens on 127.0.0.1 by default (only nginx reaches it); BIND_ADDRESS changes that."""
    monkeypatch.delenv("BIND_ADDRESS", raising=False)
    monkeypatch.setenv("PORT", "8001")
    assert runpy.run_path(str(DEPLOY / "gunicorn.conf.py"))["bind"] == "127.0.0.1:8001"
    monkeypatch.setenv("BIND_ADDRESS", "0.0.0.0")
    assert runpy.run_path(str(DEPLOY / "gunicorn.conf.py"))["bind"] == "0.0.0.0:8001"
    services = _compose()["services"]
    assert services["app"]["environment"]["BIND_ADDRESS"] == "0.0.0.0"
    assert all(p.startswith("127.0.0.1:") for name in ("app", "photos") for p in services[name]["ports"])


def test_prometheus_scrapes_with_the_metrics_token():
    """The shipped Prometheus job sends METRICS_TOKEN as a bearer token from a file; compose requires it."""
    job = yaml.safe_load((DEPLOY / "prometheus" / "prometheus.yml").read_text("utf-8"))["scrape_configs"][0]
    assert job["metrics_path"] == "/metrics"
    assert job["authorization"]["type"] == "Bearer" and job["authorization"]["credentials_file"]
    assert "127.0.0.1:8000" in job["static_configs"][0]["targets"]
    env = _compose()["services"]["app"]["environment"]
    assert env["METRICS_TOKEN"].startswith("${METRICS_TOKEN:?")
