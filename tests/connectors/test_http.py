"""Wall-clock deadlines on every request and on each source's harvest, against a real loopback
server that trickles bytes (one every 0.1 s never trips a socket timeout). No timed assertions:
each test counts what the server managed to send before placecat hung up."""
from __future__ import annotations

import json

import pytest
import yaml

from connectors.config import load_sources
from connectors.http import FetchError, HttpClient, HttpPolicy
from connectors.refresh import harvest_source
from tests.support.faultyserver import FaultyServer, Reply
from tests.support.orukfeeds import OrukFeed, generated_v3_services
from warehouse.snapshots import SourceStore

BODY = json.dumps({"items": ["x" * 60] * 100}).encode()  # ~6.5 KB: 11 minutes at 10 bytes a second


def trickling_server(kind: str = "trickle") -> FaultyServer:
    srv = FaultyServer()
    srv.route("/slow", Reply.raw(BODY))
    srv.fault("/slow", kind, seconds=0.1, times=-1)
    return srv


@pytest.mark.integration
@pytest.mark.parametrize("fault, policy, words, most_sent", [
    # The body one byte every 0.1 s: the socket timeout (5 s) never trips; request_timeout cuts it.
    ("trickle", dict(timeout=5, request_timeout=1.5, time_budget=60), "within request_timeout", len(BODY) // 10),
    # The status line and headers dribbled: cut before they were all sent.
    ("trickle_headers", dict(timeout=5, request_timeout=1.5, time_budget=60), "within request_timeout", 100),
    # A generous request_timeout: the source's time budget ends first and cuts the request.
    ("trickle", dict(timeout=5, request_timeout=600, time_budget=1.5), "time budget for this source ran out",
     len(BODY) // 10),
])
def test_a_trickled_answer_is_cut_at_its_deadline(fault, policy, words, most_sent):
    with trickling_server(fault) as srv, HttpClient(HttpPolicy(**policy)) as client:
        with pytest.raises(FetchError) as err:
            client.get(srv.url + "/slow")
        sent = srv.trickled
    assert "cut off" in err.value.reason and words in err.value.reason
    assert "bytes of the body received" in err.value.reason
    assert 0 < sent < most_sent
    assert srv.count("/slow") == 1  # a cut is not retried: the server would dribble again


@pytest.mark.integration
def test_a_whole_answer_within_its_deadline_is_returned_and_the_connection_reused():
    with FaultyServer() as srv, HttpClient(HttpPolicy(timeout=5, request_timeout=5)) as client:
        srv.route("/fast", Reply.raw(BODY))
        bodies = [client.get(srv.url + "/fast").body for _ in range(3)]
    assert bodies == [BODY] * 3


@pytest.mark.integration
def test_a_silent_server_trips_the_first_byte_timeout_and_is_retried_within_the_budget():
    with FaultyServer() as srv, HttpClient(HttpPolicy(timeout=0.5, request_timeout=60, time_budget=60,
                                                      max_retries=2, backoff_base=0.01)) as client:
        srv.route("/quiet", Reply.raw(b"{}"))
        srv.fault("/quiet", "delay", seconds=2, times=1)
        res = client.get(srv.url + "/quiet")
    assert res.body == b"{}" and res.attempts == 2
    assert srv.count("/quiet") == 2


@pytest.mark.integration
def test_a_trickling_oruk_feed_fails_its_source_at_the_budget_and_keeps_the_last_good_snapshot(tmp_path):
    """The night of the report: `timeout: 5` and `time_budget: 60` were ignored and a trickle took
    829 s. Here the budget is 2 s and the source fails with one line; its snapshot stays in force."""
    feed = OrukFeed(generated_v3_services(12, seed=3), etag=False)
    with FaultyServer() as srv:
        feed.install(srv)
        doc = {"sources": [{"id": "feed", "kind": "oruk", "url": srv.url, "publisher": "Test", "version": 3,
                            "timeout": 5, "time_budget": 2, "per_page": 50}]}
        (tmp_path / "sources.yaml").write_text(yaml.safe_dump(doc))
        source = load_sources(tmp_path / "sources.yaml").sources[0]
        first = harvest_source(source, tmp_path / "state", "r1")
        assert first.status == "ok", first.message
        from connectors.refresh import normalise_source
        assert normalise_source(source, tmp_path / "state", first.version, "r1").status == "ok"
        kept = SourceStore(tmp_path / "state", "feed").current().version

        srv.fault("/services", "trickle", seconds=0.1, times=-1)
        second = harvest_source(source, tmp_path / "state", "r2")
        sent = srv.trickled
    assert second.status == "failed"
    assert "time budget" in second.message and "keeping the snapshot" in second.message
    assert "\n" not in second.message
    assert 0 < sent < 200  # 2 s of a trickle, not the whole page
    assert SourceStore(tmp_path / "state", "feed").current().version == kept
