"""The production topology of scripts/cluster.py for the tests that run against it, and an app on it."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

from scripts.cluster import DATABASE, Cluster, missing_packages
from tests.conftest import missing_component


@contextmanager
def running_cluster() -> Iterator[Cluster]:
    """The whole topology on loopback (a missing Debian package fails on CI), stopped on leaving."""
    missing = missing_packages()
    if missing:
        missing_component(f"Debian packages missing for the cluster: {' '.join(missing)}")
    with Cluster() as c:
        yield c


@contextmanager
def app_on(cluster: Cluster, database: str = DATABASE):
    """An app object with the cluster's configuration (services need its audit key), on `database`; the
    environment is put back on leaving."""
    saved = dict(os.environ)
    os.environ.update(cluster.env(database=database))
    try:
        from server.app import create_app

        yield create_app()
    finally:
        os.environ.clear()
        os.environ.update(saved)
