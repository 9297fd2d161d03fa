"""The sources file: which directories placecat harvests each night.

``load_sources(path)`` validates the whole file and raises ``ConfigError`` with one line that
names the file, the source and the field at fault, and says what to do. Nothing else in
placecat reads the YAML directly.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

KINDS = ("oruk", "openactive", "spreadsheet", "sql")
ROLES = ("owner", "regulator", "assurer", "none")
SOURCE_ID_RE = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$")

# Fields every source may carry.
COMMON_FIELDS = {
    "id", "kind", "url", "path", "publisher", "role", "enabled", "max_stale_days",
    "description", "area",
}
# Fields each kind adds. Connectors read these through `Source.options`.
KIND_FIELDS: dict[str, set[str]] = {
    "oruk": {"version", "per_page", "max_pages", "concurrency", "rate_limit",
             "time_budget", "timeout", "detail_fetch", "headers"},
    "openactive": {"feeds", "activity_list", "full_reread", "concurrency", "rate_limit",
                   "time_budget", "timeout", "max_pages", "headers", "feed_kinds", "as_of"},
    "spreadsheet": {"mapping", "sheet", "header_row", "encoding", "delimiter", "pattern",
                    "max_bytes", "max_rows"},
    "sql": {"mapping", "query", "table", "chunk_size", "credentials_env"},
}
# Which of url/path each kind needs (at least one of them).
LOCATOR_REQUIRED = {"oruk": ("url", "path"), "openactive": ("url", "feeds", "path"),
                    "spreadsheet": ("path", "url"), "sql": ("url",)}


class ConfigError(ValueError):
    """A mistake in a user's configuration; its message is one line, fit to print as is."""


@dataclass(frozen=True)
class Source:
    id: str
    kind: str
    publisher: str
    role: str = "none"
    url: str | None = None
    path: Path | None = None
    enabled: bool = True
    max_stale_days: int = 14
    options: dict[str, Any] = field(default_factory=dict)
    sources_file: Path | None = None

    @property
    def locator(self) -> str:
        """Where the data comes from, for messages."""
        return self.url or str(self.path)

    def option(self, name: str, default: Any = None) -> Any:
        return self.options.get(name, default)

    def resolve(self, relative: str) -> Path:
        """A path written in the sources file, resolved against that file's folder."""
        p = Path(os.path.expanduser(relative))
        if not p.is_absolute() and self.sources_file is not None:
            p = self.sources_file.parent / p
        return p


@dataclass(frozen=True)
class SourcesConfig:
    path: Path
    sources: list[Source]

    def get(self, source_id: str) -> Source:
        for s in self.sources:
            if s.id == source_id:
                return s
        raise ConfigError(f"{self.path}: no source with id '{source_id}'")

    @property
    def enabled(self) -> list[Source]:
        return [s for s in self.sources if s.enabled]


def _preset_role(mapping: object) -> str | None:
    """Regulators' exports (mapping: preset:cqc_care_directory) get their preset's role by default."""
    from connectors.mapping import preset_role  # lazy: mapping imports this module

    return preset_role(mapping)


def _is_url(value: str) -> bool:
    return bool(re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*://", value))


def load_sources(path: str | os.PathLike) -> SourcesConfig:
    path = Path(path)
    if not path.exists():
        raise ConfigError(f"{path}: sources file not found; pass --sources with the path of your sources YAML")
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError(f"{path}:{where}: not valid YAML ({problem}); fix the indentation or quoting there") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not UTF-8 text; save the sources file as UTF-8") from None
    if not isinstance(doc, dict) or "sources" not in doc:
        raise ConfigError(f"{path}: expected a top-level 'sources:' list")
    entries = doc["sources"]
    if not isinstance(entries, list) or not entries:
        raise ConfigError(f"{path}: 'sources:' must be a non-empty list of sources")
    unknown_top = set(doc) - {"sources", "defaults"}
    if unknown_top:
        raise ConfigError(f"{path}: unknown top-level key '{sorted(unknown_top)[0]}'; only 'sources' and 'defaults' are allowed")
    defaults = doc.get("defaults") or {}
    if not isinstance(defaults, dict):
        raise ConfigError(f"{path}: 'defaults:' must be a mapping")

    sources: list[Source] = []
    seen: set[str] = set()
    for n, entry in enumerate(entries, start=1):
        src = _parse_source(path, n, entry, defaults)
        if src.id in seen:
            raise ConfigError(f"{path}: source '{src.id}' (entry {n}): field 'id': duplicate id; every source needs its own id")
        seen.add(src.id)
        sources.append(src)
    return SourcesConfig(path=path, sources=sources)


def _parse_source(path: Path, n: int, entry: Any, defaults: dict) -> Source:
    if not isinstance(entry, dict):
        raise ConfigError(f"{path}: entry {n}: expected a mapping with id, kind, url or path, publisher and role")
    raw_id = entry.get("id")
    label = f"source '{raw_id}' (entry {n})" if raw_id else f"entry {n}"

    def fail(fieldname: str, what: str) -> ConfigError:
        return ConfigError(f"{path}: {label}: field '{fieldname}': {what}")

    if raw_id is None:
        raise fail("id", "missing; give each source a unique id of lower-case letters, digits and hyphens")
    if not isinstance(raw_id, str) or not SOURCE_ID_RE.match(raw_id):
        raise fail("id", f"'{raw_id}' is not valid; use lower-case letters, digits and hyphens (e.g. leeds-council)")
    kind = entry.get("kind")
    if kind not in KINDS:
        what = "missing" if kind is None else f"'{kind}' is not a known kind"
        raise fail("kind", f"{what}; use one of {', '.join(KINDS)}")
    allowed = COMMON_FIELDS | KIND_FIELDS[kind]
    for key in entry:
        if key not in allowed:
            raise fail(key, f"unknown for kind '{kind}'; allowed fields are {', '.join(sorted(allowed))}")
    publisher = entry.get("publisher")
    if not isinstance(publisher, str) or not publisher.strip():
        raise fail("publisher", "missing; name the organisation that publishes this directory")
    role = entry.get("role", _preset_role(entry.get("mapping")) or defaults.get("role", "none"))
    if role not in ROLES:
        raise fail("role", f"'{role}' is not a provenance role; use one of {', '.join(ROLES)}")

    url = entry.get("url")
    raw_path = entry.get("path")
    if url is not None and (not isinstance(url, str) or not url.strip()):
        raise fail("url", "must be a non-empty string")
    if raw_path is not None and (not isinstance(raw_path, str) or not raw_path.strip()):
        raise fail("path", "must be a non-empty string")
    needs = LOCATOR_REQUIRED[kind]
    if not any(entry.get(k) for k in needs):
        raise fail(needs[0], f"missing; a '{kind}' source needs one of {', '.join(needs)}")
    src_path: Path | None = None
    if url and not _is_url(url):
        if kind == "sql":
            raise fail("url", f"'{url}' is not an SQLAlchemy URL (e.g. postgresql+psycopg://host/db)")
        # A local path given as url: treat it as a path (convenient for file-based feeds).
        raw_path, url = url, None
    if url and kind == "sql" and re.search(r"://[^/@]*:(?!\$\{\w+\}@)[^/@]+@", url):
        raise fail("url", "contains a password; put credentials in an environment variable and use ${VAR} in the URL")
    if raw_path:
        p = Path(os.path.expanduser(raw_path))
        if not p.is_absolute():
            p = path.parent / p
        if not p.exists() and kind not in ("spreadsheet",):
            raise fail("path", f"'{raw_path}' does not exist (resolved to {p}); check the path, relative to {path.parent}")
        src_path = p

    if kind in ("spreadsheet", "sql"):
        if not entry.get("mapping"):
            raise fail("mapping", "missing; a spreadsheet or sql source needs a mapping file (see `placecat mapping suggest`)")
        if kind == "sql" and not (entry.get("query") or entry.get("table")):
            raise fail("table", "missing; a sql source needs 'table:' or 'query:'")
    if kind == "oruk" and "version" in entry and entry["version"] not in (1, 3):
        raise fail("version", f"'{entry['version']}' is not supported; use 1 or 3, or leave it out to detect it")
    if kind == "openactive":
        for name in ("feeds", "feed_kinds"):
            v = entry.get(name)
            if v is not None and not (isinstance(v, list) and v and all(isinstance(x, str) and x.strip() for x in v)):
                raise fail(name, "must be a list of strings (e.g. [https://example.org/feeds/session-series])")
        for u in entry.get("feeds") or []:
            if not _is_url(u):
                raise fail("feeds", f"'{u}' is not a URL; list RPDE feed URLs starting with https://")

    enabled = entry.get("enabled", True)
    if not isinstance(enabled, bool):
        raise fail("enabled", "must be true or false")
    max_stale = entry.get("max_stale_days", defaults.get("max_stale_days", 14))
    if not isinstance(max_stale, int) or isinstance(max_stale, bool) or max_stale < 0:
        raise fail("max_stale_days", "must be a whole number of days (0 or more)")

    options = {k: v for k, v in defaults.items() if k in KIND_FIELDS[kind]}
    options.update({k: v for k, v in entry.items() if k not in COMMON_FIELDS})
    return Source(
        id=raw_id, kind=kind, publisher=publisher.strip(), role=role, url=url, path=src_path,
        enabled=enabled, max_stale_days=max_stale, options=options, sources_file=path.resolve(),
    )
