"""When the nightly job runs: every source at 02:00 Europe/London, then the catalogue.

The schedule asks for one run per source partition (they run in parallel under the run queue's
limits); a sensor starts the cross-source catalogue run once every harvest of that night has
finished, successfully or not, because a failed source is served from its last good snapshot.
"""

import dagster as dg

NIGHT_TAG = "placecat/night"


def build_schedules(source_job, catalogue_job,
                    source_ids: list[str]):
    @dg.schedule(job=source_job, cron_schedule="0 2 * * *", execution_timezone="Europe/London",
                 name="nightly_harvest", description="Harvest every source at 02:00 Europe/London.")
    def nightly_harvest(context: dg.ScheduleEvaluationContext):
        night = context.scheduled_execution_time.strftime("%Y-%m-%d")
        for source_id in source_ids:
            yield dg.RunRequest(run_key=f"{night}:{source_id}", partition_key=source_id,
                                tags={NIGHT_TAG: night})

    @dg.sensor(job=catalogue_job, minimum_interval_seconds=60, name="catalogue_after_harvest",
               default_status=dg.DefaultSensorStatus.RUNNING,
               description="Build and publish the catalogue once all of a night's harvest runs have finished.")
    def catalogue_after_harvest(context: dg.SensorEvaluationContext):
        runs = context.instance.get_runs(filters=dg.RunsFilter(job_name=source_job.name), limit=1000)
        nights: dict[str, list] = {}
        for run in runs:
            night = run.tags.get(NIGHT_TAG)
            if night:
                nights.setdefault(night, []).append(run)
        if not nights:
            return dg.SkipReason("no nightly harvest runs yet")
        latest = max(nights)
        pending = [r for r in nights[latest] if not r.is_finished]
        if pending:
            return dg.SkipReason(f"{len(pending)} harvest run(s) of {latest} still going")
        return dg.RunRequest(run_key=f"catalogue:{latest}", tags={NIGHT_TAG: latest})

    return [nightly_harvest], [catalogue_after_harvest]
