"""Mapping presets: the mapping files shipped for regulators' exports (``connectors/presets/*.yaml``),
named in a sources file as ``mapping: preset:NAME``.

The sources file (``connectors/config.py``) reads a preset's default provenance ``role`` from here;
the mapping itself is loaded by ``connectors/mapping.py``.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

PRESETS_DIR = Path(__file__).parent / "presets"


def preset_path(name: str) -> Path:
    return PRESETS_DIR / f"{name}.yaml"


def available_presets() -> list[str]:
    return sorted(p.stem for p in PRESETS_DIR.glob("*.yaml"))


def preset_role(ref: Any) -> str | None:
    """The provenance role a preset gives its sources by default (regulators' exports); None for a
    mapping that is not a preset, or a preset that does not exist (loading it names the mistake)."""
    if not isinstance(ref, str) or not ref.strip().startswith("preset:"):
        return None
    try:
        doc = yaml.safe_load(preset_path(ref.split(":", 1)[1].strip()).read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError):
        return None
    return doc.get("role") if isinstance(doc, dict) else None
