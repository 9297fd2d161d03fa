"""Assets of the nightly job. Each one only calls a plain function from the stage modules.

Per source (one partition per source): raw_harvest -> source_staging.
Across sources: staging -> quality_issues -> service_matches -> catalogue -> service_types -> gap_tables
-> published_catalogue.
"""

import dagster as dg

from connectors.dropfolder import FILE_TAG, source_for_file
from connectors.refresh import harvest_source, normalise_source
from pipelines import stages, unchanged
from pipelines.resources import PlacecatResource

# A run with this tag builds the catalogue whatever its inputs (`placecat run` decides before it starts).
FULL_BUILD_TAG = "placecat/full_build"

GROUP_SOURCES = "sources"
GROUP_CATALOGUE = "catalogue"


def build_source_assets(partitions: dg.PartitionsDefinition) -> list[dg.AssetsDefinition]:
    @dg.asset(partitions_def=partitions, group_name=GROUP_SOURCES, compute_kind="python",
              description="Harvest one source as fetched into a pending snapshot (raw.record).")
    def raw_harvest(context: dg.AssetExecutionContext, placecat: PlacecatResource) -> dict:
        # A file dropped in the inbox (pipelines/sensors.py) is read instead of the source's own path.
        source = source_for_file(placecat.sources().get(context.partition_key), context.run.tags.get(FILE_TAG))
        full = bool(context.run.tags.get("placecat/full_reread"))
        report = harvest_source(source, placecat.state_dir, context.run_id, full_reread=full)
        context.add_output_metadata({"status": report.status, "records": report.records_in,
                                     "message": report.message or "", "seconds": round(report.seconds, 2)})
        if report.status in ("failed", "degraded"):
            raise dg.Failure(description=f"{source.id}: {report.message}",
                             metadata={"status": report.status})
        return report.__dict__

    @dg.asset(partitions_def=partitions, group_name=GROUP_SOURCES, compute_kind="python",
              description="Normalise the harvest to ORUK v3 staging rows and promote it as the source's last good snapshot.")
    def source_staging(context: dg.AssetExecutionContext, placecat: PlacecatResource, raw_harvest: dict) -> dict:
        if raw_harvest["status"] != "ok":
            context.add_output_metadata({"status": raw_harvest["status"]})
            return raw_harvest
        source = placecat.sources().get(context.partition_key)
        report = normalise_source(source, placecat.state_dir, raw_harvest["version"], context.run_id)
        context.add_output_metadata({"status": report.status, "services": report.records_in,
                                     "quarantined": report.records_quarantined})
        if report.status == "failed":
            raise dg.Failure(description=f"{source.id}: {report.message}")
        return report.__dict__

    return [raw_harvest, source_staging]


@dg.asset(deps=["source_staging"], group_name=GROUP_CATALOGUE, compute_kind="duckdb", output_required=False,
          description="Every source's last good snapshot loaded into staging.* of this run's catalogue build. "
                      "Not materialised (and nothing downstream runs) on a night when no input of the published "
                      "catalogue changed: that night's run, source statuses and scorecard are recorded instead.")
def staging(context: dg.AssetExecutionContext, placecat: PlacecatResource):
    if not context.run.tags.get(FULL_BUILD_TAG):
        decision = unchanged.decide(placecat.sources(), placecat.db, rebuild_after_days=placecat.rebuild_after_days)
        if decision.skip:
            unchanged.record_unchanged_night(placecat.db, context.run_id, decision, {"dagster_run_id": context.run_id})
            context.log.info(f"catalogue not rebuilt: {decision.reason}; serving run {decision.built_by}'s build")
            return
        context.log.info(f"catalogue rebuilt: {decision.reason}")
    out = stages.stage_sources(placecat.db, context.run_id, placecat.sources())
    statuses = {s["source_id"]: s["status"] for s in out["sources"]}
    yield dg.MaterializeResult(metadata={"staging_services": out["staging_services"],
                                         "source_status": dg.MetadataValue.json(statuses)})


@dg.asset(deps=[staging], group_name=GROUP_CATALOGUE, compute_kind="duckdb",
          description="Record-level quality rules; failing records go to quality.issue and blocking ones to quarantine.")
def quality_issues(context: dg.AssetExecutionContext, placecat: PlacecatResource) -> dg.MaterializeResult:
    out = stages.check_staging(placecat.db, context.run_id)
    return dg.MaterializeResult(metadata={"quarantined": out["quarantined"],
                                          "rule_failures": dg.MetadataValue.json(out["rule_failures"])})


@dg.asset(deps=[quality_issues], group_name=GROUP_CATALOGUE, compute_kind="duckdb",
          description="Clusters of staging services that are the same real service.")
def service_matches(context: dg.AssetExecutionContext, placecat: PlacecatResource) -> dg.MaterializeResult:
    out = stages.match_services(placecat.db, context.run_id, sources_file=placecat.sources_file)
    return dg.MaterializeResult(metadata=out)


@dg.asset(deps=[service_matches], group_name=GROUP_CATALOGUE, compute_kind="duckdb",
          description="Golden records (catalogue.*), with survivorship, conflicts and the trust register.")
def catalogue(context: dg.AssetExecutionContext, placecat: PlacecatResource) -> dg.MaterializeResult:
    out = stages.build_catalogue(placecat.db, context.run_id)
    return dg.MaterializeResult(metadata=out)


@dg.asset(deps=[catalogue], group_name=GROUP_CATALOGUE, compute_kind="python",
          description="Every golden service classified to LGA (esd) service types (catalogue.service_type).")
def service_types(context: dg.AssetExecutionContext, placecat: PlacecatResource) -> dg.MaterializeResult:
    return dg.MaterializeResult(metadata=stages.classify_services(placecat.db, context.run_id))


@dg.asset(deps=[service_types], group_name=GROUP_CATALOGUE, compute_kind="duckdb",
          description="Gap analysis tables (gap.*).")
def gap_tables(context: dg.AssetExecutionContext, placecat: PlacecatResource) -> dg.MaterializeResult:
    return dg.MaterializeResult(metadata=stages.build_gaps(placecat.db, context.run_id))


@dg.asset(deps=[gap_tables], group_name=GROUP_CATALOGUE, compute_kind="duckdb",
          description="The change feed, then the build swapped in atomically as the published catalogue.")
def published_catalogue(context: dg.AssetExecutionContext, placecat: PlacecatResource) -> dg.MaterializeResult:
    out = stages.publish_catalogue(placecat.db, context.run_id, {"dagster_run_id": context.run_id})
    return dg.MaterializeResult(metadata={"golden_services": out["golden_services"],
                                          "changes": dg.MetadataValue.json(out["changes"]),
                                          "db": out["db"]})


CROSS_SOURCE_ASSETS = [staging, quality_issues, service_matches, catalogue, service_types, gap_tables,
                       published_catalogue]
