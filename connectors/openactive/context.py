"""What the mapping of one OpenActive feed carries from item to item: the staging rows, the activity
list, the date it maps as of, and the rows many services share (added once).
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from connectors.openactive.activities import ActivityList
from connectors.staging import StagingRows


# -- mapping ----------------------------------------------------------------------------------------
@dataclass
class MappingContext:
    rows: StagingRows
    activities: ActivityList | None
    as_of: dt.datetime
    shared: dict = field(default_factory=dict)  # (table, record id) -> staging id of rows many services share

    def add_shared(self, table: str, record_id: str, values: dict, root: str) -> str:
        """Add a row many services point at (taxonomy, term, organisation, location) once."""
        key = (table, record_id)
        hit = self.shared.get(key)
        if hit is None:
            hit = self.shared[key] = self.rows.add(table, record_id, values, root_record_id=root)
        return hit

    @property
    def source_id(self) -> str:
        return self.rows.source_id
