"""The contract between placecat and a kind of source.

A connector is a module (``connectors/<kind>.py``, or a package ``connectors/<kind>/``) that provides::

    INCREMENTAL: bool                      # True: each harvest starts from the last good raw
    def harvest(source, writer, state, ctx) -> HarvestOutcome
    def normalise(source, records, rows) -> None

``harvest`` fetches records as they are and hands them to ``writer.put_raw``; it returns how the
harvest went and the state to keep for next time (ETags, page hashes, RPDE positions).
``normalise`` turns raw records into ORUK v3 staging rows (``rows.add``) and reports every record
it cannot use (``rows.issue``). Neither touches the catalogue database.

``connectors.refresh`` registers each kind's module and wraps the two steps with the rules every
source shares: a harvest that is not complete never replaces the last good snapshot; every
attempt is recorded.
"""
from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from typing import Any, Iterable

log = logging.getLogger("placecat.connectors")

RawRecord = tuple[str, str, str, str]  # record_id, record_type, payload JSON text, fetched_from
# The rule of an issue that quarantines a record the connector could not read at all (a CSV row
# behind a broken quote): a source with any is `degraded` even though its harvest completed.
ROWS_LOST_RULE = "unreadable_row"


class HarvestError(Exception):
    """A source could not be harvested; the message is one line fit for the scorecard."""


@dataclass
class HarvestOutcome:
    status: str  # complete | unchanged | partial | failed
    message: str = ""
    records: int = 0
    pages: int = 0
    state: dict[str, Any] = field(default_factory=dict)
    stats: dict[str, Any] = field(default_factory=dict)


@dataclass
class HarvestContext:
    run_id: str
    full_reread: bool = False
    logger: logging.Logger = log


@dataclass
class SourceReport:
    """How one source went this run; becomes a row of ops.source_status."""

    source_id: str
    kind: str
    status: str  # ok | unchanged | degraded | failed
    message: str = ""
    version: str | None = None  # the pending snapshot to normalise (ok only)
    records_in: int = 0
    records_quarantined: int = 0
    seconds: float = 0.0
    stats: dict[str, Any] = field(default_factory=dict)


def iter_json_records(records: Iterable[RawRecord]):
    """Yield (record_id, record_type, parsed payload, fetched_from) from raw records."""
    for record_id, record_type, payload, fetched_from in records:
        yield record_id, record_type, json.loads(payload), fetched_from
