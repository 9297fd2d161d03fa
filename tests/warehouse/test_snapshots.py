"""A source's snapshot files: an unchanged or failed harvest leaves nothing behind."""
from pathlib import Path

from warehouse.snapshots import SourceStore


def snapshot_files(store: SourceStore) -> list[str]:
    return sorted(p.name for p in store.snapshots.iterdir())


def test_a_harvest_that_writes_nothing_makes_no_snapshot_file(tmp_path: Path):
    store = SourceStore(tmp_path, "leeds")
    first = store.begin()
    first.put_raw("s1", "service", {"id": "s1", "name": "Aquafit"}, "http://x/services")
    assert first.raw_count() == 1
    first.commit()
    assert snapshot_files(store) == [f"{first.version}.duckdb"]

    # An unchanged night (RPDE: the harvest starts from the last good raw records): no file is made,
    # nothing is copied, and the last good snapshot stays in force.
    unchanged = store.begin(carry_forward_raw=True)
    assert snapshot_files(store) == [f"{first.version}.duckdb"]   # no file while nothing was written
    unchanged.abandon()
    assert snapshot_files(store) == [f"{first.version}.duckdb"]
    assert store.current().version == first.version


def test_a_carried_forward_harvest_starts_from_the_last_good_raw_records(tmp_path: Path):
    store = SourceStore(tmp_path, "oa")
    first = store.begin()
    for n in range(3):
        first.put_raw(f"s{n}", "session", {"id": n}, "http://x/feed")
    first.raw_count()
    first.commit()
    nxt = store.begin(carry_forward_raw=True)
    nxt.put_raw("s3", "session", {"id": 3}, "http://x/feed?afterId=s2")
    assert nxt.raw_count() == 4
    nxt.delete_raw("s0")
    assert sorted(r[0] for r in nxt.iter_raw()) == ["s1", "s2", "s3"]
    nxt.abandon()


def test_snapshot_metadata_is_read_again_after_any_write_to_the_file(tmp_path: Path):
    import json
    import os

    import duckdb

    store = SourceStore(tmp_path, "leeds")
    w = store.begin()
    w.put_raw("s1", "service", {"id": "s1"}, "http://x/services")
    w.set_meta(records_in=1)
    w.commit()
    assert store.current().meta["records_in"] == 1
    path = store.current().path
    st = path.stat()
    with duckdb.connect(str(path)) as con:   # an edit that keeps the size and puts the modification time back
        con.execute("UPDATE meta.info SET value = ? WHERE key = 'records_in'", [json.dumps(2)])
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert store.current().meta["records_in"] == 2
