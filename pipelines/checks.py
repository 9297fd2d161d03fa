"""Asset checks. A blocking check that fails stops the catalogue from being published.

Each catalogue invariant is defined once, as an expectation of the Great Expectations suites in
``quality/expectations.py``, which the quality stage runs and stores; the checks here only report
the stored results (the two named invariant checks pick their parts of the catalogue suite).
"""

import dagster as dg

from pipelines.assets import catalogue, quality_issues, staging
from pipelines.resources import PlacecatResource
from quality.expectations import stored_outcomes
from warehouse.build import Build


@dg.asset_check(asset=staging, description="Every enabled source has a snapshot in force (warning: a failed source is served from its last good snapshot, or missing).")
def sources_have_snapshots(context: dg.AssetCheckExecutionContext, placecat: PlacecatResource) -> dg.AssetCheckResult:
    with Build(placecat.db, context.run.run_id).connect(read_only=True) as con:
        missing = [r[0] for r in con.execute(
            "SELECT source_id FROM ops.source_status WHERE run_id = ? AND snapshot_version IS NULL",
            [context.run.run_id]).fetchall()]
    return dg.AssetCheckResult(passed=not missing, severity=dg.AssetCheckSeverity.WARN,
                               metadata={"sources_without_data": dg.MetadataValue.json(missing)})


def _suite_result(placecat: PlacecatResource, run_id: str, stage: str, severity: str,
                  suites: tuple[str, ...] | None = None) -> dg.AssetCheckResult:
    """Report the stored GX results of one stage's suite at one severity (quality.expectation_result),
    or of only some of its parts (``suites``, e.g. ``catalogue.membership``)."""
    with Build(placecat.db, run_id).connect(read_only=True) as con:
        outcomes = [o for o in stored_outcomes(con, run_id, stage)
                    if o.severity == severity and (suites is None or o.suite in suites)]
    failed = [f"{o.suite} {o.expectation}({o.column or ''}): {o.exception or f'{o.unexpected_count} unexpected'}"
              for o in outcomes if not o.success]
    return dg.AssetCheckResult(
        passed=bool(outcomes) and not failed,
        severity=dg.AssetCheckSeverity.ERROR if severity == "blocking" else dg.AssetCheckSeverity.WARN,
        metadata={"expectations": len(outcomes), "failed": len(failed),
                  "failures": dg.MetadataValue.json(failed[:50])})


@dg.asset_check(asset=quality_issues, blocking=True,
                description="Staging GX suite, blocking part: every record left in after quarantine passes every blocking expectation.")
def staging_suite_blocking(context: dg.AssetCheckExecutionContext, placecat: PlacecatResource) -> dg.AssetCheckResult:
    return _suite_result(placecat, context.run.run_id, "staging", "blocking")


@dg.asset_check(asset=quality_issues,
                description="Staging GX suite, warnings: formats, enumerations, ages, dates, places (recorded; records stay in, flagged).")
def staging_suite_warnings(context: dg.AssetCheckExecutionContext, placecat: PlacecatResource) -> dg.AssetCheckResult:
    return _suite_result(placecat, context.run.run_id, "staging", "warning")


@dg.asset_check(asset=catalogue, blocking=True,
                description="Every non-quarantined staging service is in exactly one golden service.")
def every_record_in_one_cluster(context: dg.AssetCheckExecutionContext, placecat: PlacecatResource) -> dg.AssetCheckResult:
    return _suite_result(placecat, context.run.run_id, "catalogue", "blocking", ("catalogue.membership",))


@dg.asset_check(asset=catalogue, blocking=True,
                description="Golden service ids are unique UUIDs and no catalogue row points at a missing parent.")
def golden_ids_and_keys(context: dg.AssetCheckExecutionContext, placecat: PlacecatResource) -> dg.AssetCheckResult:
    return _suite_result(placecat, context.run.run_id, "catalogue", "blocking",
                         ("catalogue.golden_id", "catalogue.foreign_key"))


@dg.asset_check(asset=catalogue, blocking=True,
                description="Catalogue GX suite: one cluster per record, no dangling keys, unique stable golden ids, "
                            "nothing quarantined published, no personal data left in catalogue.*.")
def catalogue_suite(context: dg.AssetCheckExecutionContext, placecat: PlacecatResource) -> dg.AssetCheckResult:
    return _suite_result(placecat, context.run.run_id, "catalogue", "blocking")


ALL_CHECKS = [sources_have_snapshots, every_record_in_one_cluster, golden_ids_and_keys,
              staging_suite_blocking, staging_suite_warnings, catalogue_suite]
