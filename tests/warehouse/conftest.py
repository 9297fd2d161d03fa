"""The gap catalogue of the four sample authorities, built once per session for the gap and
report tests."""
import pytest

from tests.support.gap_catalogue import build_catalogue, generate_services, load_shared_reference
from warehouse.gap import build_gap_tables


@pytest.fixture(scope="session")
def sample_gap_catalogue(tmp_path_factory, fixtures_dir):
    """(build, services, summary): the four authorities' catalogue with its gap tables built."""
    db_path = tmp_path_factory.mktemp("gap") / "placecat.duckdb"
    load_shared_reference(db_path, fixtures_dir)
    services = generate_services(fixtures_dir)
    build = build_catalogue(db_path, services)
    with build.connect() as con:
        summary = build_gap_tables(con, access_km=1.0)
    return build, services, summary
