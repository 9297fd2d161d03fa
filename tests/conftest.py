"""Shared test fixtures.

Real data lives in ../shared/fixtures (CI puts it beside the clone); tests read it from there
and never copy it into the repo. Services (PostgreSQL, MariaDB) are real servers on 127.0.0.1:
when one is missing the test is skipped locally, but under CI (CI=true) it fails, so that a green
CI run always means the database tests ran.
"""
from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("PLACECAT_SHARED", REPO.parent / "shared")).resolve()
FIXTURES = SHARED / "fixtures"
SAMPLE = REPO / "pipelines" / "sample"
SAMPLE_SOURCES = SAMPLE / "sources.yaml"
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


@pytest.fixture(scope="session")
def fixtures_dir() -> Path:
    if not FIXTURES.exists():
        if IN_CI:
            pytest.fail(f"{FIXTURES} is missing: CI must have ../shared beside the clone")
        pytest.skip(f"{FIXTURES} not found (set PLACECAT_SHARED)")
    return FIXTURES


def port_open(host: str, port: int, timeout: float = 1.0) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def require_service(name: str, host: str, port: int) -> None:
    """Skip (locally) or fail (in CI) when a real service the test needs is not listening."""
    if port_open(host, port):
        return
    msg = f"{name} is not listening on {host}:{port}"
    if IN_CI:
        pytest.fail(msg + " (CI requires it; start it as .ci/run does)")
    pytest.skip(msg)


@pytest.fixture
def sample_sources() -> Path:
    return SAMPLE_SOURCES


@pytest.fixture
def db_path(tmp_path) -> Path:
    return tmp_path / "catalogue" / "placecat.duckdb"


@pytest.fixture(scope="session")
def published_sample(tmp_path_factory) -> Path:
    """The bundled sample plus a hostile source, run through the nightly job once (publishing tests)."""
    from pipelines.nightly_run import run_nightly
    from tests.support.published import copy_sample_with_hostile_source

    tmp = tmp_path_factory.mktemp("published")
    sources = copy_sample_with_hostile_source(tmp)
    res = run_nightly(sources, tmp / "out" / "placecat.duckdb")
    assert res.published, res.error
    return res.db_path
