"""Fixtures shared by every test package. Helpers live in ``tests/support/`` (a test file never
imports from another test file); where things are and which services are up is
``tests/support/environment.py``."""
from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.environment import FIXTURES, IN_CI, SAMPLE_SOURCES


@pytest.fixture(scope="session")
def fixtures_dir() -> Path:
    if not FIXTURES.exists():
        if IN_CI:
            pytest.fail(f"{FIXTURES} is missing: CI must have ../shared beside the clone")
        pytest.skip(f"{FIXTURES} not found (set PLACECAT_SHARED)")
    return FIXTURES


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
