"""placecat's Dagster definitions. This module only assembles; the logic lives in the stage modules."""
from __future__ import annotations

import dagster as dg

from connectors.config import load_sources
from pipelines.assets import CROSS_SOURCE_ASSETS, build_source_assets
from pipelines.checks import ALL_CHECKS
from pipelines.resources import PlacecatResource, default_db_path, default_sources_file
from pipelines.schedules import build_schedules
from pipelines.sensors import build_dropfolder_sensor


# Each step runs in its own process; a forkserver that has already imported placecat's stages
# starts them in well under a second instead of re-importing Dagster for every step.
FORKSERVER = {"forkserver": {"preload_modules": ["dagster", "pipelines.assets", "pipelines.checks"]}}


def build_definitions(sources_file: str | None = None, db_path: str | None = None) -> dg.Definitions:
    sources_file = sources_file or default_sources_file()
    config = load_sources(sources_file)
    source_ids = [s.id for s in config.enabled]
    partitions = dg.StaticPartitionsDefinition(source_ids)
    source_assets = build_source_assets(partitions)

    source_job = dg.define_asset_job("source_job", selection=dg.AssetSelection.assets(*source_assets),
                                     partitions_def=partitions, tags={"placecat/stage": "source"},
                                     description="Harvest and normalise one source (one partition per source).")
    # The tags feed the run queue limits of pipelines/deploy/dagster.yaml (one catalogue build at a
    # time); a retried catalogue run must start a new build, not resume the failed run's steps.
    catalogue_job = dg.define_asset_job("catalogue_job", selection=dg.AssetSelection.assets(*CROSS_SOURCE_ASSETS),
                                        tags={"placecat/stage": "catalogue", "dagster/retry_strategy": "ALL_STEPS"},
                                        # Every step opens this run's one build file, and DuckDB lets one
                                        # process at a time write it (readers in other processes are refused
                                        # too): run the steps one after another, each in its own process.
                                        executor_def=dg.multiprocess_executor.configured({
                                            "max_concurrent": 1, "start_method": FORKSERVER}),
                                        description="Match, build, check and publish the catalogue from every source's last good snapshot.")
    schedules, sensors = build_schedules(source_job, catalogue_job, source_ids)
    return dg.Definitions(
        assets=[*source_assets, *CROSS_SOURCE_ASSETS],
        asset_checks=ALL_CHECKS,
        jobs=[source_job, catalogue_job],
        schedules=schedules,
        sensors=[*sensors, build_dropfolder_sensor(source_job, config.enabled)],
        resources={"placecat": PlacecatResource(sources_file=str(sources_file), db_path=db_path or default_db_path())},
        executor=dg.multiprocess_executor.configured({"max_concurrent": 4, "start_method": FORKSERVER}),
    )


defs = build_definitions()
