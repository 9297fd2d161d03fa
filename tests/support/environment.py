"""Where the repository, its sample and the shared data are, and which real services are up.

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

REPO = Path(__file__).resolve().parents[2]
SHARED = Path(os.environ.get("PLACECAT_SHARED", REPO.parent / "shared")).resolve()
FIXTURES = SHARED / "fixtures"
SAMPLE = REPO / "pipelines" / "sample"
SAMPLE_SOURCES = SAMPLE / "sources.yaml"
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


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
