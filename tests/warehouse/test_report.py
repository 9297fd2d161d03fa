"""`placecat report`: one self-contained HTML file, checked in real headless Chromium.

The browser is driven over the DevTools protocol: the page loads with every network request
blocked, console messages and exceptions are collected, the charts are measured in the rendered
layout, and a screenshot is saved (``tests/artifacts/report.png``, git-ignored, and the tmp dir).
"""
from __future__ import annotations

import base64
import json
import re
import shutil
import subprocess
import time
from pathlib import Path

import duckdb
import pytest

from pipelines.cli import main
from tests.support.environment import IN_CI, REPO

ARTIFACTS = REPO / "tests" / "artifacts"
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--no-first-run", "--disable-sync", "--hide-scrollbars",
                  "--remote-debugging-port=0", "--window-size=1280,900"]


def chromium_binary() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    if IN_CI:
        pytest.fail("Chromium is not installed (CI installs it in .ci/run: apt-get install -y chromium)")
    pytest.skip("Chromium is not installed (apt-get install -y chromium)")


class DevTools:
    """The smallest DevTools-protocol client we need: send a command, wait for its answer, keep events."""

    def __init__(self, ws_url: str):
        from websockets.sync.client import connect
        self.ws = connect(ws_url, max_size=64 * 1024 * 1024, open_timeout=20)
        self.next_id = 0
        self.events: list[dict] = []

    def send(self, method: str, params: dict | None = None, session: str | None = None, timeout: float = 30) -> dict:
        self.next_id += 1
        msg = {"id": self.next_id, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = session
        self.ws.send(json.dumps(msg))
        deadline = time.time() + timeout
        while time.time() < deadline:
            data = json.loads(self.ws.recv(timeout=max(deadline - time.time(), 0.1)))
            if data.get("id") == self.next_id:
                if "error" in data:
                    raise RuntimeError(f"{method}: {data['error']}")
                return data.get("result", {})
            self.events.append(data)
        raise TimeoutError(method)

    def wait_for(self, method: str, timeout: float = 30) -> dict:
        for ev in self.events:
            if ev.get("method") == method:
                return ev
        deadline = time.time() + timeout
        while time.time() < deadline:
            data = json.loads(self.ws.recv(timeout=max(deadline - time.time(), 0.1)))
            self.events.append(data)
            if data.get("method") == method:
                return data
        raise TimeoutError(method)

    def close(self) -> None:
        self.ws.close()


def open_in_chromium(html_path: Path, profile_dir: Path, screenshot: Path) -> dict:
    """Load the page offline in headless Chromium; return console errors, exceptions, chart sizes."""
    proc = subprocess.Popen([chromium_binary(), *CHROMIUM_FLAGS, f"--user-data-dir={profile_dir}", "about:blank"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        ws_url = None
        deadline = time.time() + 60
        while time.time() < deadline and ws_url is None:
            line = proc.stderr.readline()
            m = re.search(r"DevTools listening on (ws://\S+)", line or "")
            if m:
                ws_url = m.group(1)
            elif not line and proc.poll() is not None:
                break
        assert ws_url, "Chromium did not start its DevTools endpoint"
        cdp = DevTools(ws_url)
        try:
            target = cdp.send("Target.createTarget", {"url": "about:blank"})["targetId"]
            session = cdp.send("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
            for domain in ("Page.enable", "Runtime.enable", "Log.enable", "Network.enable"):
                cdp.send(domain, session=session)
            # No network: a self-contained page needs none, and any attempt is a failure we can see.
            cdp.send("Network.emulateNetworkConditions", {"offline": True, "latency": 0, "downloadThroughput": -1,
                                                          "uploadThroughput": -1}, session=session)
            cdp.send("Page.navigate", {"url": html_path.resolve().as_uri()}, session=session)
            cdp.wait_for("Page.loadEventFired")
            measured = cdp.send("Runtime.evaluate", {"returnByValue": True, "expression": """
                JSON.stringify({
                  charts: [...document.querySelectorAll('svg.chart')].map(s => {
                    const r = s.getBoundingClientRect();
                    const marks = [...s.querySelectorAll('rect.bar, rect.cell')];
                    return {id: s.id, width: r.width, height: r.height, marks: marks.length,
                            drawn: marks.filter(m => m.getBoundingClientRect().width > 0 && m.getBoundingClientRect().height > 0).length};
                  }),
                  title: document.title,
                  resources: performance.getEntriesByType('resource').map(e => e.name),
                  height: document.documentElement.scrollHeight
                })"""}, session=session)
            page = json.loads(measured["result"]["value"])
            metrics = cdp.send("Page.getLayoutMetrics", session=session)
            height = int(min(metrics["cssContentSize"]["height"], 6000))
            shot = cdp.send("Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True,
                                                       "clip": {"x": 0, "y": 0, "width": 1280, "height": height, "scale": 1}},
                            session=session)
            screenshot.parent.mkdir(parents=True, exist_ok=True)
            screenshot.write_bytes(base64.b64decode(shot["data"]))
            # Give late console messages a moment to arrive, then collect them.
            try:
                cdp.wait_for("__none__", timeout=0.5)
            except TimeoutError:
                pass
            errors = [ev["params"] for ev in cdp.events
                      if (ev.get("method") == "Runtime.consoleAPICalled" and ev["params"].get("type") in ("error", "assert"))
                      or ev.get("method") == "Runtime.exceptionThrown"
                      or (ev.get("method") == "Log.entryAdded" and ev["params"]["entry"].get("level") == "error")
                      or ev.get("method") == "Network.loadingFailed"]
            page["errors"] = errors
            return page
        finally:
            cdp.close()
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


@pytest.mark.integration
@pytest.mark.slow
def test_report_renders_in_headless_chromium_without_console_errors(sample_gap_catalogue, tmp_path):
    build, services, _ = sample_gap_catalogue
    db = tmp_path / "published.duckdb"
    shutil.copyfile(build.path, db)
    out = tmp_path / "report.html"
    assert main(["report", "--db", str(db), "--out", str(out)]) == 0
    text = out.read_text()
    # Self-contained: nothing to fetch (no external scripts, styles, images or fonts).
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", text)
    assert "<script" not in text.lower()
    page = open_in_chromium(out, tmp_path / "chromium-profile", tmp_path / "report.png")
    ARTIFACTS.mkdir(exist_ok=True)
    shutil.copyfile(tmp_path / "report.png", ARTIFACTS / "report.png")
    assert page["errors"] == []
    assert page["resources"] == []
    charts = {c["id"]: c for c in page["charts"]}
    assert set(charts) == {"chart-deciles", "chart-gaps", "chart-overlap"}
    for chart in charts.values():
        assert chart["width"] > 200 and chart["height"] > 100
        assert chart["marks"] > 0 and chart["drawn"] == chart["marks"]
    assert charts["chart-deciles"]["marks"] == 10          # one bar per IMD decile
    assert charts["chart-overlap"]["marks"] == 3 * 3       # council, nhs, vcs
    assert charts["chart-gaps"]["marks"] == 6              # one bar per service type present
    assert (tmp_path / "report.png").stat().st_size > 20_000


def test_report_figures_come_from_the_catalogue(sample_gap_catalogue, tmp_path):
    build, services, _ = sample_gap_catalogue
    db = tmp_path / "published.duckdb"
    shutil.copyfile(build.path, db)
    out = tmp_path / "report.html"
    assert main(["report", "--db", str(db), "--out", str(out), "--level", "msoa", "--top", "5"]) == 0
    text = out.read_text()
    assert f'<div class="v">{len(services):,}</div><div class="k">Golden services</div>' in text
    with duckdb.connect(str(db), read_only=True) as con:
        worst = con.execute("SELECT area_code FROM gap.need_vs_supply_areas WHERE level = 'msoa' "
                            "GROUP BY area_code ORDER BY count(*) DESC, any_value(imd_rank) LIMIT 1").fetchone()[0]
    assert worst in text
    # The overlap matrix shows the pair count of council × nhs.
    nhs = int(services.sources.apply(lambda s: "nhs" in s).sum())
    assert f"council × nhs: {nhs}" in text


def test_report_on_a_missing_catalogue_is_one_line(tmp_path, capsys):
    # A missing file is a user mistake: one line and exit code 2, as for every command (docs/safeguards.md).
    assert main(["report", "--db", str(tmp_path / "nope.duckdb"), "--out", str(tmp_path / "r.html")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "nope.duckdb" in err and "placecat run" in err


def test_report_shows_the_latest_feed_health_scorecard(sample_gap_catalogue, tmp_path):
    build, _, _ = sample_gap_catalogue
    db = tmp_path / "published.duckdb"
    shutil.copyfile(build.path, db)
    with duckdb.connect(str(db)) as con:
        con.execute("CREATE TABLE IF NOT EXISTS quality.source_health (run_id VARCHAR, run_at TIMESTAMP, source_id VARCHAR, "
                    "status VARCHAR, up BOOLEAN, valid BOOLEAN, records BIGINT, richness DOUBLE)")
        con.execute("DELETE FROM quality.source_health")
        con.execute("""INSERT INTO quality.source_health VALUES
            ('r1', '2026-11-20 02:00', 'council', 'failed', false, false, 0, NULL),
            ('r2', '2026-11-21 02:00', 'council', 'ok', true, true, 600, 81.5),
            ('r2', '2026-11-21 02:00', 'nhs', 'stale', true, false, 150, 64.25)""")
    out = tmp_path / "report.html"
    assert main(["report", "--db", str(db), "--out", str(out)]) == 0
    health = out.read_text().split("<h2>Feed health</h2>")[1].split("</section>")[0]
    rows = re.findall(r"<tr>(.*?)</tr>", health)[1:]
    assert len(rows) == 2                                   # the latest row per source only
    assert "council" in rows[0] and '<span class="ok">ok</span>' in rows[0] and "81.5" in rows[0]
    assert "nhs" in rows[1] and '<span class="warn">stale</span>' in rows[1] and '<span class="bad">no</span>' in rows[1]
