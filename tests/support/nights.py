"""Whole nights of `placecat run` over a copy of the bundled sample, for the tests of whole nights.

A night under test is a real process in its own session (so a kill takes its worker processes too);
a night that sets the scene runs in the test's process (`run_ok`). The
sample is copied into a temporary folder so a test can change a feed (rename a service, take a
source down) without touching the repository.
"""
import contextlib
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest

from tests.support.environment import REPO, SAMPLE


def copy_sample(tmp_path: Path) -> Path:
    dst = tmp_path / "sample"
    shutil.copytree(SAMPLE, dst, ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    return dst / "sources.yaml"


def placecat(*args: str, env: dict | None = None, **kw) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "pipelines.cli", *args], cwd=REPO,
                            env={**os.environ, **(env or {})}, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, start_new_session=True, **kw)


def run_ok(sources: Path, db: Path, *extra: str) -> str:
    """A night that must succeed, run in this process through the command's own entry point; its
    printed summary. Most of these nights set the scene, and a process of their own would cost each
    of them the imports again (great-expectations alone is 4 s): what a night's own process does
    (kills, exit codes, everything it prints on stderr) is tested through `fail_run` and `placecat`."""
    from pipelines.cli import main

    if "--workers" in extra:
        # Worker processes come from a forkserver that would outlive the night in this process,
        # holding this moment's environment for every later night's workers (a later test's
        # DAGSTER_PG_* would never reach them): such a night gets a process of its own.
        code, proc_out, proc_err = fail_run(sources, db, *extra)
        assert code == 0, proc_out + proc_err
        return proc_out
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(["run", "--sources", str(sources), "--db", str(db), *extra])
    assert code == 0, out.getvalue() + err.getvalue()
    return out.getvalue()


def start_held(sources: Path, db: Path, stage: str, tmp_path: Path, *extra: str) -> subprocess.Popen:
    """Start a run that stops at `stage` and waits there to be killed."""
    marker = tmp_path / f"held-at-{stage}"
    marker.unlink(missing_ok=True)
    proc = placecat("run", "--sources", str(sources), "--db", str(db), *extra,
                    env={"PLACECAT_FAILPOINT": f"{stage}@{marker}"})
    deadline = time.monotonic() + 120
    while not marker.exists():
        if proc.poll() is not None:
            out, err = proc.communicate()
            pytest.fail(f"run ended before reaching {stage}: {out}{err}")
        assert time.monotonic() < deadline, f"run never reached {stage}"
        time.sleep(0.05)
    return proc


def kill_run(proc: subprocess.Popen) -> None:
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL


def catalogue_rows(db: Path) -> list[tuple]:
    with duckdb.connect(str(db), read_only=True) as con:
        return con.execute("""SELECT ss.source_id, ss.source_record_id, s.id, s.name FROM catalogue.service_source ss
                              JOIN catalogue.service s ON s.id = ss.service_id ORDER BY 1, 2""").fetchall()


def rename_service(sources: Path, old: str, new: str) -> None:
    """An upstream change: the council renames one service in its feed."""
    for page in (sources.parent / "feeds" / "leeds-council").glob("*.json"):
        doc = json.loads(page.read_text())
        for item in doc["contents"]:
            if item["name"] == old:
                item["name"] = new
                page.write_text(json.dumps(doc))
                return
    raise AssertionError(f"no service named {old}")


def fail_run(sources: Path, db: Path, *extra: str, env: dict | None = None) -> tuple[int, str, str]:
    """A night in a process of its own: (exit code, stdout, stderr)."""
    proc = placecat("run", "--sources", str(sources), "--db", str(db), *extra, env=env)
    out, err = proc.communicate(timeout=300)
    return proc.returncode, out, err


def last_line(out: str, err: str) -> str:
    return (err.strip() or out.strip()).splitlines()[-1]


def take_down(sources: Path, source_id: str) -> None:
    folder = sources.parent / "feeds" / source_id
    for page in folder.glob("*.json"):
        page.write_text('{"total_items": 7, "contents": [{"id": "a", "na')  # the server died mid-page
