"""The national test bed speaks standard ORUK v1/v3 paging and RPDE, so the real connectors harvest it
completely, and a second night with nothing changed upstream is recognised as unchanged."""
import pytest
import requests
import yaml

from benchmarks.national import feeds as bed
from benchmarks.national.server import serve
from connectors.config import load_sources
from connectors.refresh import harvest_source, normalise_source

RECORDS = 4000


@pytest.fixture(scope="module")
def server():
    srv = serve(RECORDS, latency_ms=0)
    yield srv
    srv.shutdown()


def test_the_bed_has_200_feeds_with_skewed_sizes_adding_up(server):
    fs = bed.feeds(RECORDS)
    assert len([f for f in fs if f.kind == "oruk"]) == 150 and len([f for f in fs if f.kind == "openactive"]) == 50
    assert sum(f.size for f in fs) == RECORDS
    assert {f.version for f in fs if f.kind == "oruk"} == {1, 3}
    sizes = sorted(f.size for f in fs if f.kind == "oruk")
    assert sizes[-1] > 4 * sizes[len(sizes) // 2]  # a few big directories, many small ones


def test_pages_are_deterministic_and_conditional(server):
    url = f"{server.base}/oruk/council-000/services"
    a = requests.get(url, params={"page": 1, "per_page": 50})
    b = requests.get(url, params={"page": 1, "per_page": 50})
    assert a.content == b.content and a.json()["total_items"] == bed.feeds(RECORDS)[0].size
    assert requests.get(url, params={"page": 1, "per_page": 50},
                        headers={"If-None-Match": a.headers["ETag"]}).status_code == 304


def test_neighbours_share_services_written_their_own_way():
    f = bed.feeds(RECORDS)[4]
    copies = [i for i in range(f.size) if bed.oruk_service_of(f, i)[1]]
    assert 0.08 < len(copies) / f.size < 0.3
    neighbour = bed.feeds(RECORDS)[3]
    listed = {bed.oruk_service_of(neighbour, j)[0]["key"] for j in range(neighbour.size)}
    # Every copy is of a service the neighbour really lists, written the copier's way.
    assert all(bed.oruk_service_of(f, i)[0]["key"] in listed for i in copies)


def test_the_true_duplicate_share_is_the_share_of_copies_and_near_the_nominal_one():
    services = []
    for f in bed.feeds(RECORDS):
        of = bed.oruk_service_of if f.kind == "oruk" else bed.oa_service_of
        services += [of(f, i)[0]["key"] for i in range(f.size)]
    records, copies = bed.duplicate_share(RECORDS)
    assert records == len(services) == RECORDS
    assert records - len(set(services)) == copies  # each copy duplicates a listed service, nothing else does
    nominal = bed.ORUK_SHARE * bed.NEIGHBOUR_SHARE / 100 + (1 - bed.ORUK_SHARE) * bed.OA_SHARED_SHARE / 100
    assert abs(copies / records - nominal) < 0.015


@pytest.mark.slow
def test_real_connectors_harvest_v1_v3_and_rpde_feeds_of_the_bed(server, tmp_path):
    sources_file = tmp_path / "sources.yaml"
    sources_file.write_text(requests.get(server.base + "/sources.yaml").text)
    config = load_sources(sources_file)
    fs = {f.id: f for f in bed.feeds(RECORDS)}
    picked = ["council-001", "council-002", "active-001"]  # v3, v1, OpenActive
    assert [fs[p].version for p in picked] == [3, 1, 0]
    state = tmp_path / "state"
    for sid in picked:
        source = config.get(sid)
        report = harvest_source(source, state, "night-1")
        assert report.status == "ok", report.message
        assert report.records_in == fs[sid].size, sid
        report = normalise_source(source, state, report.version, "night-1")
        assert report.status == "ok" and report.records_in == fs[sid].size, (sid, report.message)
    for sid in picked[:2]:  # ORUK: every page answers 304 Not Modified
        assert harvest_source(config.get(sid), state, "night-2").status == "unchanged"
    assert yaml.safe_load(sources_file.read_text())["sources"][0]["per_page"] == 500
