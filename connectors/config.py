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

from connectors.presets import preset_role

KINDS = ("oruk", "openactive", "spreadsheet", "sql")
ROLES = ("owner", "regulator", "assurer", "none")
SOURCE_ID_RE = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$")

# Fields every source may carry.
COMMON_FIELDS = {
    "id", "kind", "url", "path", "publisher", "role", "enabled", "max_stale_days",
    "description", "area", "licence", "attribution",
    # the shrink guard (connectors/shrink.py): the largest fall published unasked, and its override
    "max_shrink", "accept_shrink",
}
# Common fields that are read through `Source.options` like the kinds' own (and may be defaults).
SOURCE_OPTIONS = {"max_shrink", "accept_shrink"}
# Fields each kind adds. Connectors read these through `Source.options`.
KIND_FIELDS: dict[str, set[str]] = {
    "oruk": {"version", "per_page", "max_pages", "concurrency", "rate_limit",
             "time_budget", "timeout", "request_timeout", "detail_fetch", "headers"},
    "openactive": {"feeds", "activity_list", "full_reread", "concurrency", "rate_limit",
                   "time_budget", "timeout", "request_timeout", "max_pages", "headers", "feed_kinds", "as_of"},
    "spreadsheet": {"mapping", "sheet", "header_row", "encoding", "delimiter", "pattern",
                    "max_bytes", "max_rows", "concurrency", "rate_limit", "time_budget", "timeout",
                    "request_timeout", "headers"},
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
    licence: str | None = None       # what the publisher grants (a URL or a name such as OGL-UK-3.0)
    attribution: str | None = None   # the words it asks republishers to show

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



def _is_url(value: str) -> bool:
    return bool(re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*://", value))


# -- every option's type and range ---------------------------------------------------------------
# Checked when the file is loaded, before any harvest: a bad value used to crash the harvest
# (`per_page: lots`) or be used as it stood (a negative time budget). Each rule returns None for a
# good value, else what is wrong and what to give, for one line naming the source and the field.
def _number(low: float, high: float, whole: bool, unit: str = ""):
    kind = "a whole number" if whole else "a number"
    unit = f" {unit}" if unit else ""

    def check(v: Any) -> str | None:
        if isinstance(v, bool) or not isinstance(v, (int, float)) or (whole and not isinstance(v, int)):
            return f"{v!r} is not {kind}; give {kind}{unit} from {low:g} to {high:g}"
        if v != v or not low <= v <= high:  # v != v: NaN
            return f"{v!r} is out of range; give {kind}{unit} from {low:g} to {high:g}"
        return None
    return check


def _positive(high: float, unit: str):
    """A number of seconds (or similar) above 0."""
    def check(v: Any) -> str | None:
        if isinstance(v, bool) or not isinstance(v, (int, float)) or v != v:
            return f"{v!r} is not a number; give a number of {unit} above 0 (at most {high:g})"
        if not 0 < v <= high:
            return f"{v!r} is out of range; give a number of {unit} above 0 (at most {high:g})"
        return None
    return check


def _text(v: Any) -> str | None:
    return None if isinstance(v, str) and v.strip() else f"{v!r} is not text; give a non-empty string"


def _flag(v: Any) -> str | None:
    return None if isinstance(v, bool) else f"{v!r} is not true or false"


def _choice(*allowed: Any):
    def check(v: Any) -> str | None:
        norm = v.strip().lower() if isinstance(v, str) else v
        if any(norm == a and type(norm) is type(a) for a in allowed):
            return None
        return f"{v!r} is not allowed; use one of {', '.join(str(a).lower() for a in allowed)}"
    return check


def _headers(v: Any) -> str | None:
    if not isinstance(v, dict) or not v:
        return "must be a mapping of header name to value (e.g. {Authorization: 'Bearer ${TOKEN}'})"
    for k, val in v.items():
        if not isinstance(k, str) or not re.fullmatch(r"[A-Za-z0-9!#$%&'*+.^_`|~-]+", k):
            return f"{k!r} is not an HTTP header name"
        if isinstance(val, (dict, list)) or val is None or "\n" in str(val) or "\r" in str(val):
            return f"header {k}: {val!r} is not a one-line value"
    return None


def _web_url(v: Any) -> str | None:
    if not isinstance(v, str) or not v.strip():
        return f"{v!r} is not a URL"
    scheme = v.split("://", 1)[0].lower() if _is_url(v) else ""
    if scheme not in ("http", "https"):
        return f"'{v}' is not an http:// or https:// URL; placecat fetches only over HTTP(S)"
    return None


def _url_list(v: Any) -> str | None:
    if not (isinstance(v, list) and v):
        return "must be a list of http(s) URLs (e.g. [https://example.org/feeds/session-series])"
    for u in v:
        problem = _web_url(u)
        if problem:
            return problem
    return None


def _text_list(v: Any) -> str | None:
    if isinstance(v, list) and v and all(isinstance(x, str) and x.strip() for x in v):
        return None
    return "must be a list of strings (e.g. [SessionSeries, ScheduledSession])"


def _url_or_path(v: Any) -> str | None:
    if not isinstance(v, str) or not v.strip():
        return f"{v!r} is not a file or URL"
    return _web_url(v) if _is_url(v) else None


def _date(v: Any) -> str | None:
    import datetime as dt
    if isinstance(v, (dt.date, dt.datetime)):
        return None
    try:
        dt.datetime.fromisoformat(str(v))
    except ValueError:
        return f"{v!r} is not a date; give YYYY-MM-DD"
    return None


def _sheet(v: Any) -> str | None:
    if isinstance(v, bool):
        return f"{v!r} is not a sheet; give its name or its number from 0"
    if isinstance(v, int):
        return None if v >= 0 else f"{v!r} is not a sheet number; sheets are numbered from 0"
    return _text(v)


def _encoding(v: Any) -> str | None:
    import codecs
    if not isinstance(v, str) or not v.strip():
        return f"{v!r} is not an encoding; give one such as utf-8, cp1252 or shift_jis"
    try:
        codecs.lookup(v)
    except LookupError:
        return f"'{v}' is not an encoding Python knows; give one such as utf-8, cp1252 or shift_jis"
    return None


def _delimiter(v: Any) -> str | None:
    if isinstance(v, str) and len(v) == 1 and v not in "\"\r\n":
        return None
    return f"{v!r} is not one character; give the delimiter itself (',', ';', '|' or a tab)"


def _env_name(v: Any) -> str | None:
    if isinstance(v, str) and re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", v):
        return None
    return f"{v!r} is not an environment variable name"


def _fraction(v: Any) -> str | None:
    if isinstance(v, bool) or not isinstance(v, (int, float)) or v != v or not 0 < v <= 1:
        return f"{v!r} is out of range; give the largest fall allowed as a fraction above 0 and at most 1 (0.5 = half)"
    return None


OPTION_RULES: dict[str, Any] = {
    # connectors
    "version": _choice(1, 3),
    "per_page": _number(1, 10_000, whole=True, unit="items a page"),
    "max_pages": _number(1, 10_000_000, whole=True, unit="pages"),
    "detail_fetch": _choice("auto", True, False, "true", "false"),
    "feeds": _url_list,
    "feed_kinds": _text_list,
    "activity_list": _url_or_path,
    "full_reread": _flag,
    "as_of": _date,
    # HTTP (connectors/http.py)
    "concurrency": _number(1, 64, whole=True, unit="requests at once"),
    "rate_limit": _positive(1000, "requests a second"),
    "timeout": _positive(3600, "seconds"),
    "request_timeout": _positive(86_400, "seconds"),
    "time_budget": _positive(86_400, "seconds"),
    "headers": _headers,
    # spreadsheets and databases
    "mapping": _text,
    "sheet": _sheet,
    "header_row": _number(1, 1_000_000, whole=True, unit="(the row number, from 1)"),
    "encoding": _encoding,
    "delimiter": _delimiter,
    "pattern": _text,
    "max_bytes": _number(1, 1 << 40, whole=True, unit="bytes"),
    "max_rows": _number(1, 100_000_000, whole=True, unit="rows"),
    "query": _text,
    "table": _text,
    "chunk_size": _number(1, 1_000_000, whole=True, unit="rows"),
    "credentials_env": _env_name,
    # every source
    "description": _text,
    "area": _text,
    "max_shrink": _fraction,
    "accept_shrink": _flag,
}


def option_problem(name: str, value: Any) -> str | None:
    """What is wrong with one option's value (None: nothing, or an option without a rule)."""
    rule = OPTION_RULES.get(name)
    return rule(value) if rule is not None else None


def load_sources(path: str | os.PathLike) -> SourcesConfig:
    """The whole file, checked before anything runs. Every mistake found is one line naming the
    file, the source and the field; all of them are reported at once (one line each)."""
    path = Path(path)
    if not path.exists():
        raise ConfigError(f"{path}: sources file not found; pass --sources with the path of your sources YAML")
    if not path.is_file():
        raise ConfigError(f"{path}: not a file; pass --sources with the path of your sources YAML")
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError(f"{path}:{where}: not valid YAML ({problem}); fix the indentation or quoting there") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not UTF-8 text; save the sources file as UTF-8") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot be read ({exc.strerror}); check its permissions") from None
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

    problems: list[str] = []
    for key in sorted(defaults, key=str):
        what = option_problem(key, defaults[key])
        if what:
            problems.append(f"{path}: defaults: field '{key}': {what}")
    sources: list[Source] = []
    seen: set[str] = set()
    for n, entry in enumerate(entries, start=1):
        src = _parse_source(path, n, entry, defaults, problems)
        if src is None:
            continue
        if src.id in seen:
            problems.append(f"{path}: source '{src.id}' (entry {n}): field 'id': duplicate id; every source needs its own id")
        seen.add(src.id)
        sources.append(src)
    if problems:
        raise ConfigError("\n".join(problems))
    return SourcesConfig(path=path, sources=sources)


def _parse_source(path: Path, n: int, entry: Any, defaults: dict, problems: list[str]) -> Source | None:
    """One entry; its mistakes go to ``problems`` (None when it is too broken to go on)."""
    if not isinstance(entry, dict):
        problems.append(f"{path}: entry {n}: expected a mapping with id, kind, url or path, publisher and role")
        return None
    raw_id = entry.get("id")
    label = f"source '{raw_id}' (entry {n})" if raw_id else f"entry {n}"
    before = len(problems)

    def fail(fieldname: str, what: str) -> None:
        problems.append(f"{path}: {label}: field '{fieldname}': {what}")

    if raw_id is None:
        fail("id", "missing; give each source a unique id of lower-case letters, digits and hyphens")
        return None
    if not isinstance(raw_id, str) or not SOURCE_ID_RE.match(raw_id):
        fail("id", f"'{raw_id}' is not valid; use lower-case letters, digits and hyphens (e.g. leeds-council)")
        return None
    kind = entry.get("kind")
    if kind not in KINDS:
        what = "missing" if kind is None else f"'{kind}' is not a known kind"
        fail("kind", f"{what}; use one of {', '.join(KINDS)}")
        return None
    allowed = COMMON_FIELDS | KIND_FIELDS[kind]
    for key in entry:
        if key not in allowed:
            fail(key, f"unknown for kind '{kind}'; allowed fields are {', '.join(sorted(allowed))}")
    publisher = entry.get("publisher")
    if not isinstance(publisher, str) or not publisher.strip():
        fail("publisher", "missing; name the organisation that publishes this directory")
    role = entry.get("role", preset_role(entry.get("mapping")) or defaults.get("role", "none"))
    if role not in ROLES:
        fail("role", f"'{role}' is not a provenance role; use one of {', '.join(ROLES)}")

    url = entry.get("url")
    raw_path = entry.get("path")
    if url is not None and (not isinstance(url, str) or not url.strip()):
        fail("url", "must be a non-empty string")
        url = None
    if raw_path is not None and (not isinstance(raw_path, str) or not raw_path.strip()):
        fail("path", "must be a non-empty string")
        raw_path = None
    needs = LOCATOR_REQUIRED[kind]
    if not any(entry.get(k) for k in needs):
        fail(needs[0], f"missing; a '{kind}' source needs one of {', '.join(needs)}")
    src_path: Path | None = None
    if url and not _is_url(url):
        if kind == "sql":
            fail("url", f"'{url}' is not an SQLAlchemy URL (e.g. postgresql+psycopg://host/db)")
            url = None
        else:
            # A local path given as url: treat it as a path (convenient for file-based feeds).
            raw_path, url = url, None
    if url and kind == "sql" and re.search(r"://[^/@]*:(?!\$\{\w+\}@)[^/@]+@", url):
        fail("url", "contains a password; put credentials in an environment variable and use ${VAR} in the URL")
    elif url and kind != "sql":
        what = _web_url(url)
        if what:
            fail("url", what + ("; for a local file give `path:` instead" if url.lower().startswith("file:") else ""))
    if raw_path:
        p = Path(os.path.expanduser(raw_path))
        if not p.is_absolute():
            p = path.parent / p
        if not p.exists() and kind not in ("spreadsheet",):
            fail("path", f"'{raw_path}' does not exist (resolved to {p}); check the path, relative to {path.parent}")
        src_path = p

    if kind in ("spreadsheet", "sql"):
        if not entry.get("mapping"):
            fail("mapping", "missing; a spreadsheet or sql source needs a mapping file (see `placecat mapping suggest`)")
        if kind == "sql" and not (entry.get("query") or entry.get("table")):
            fail("table", "missing; a sql source needs 'table:' or 'query:'")
    if kind == "oruk" and "version" in entry and entry["version"] not in (1, 3):
        fail("version", f"'{entry['version']}' is not supported; use 1 or 3, or leave it out to detect it")
    for key in entry:
        if key in allowed and key not in ("version", "url", "path", "id", "kind", "publisher", "role",
                                          "enabled", "max_stale_days"):
            what = option_problem(key, entry[key])
            if what:
                fail(key, what)
    timeout = entry.get("timeout", defaults.get("timeout"))
    whole = entry.get("request_timeout", defaults.get("request_timeout"))
    if "request_timeout" in KIND_FIELDS[kind] and all(
            isinstance(v, (int, float)) and not isinstance(v, bool) for v in (timeout, whole)) and whole < timeout:
        fail("request_timeout", f"{whole!r} is shorter than timeout ({timeout!r}); a whole request includes "
                                f"its connect and first byte")

    enabled = entry.get("enabled", True)
    if not isinstance(enabled, bool):
        fail("enabled", "must be true or false")
    max_stale = entry.get("max_stale_days", defaults.get("max_stale_days", 14))
    if not isinstance(max_stale, int) or isinstance(max_stale, bool) or max_stale < 0:
        fail("max_stale_days", "must be a whole number of days (0 or more)")
    for name in ("licence", "attribution"):
        if entry.get(name) is not None and not (isinstance(entry[name], str) and entry[name].strip()):
            fail(name, "must be text (a licence name or URL such as OGL-UK-3.0; the attribution words to show)")
    if len(problems) > before:
        return None

    options = {k: v for k, v in defaults.items() if k in KIND_FIELDS[kind] or k in SOURCE_OPTIONS}
    options.update({k: v for k, v in entry.items() if k not in COMMON_FIELDS or k in SOURCE_OPTIONS})
    return Source(
        id=raw_id, kind=kind, publisher=publisher.strip(), role=role, url=url, path=src_path,
        enabled=enabled, max_stale_days=max_stale, options=options, sources_file=path.resolve(),
        licence=(entry.get("licence") or "").strip() or None, attribution=(entry.get("attribution") or "").strip() or None,
    )
