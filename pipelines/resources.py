"""Resources: where the sources file and the catalogue live, chosen per deployment.

Locally (``dagster dev`` / ``make dagster``) they come from PLACECAT_SOURCES and PLACECAT_DB,
defaulting to the bundled sample; in production the same variables point at real files.
"""
from __future__ import annotations

import os
from pathlib import Path

import dagster as dg

from connectors.config import SourcesConfig, load_sources
from pipelines.unchanged import REBUILD_AFTER_DAYS
from warehouse.state import state_dir_for

SAMPLE_SOURCES = Path(__file__).parent / "sample" / "sources.yaml"


class PlacecatResource(dg.ConfigurableResource):
    """The sources file and the published catalogue database of this deployment."""

    sources_file: str
    db_path: str
    # Rebuild at least this often even when no input changed (pipelines/unchanged.py).
    rebuild_after_days: int = REBUILD_AFTER_DAYS

    def sources(self) -> SourcesConfig:
        return load_sources(self.sources_file)

    @property
    def db(self) -> Path:
        return Path(self.db_path)

    @property
    def state_dir(self) -> Path:
        return state_dir_for(self.db)


def default_sources_file() -> str:
    return os.environ.get("PLACECAT_SOURCES", str(SAMPLE_SOURCES))


def default_db_path() -> str:
    return os.environ.get("PLACECAT_DB", "placecat.duckdb")
