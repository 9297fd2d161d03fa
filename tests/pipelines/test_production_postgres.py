"""The production set-up for real: pipelines/deploy/dagster.yaml on the PostgreSQL at 127.0.0.1,
placecat's own jobs run by Dagster's multiprocess executor (each step in its own process).

The test creates a database of its own (dropped afterwards), points DAGSTER_HOME at a folder holding
a copy of the deployment's dagster.yaml, and runs one `source_job` run per source partition, then
`catalogue_job`, with `execute_job` on reconstructable definitions, as the daemon would.
"""
import os
import shutil
import uuid

import dagster as dg
import duckdb
import pytest

from tests.support.environment import REPO, require_service
from tests.support.nights import copy_sample

DEPLOY_YAML = REPO / "pipelines" / "deploy" / "dagster.yaml"


def source_job():
    from pipelines.definitions import build_definitions
    return build_definitions().resolve_job_def("source_job")


def catalogue_job():
    from pipelines.definitions import build_definitions
    return build_definitions().resolve_job_def("catalogue_job")


@pytest.fixture
def postgres_database():
    require_service("postgresql", "127.0.0.1", 5432)
    import psycopg

    name = f"placecat_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect("host=127.0.0.1 port=5432 user=postgres dbname=test", autocommit=True) as con:
        con.execute(f"CREATE DATABASE {name}")
    yield name
    with psycopg.connect("host=127.0.0.1 port=5432 user=postgres dbname=test", autocommit=True) as con:
        con.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@pytest.mark.slow
@pytest.mark.postgres
def test_jobs_run_under_the_multiprocess_executor_with_postgres_storage(tmp_path, monkeypatch, postgres_database):
    import psycopg

    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(DEPLOY_YAML, home / "dagster.yaml")
    sources = copy_sample(tmp_path)
    db = tmp_path / "out" / "placecat.duckdb"
    for key, value in {"DAGSTER_HOME": str(home), "DAGSTER_PG_HOST": "127.0.0.1", "DAGSTER_PG_PORT": "5432",
                       "DAGSTER_PG_USER": "postgres", "DAGSTER_PG_PASSWORD": "", "DAGSTER_PG_DB": postgres_database,
                       "DAGSTER_COMPUTE_LOG_DIR": str(tmp_path / "compute_logs"),
                       "PLACECAT_SOURCES": str(sources), "PLACECAT_DB": str(db)}.items():
        monkeypatch.setenv(key, value)
    monkeypatch.chdir(REPO)

    with dg.DagsterInstance.get() as instance:
        assert type(instance.run_storage).__name__ == "PostgresRunStorage"
        assert type(instance.event_log_storage).__name__ == "PostgresEventLogStorage"
        assert instance.run_monitoring_enabled and instance.run_retries_enabled
        limits = instance.get_concurrency_config().run_queue_config.tag_concurrency_limits
        assert {"key": "placecat/stage", "value": "catalogue", "limit": 1} in limits

        run_ids = []
        # One source partition the way the daemon runs it (multiprocess, reconstructed in workers);
        # the other two in-process, to keep the test short. All three runs land in PostgreSQL.
        result = dg.execute_job(dg.reconstructable(source_job), instance=instance,
                                tags={"dagster/partition": "leeds-council"})
        assert result.success
        run_ids.append(result.run_id)
        for sid in ("leeds-nhs-directory", "leeds-vcs-directory"):
            result = source_job().execute_in_process(partition_key=sid, instance=instance)
            assert result.success, sid
            run_ids.append(result.run_id)
        result = dg.execute_job(dg.reconstructable(catalogue_job), instance=instance)
        assert result.success
        run_ids.append(result.run_id)

        # The steps ran in worker processes started by the multiprocess executor, not in this one.
        step_pids = {e.dagster_event.pid for e in instance.all_logs(result.run_id) if e.dagster_event
                     and e.dagster_event.event_type_value == "STEP_SUCCESS"}
        assert step_pids and os.getpid() not in step_pids
        engine = [e.message for e in instance.all_logs(result.run_id)
                  if e.dagster_event and e.dagster_event.event_type_value == "ENGINE_EVENT"]
        assert any("multiprocess executor" in (m or "").lower() for m in engine), engine
        assert result.dagster_run.tags["placecat/stage"] == "catalogue"

    # The runs and their events are in PostgreSQL, where the webserver and daemon would find them.
    with psycopg.connect(f"host=127.0.0.1 port=5432 user=postgres dbname={postgres_database}") as con:
        stored = dict(con.execute("SELECT run_id, status FROM runs").fetchall())
        events = con.execute("SELECT count(*) FROM event_logs WHERE run_id = %s", [run_ids[-1]]).fetchone()[0]
    assert {r: stored.get(r) for r in run_ids} == {r: "SUCCESS" for r in run_ids}
    assert events > 10

    with duckdb.connect(str(db), read_only=True) as con:
        sources_served = {r[0] for r in con.execute("SELECT DISTINCT source_id FROM catalogue.service_source").fetchall()}
        golden = con.execute("SELECT count(*) FROM catalogue.service").fetchone()[0]
    assert sources_served == {"leeds-council", "leeds-nhs-directory", "leeds-vcs-directory"}
    assert 0 < golden < 33
