"""Fixtures: the in-process simulator over real sockets, data sources with their own disk cache
directory, and the real Redis (127.0.0.1:6379, or REDIS_URL) under a namespace of the test's own.

These tests run against the installed package (``cargo xtask ci`` builds it into its virtual
environment first): ``python -m pytest crates/polygon-gh200-py/tests``.
"""

from __future__ import annotations

import os
import socket
import uuid

import pytest

import polygon_gh200 as pg

KEY = "pytest-key"
# A short window of minute bars keeps every test quick; two days is several thousand bars.
FROM, TO = "2024-10-01", "2024-10-02"


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch, tmp_path):
    """No setting of the developer's leaks in: every variable the package reads is unset, and
    the disk cache (when a test turns it on) lives under the test's own directory."""
    for _, variable in pg._native.settings():
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.delenv("MASSIVE_API_KEY", raising=False)
    monkeypatch.delenv("POLYGON_GH200_CONFIG", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))


@pytest.fixture
def sim():
    with pg.Simulator(latency_ms=2, api_key=KEY, fail_tickers=["FAIL"]) as s:
        yield s


@pytest.fixture
def make_client(sim, tmp_path):
    """A data source against `sim`: memory only unless asked for disk or Redis."""
    made = []

    def make(**settings):
        base = dict(base_url=sim.url, api_key=KEY, redis_url="off", cache_disk=False, max_retries=0)
        base.update(settings)
        c = pg.PolygonDataSource(**base)
        made.append(c)
        return c

    yield make
    for c in made:
        c.close()


@pytest.fixture
def client(make_client):
    return make_client()


def redis_url() -> str:
    return os.environ.get("PYTEST_REDIS_URL", "redis://127.0.0.1:6379/0")


@pytest.fixture
def redis_namespace():
    """A namespace of this test's own in the real Redis; skipped (with why) when none answers."""
    url = redis_url()
    host, port = url.split("//")[1].split("/")[0].split(":")
    try:
        socket.create_connection((host, int(port)), timeout=1).close()
    except OSError as e:
        pytest.fail(f"no Redis at {url} ({e}): the suite needs the real Redis that .ci/run starts")
    return "pytest-" + uuid.uuid4().hex[:12]
