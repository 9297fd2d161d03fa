"""The drop-folder sensor: a spreadsheet saved into the inbox starts a run of its source.

The inbox is ``PLACECAT_INBOX`` (or the ``inbox`` given to ``build_dropfolder_sensor``). Each tick
looks at it once (``connectors/dropfolder.py`` decides and moves the files) and asks for one run of
``source_job`` per complete, matching file: partition = the source, run key = the file's name,
size and modification time (so a file is processed once), and the archived file's path in the
``placecat/file`` tag, which ``raw_harvest`` reads instead of the source's own path.
"""

import json

import dagster as dg

from connectors.dropfolder import inbox_dir, process_inbox, run_tags

SENSOR_NAME = "inbox_files"


def build_dropfolder_sensor(source_job, sources, inbox: str | None = None) -> dg.SensorDefinition:
    """``sources``: the sources file's Source objects (those with a ``pattern:`` are watched)."""
    configured = inbox_dir(inbox)

    @dg.sensor(job=source_job, name=SENSOR_NAME, minimum_interval_seconds=30,
               default_status=dg.DefaultSensorStatus.RUNNING if configured else dg.DefaultSensorStatus.STOPPED,
               description="Load spreadsheets saved into the inbox folder (PLACECAT_INBOX): one run of the "
                           "matching source per new or changed file.")
    def inbox_files(context: dg.SensorEvaluationContext):
        folder = inbox_dir(inbox)
        if folder is None:
            return dg.SkipReason("no inbox folder configured; set PLACECAT_INBOX")
        if not folder.is_dir():
            return dg.SkipReason(f"inbox folder {folder} does not exist")
        previous = json.loads(context.cursor) if context.cursor else {}
        decisions, pending = process_inbox(folder, sources, previous)
        for d in decisions:
            if d.action == "reject":
                context.log.warning(f"rejected {d.name}: {d.reason}")
        requests = [dg.RunRequest(run_key=d.run_key, partition_key=d.source_id, tags=run_tags(d))
                    for d in decisions if d.action == "run"]
        return dg.SensorResult(run_requests=requests, cursor=json.dumps(pending, sort_keys=True))

    return inbox_files
