"""A real S3 HTTP server on loopback for the storage tests (moto, or one CI started)."""

from __future__ import annotations

import os
import socket
import threading
from functools import cache
from typing import NoReturn
from urllib.parse import urlsplit

import boto3
import pytest
from botocore.config import Config

ACCESS_KEY_ID = "testing"
SECRET_ACCESS_KEY = "testing"
REGION = "us-east-1"

_START_TIMEOUT = 10.0
_endpoint: str | None = None
_unavailable_reason: str | None = None


def _unavailable(reason: str) -> NoReturn:
    # On CI a missing S3 server is a broken pipeline, not a reason to quietly skip the tests.
    if os.environ.get("CI") == "true":
        pytest.fail(f"S3 test server unavailable: {reason}", pytrace=False)
    pytest.skip(f"S3 test server unavailable: {reason}")


def _reachable(endpoint: str) -> bool:
    parts = urlsplit(endpoint)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        with socket.create_connection((parts.hostname, port), timeout=2):
            return True
    except OSError:
        return False


def _start_moto() -> str:
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    # start() waits forever if the server thread dies before listening, so bound the wait.
    starter = threading.Thread(target=server.start, daemon=True)
    starter.start()
    starter.join(_START_TIMEOUT)
    if starter.is_alive():
        raise RuntimeError(f"moto server did not start within {_START_TIMEOUT:g} s")
    host, port = server.get_host_and_port()
    return f"http://{host}:{port}"


def s3_endpoint() -> str:
    """Endpoint URL of the S3 server for tests: env TEST_S3_ENDPOINT_URL when set (CI starts `moto_server` itself), else a moto ThreadedMotoServer started once per process on 127.0.0.1 with a free port. If neither works: raise (pytest.fail) when env CI == 'true', else pytest.skip with the reason."""
    global _endpoint, _unavailable_reason
    if _endpoint is None and _unavailable_reason is None:
        configured = os.environ.get("TEST_S3_ENDPOINT_URL", "").rstrip("/")
        if configured:
            if _reachable(configured):
                _endpoint = configured
            else:
                _unavailable_reason = f"nothing listens at TEST_S3_ENDPOINT_URL={configured}"
        else:
            try:
                _endpoint = _start_moto()
            except Exception as exc:  # ImportError, bind errors, a dead server thread
                _unavailable_reason = f"cannot start moto: {exc!r}"
    if _endpoint is None:
        _unavailable(_unavailable_reason or "unknown reason")
    return _endpoint


@cache
def s3_client(endpoint: str):
    """A plain boto3 S3 client for the test server, independent of server.storage (cached: clients are slow to build)."""
    return boto3.session.Session().client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id=ACCESS_KEY_ID,
        aws_secret_access_key=SECRET_ACCESS_KEY,
        region_name=REGION,
        config=Config(signature_version="s3v4", s3={"addressing_style": "path"}),
    )


def make_bucket(endpoint: str, name: str) -> None:
    """Create a fresh, empty bucket on the test server."""
    s3_client(endpoint).create_bucket(Bucket=name)


def s3_settings(endpoint: str, bucket: str) -> dict[str, str]:
    """The app's storage settings for a bucket on the S3 test server (path-style, moto's test keys)."""
    return {
        "STORAGE_BACKEND": "s3",
        "S3_ENDPOINT_URL": endpoint,
        "S3_BUCKET": bucket,
        "S3_REGION": "us-east-1",
        "S3_ACCESS_KEY_ID": "testing",
        "S3_SECRET_ACCESS_KEY": "testing",
        "S3_ADDRESSING_STYLE": "path",
    }
