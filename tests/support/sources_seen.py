"""What a hub sees of each source's state: the API's `/`, each record's trust register, the export."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import requests

from tests.support.environment import REPO
from warehouse.profiles import DEFAULT_PROFILE
from warehouse.serve import RunningServer, create_app
from warehouse.served import SnapshotHolder


def api_view(db: Path) -> tuple[dict[str, dict], list[dict]]:
    """What a hub sees on the API: each source's entry in `/`, and every record's trust register."""
    with RunningServer(create_app(SnapshotHolder(db, DEFAULT_PROFILE, reload_interval=0))) as srv:
        root = requests.get(srv.url + "/", timeout=30).json()["placecat"]["sources"]
        ids = [s["id"] for s in requests.get(srv.url + "/services?per_page=100", timeout=30).json()["contents"]]
        records = [r for i in ids for r in requests.get(f"{srv.url}/services/{i}", timeout=30).json()["placecat"]["replaces"]]
    return {s["source_id"]: s for s in root}, records


def exported_sources(db: Path, out: Path) -> dict[str, dict]:
    proc = subprocess.run([sys.executable, "-m", "pipelines.cli", "export", "--db", str(db), "--out", str(out)],
                          capture_output=True, text=True, cwd=REPO, timeout=300)
    assert proc.returncode == 0, proc.stderr
    index = json.loads((out / "current" / "api" / "index.json").read_text())
    return {s["source_id"]: s for s in index["placecat"]["sources"]}
