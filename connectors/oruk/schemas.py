"""The official ORUK v3 OpenAPI and JSON Schemas, for ``placecat validate``.

The OpenReferralUK validator reads the OpenAPI document the feed names (``openapi_url`` on ``/``,
else the published one), tests every path it declares, and checks each response against the
path's 200 schema with format checking. placecat does the same with ``jsonschema``:

- the schemas come from a local folder (``--schemas DIR`` or ``PLACECAT_ORUK_SCHEMAS``: the UK
  profile's ``schema/`` folder, with ``openapi.json`` and ``compiled/``), or are fetched with the
  feed's HTTP client from the OpenAPI document's URL and the ``$ref`` URLs it holds;
- formats are checked as the .NET validator checks them: ``uri`` (absolute, with a scheme),
  ``date-time``, ``date``, ``time``, ``email``, ``uuid``;
- **where the official OpenAPI is wrong**: ``/service_at_locations/{id}`` declares the compiled
  *service* schema, which a service-at-location can never satisfy (it has no ``name`` or
  ``status``); placecat checks it against the compiled service_at_location schema instead and says
  so in its report (``OPENAPI_CORRECTIONS``).
"""
from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path
from typing import Any, Callable

import jsonschema
import referencing
import referencing.exceptions
from referencing.jsonschema import DRAFT202012

OFFICIAL_OPENAPI_URL = "https://openreferraluk.org/specifications/3.0/openapi.json"
SCHEMA_BASE = "https://raw.githubusercontent.com/openreferral/uk-profile/main/schema/"
OPENAPI_CORRECTIONS = {
    "/service_at_locations/{id}": (SCHEMA_BASE + "compiled/service_at_location.json",
                                   "the official OpenAPI declares this endpoint as a service (compiled/service.json); "
                                   "checked against compiled/service_at_location.json instead"),
}

FORMATS = jsonschema.FormatChecker()
_URI_RE = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:[^\s]+$")
_TIME_RE = re.compile(r"^([01]\d|2[0-3]):[0-5]\d(:[0-5]\d(\.\d+)?)?(Z|[+-]\d{2}:\d{2})?$")


@FORMATS.checks("uri")
def _is_uri(value: object) -> bool:
    return not isinstance(value, str) or bool(_URI_RE.match(value))


@FORMATS.checks("date-time", raises=ValueError)
def _is_datetime(value: object) -> bool:
    if not isinstance(value, str):
        return True
    if "T" not in value.upper():
        raise ValueError("no time part")
    dt.datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
    return True


@FORMATS.checks("date", raises=ValueError)
def _is_date(value: object) -> bool:
    if isinstance(value, str):
        dt.date.fromisoformat(value)
    return True


@FORMATS.checks("time")
def _is_time(value: object) -> bool:
    return not isinstance(value, str) or bool(_TIME_RE.match(value))


for _name in ("email", "uuid"):
    FORMATS.checkers[_name] = jsonschema.Draft202012Validator.FORMAT_CHECKER.checkers[_name]


class SchemasUnavailable(Exception):
    """The OpenAPI document or a schema it refers to could not be read."""


class OfficialSchemas:
    """The OpenAPI's paths and their response schemas, with every ``$ref`` resolvable."""

    def __init__(self, openapi: dict, retrieve: Callable[[str], Any], source: str):
        self.openapi = openapi
        self.source = source
        self._validators: dict[str, jsonschema.Draft202012Validator] = {}
        self.registry = referencing.Registry(retrieve=lambda uri: referencing.Resource.from_contents(
            retrieve(uri), default_specification=DRAFT202012))

    @classmethod
    def from_folder(cls, folder: Path) -> "OfficialSchemas":
        folder = Path(folder)
        openapi_path = folder / "openapi.json"
        if not openapi_path.exists():
            raise SchemasUnavailable(f"{folder}: no openapi.json; give the UK profile's schema folder")
        docs = {p.relative_to(folder).as_posix(): p for p in [*folder.glob("*.json"), *folder.glob("compiled/*.json")]}

        def retrieve(uri: str) -> Any:
            rel = uri.removeprefix(SCHEMA_BASE).split("#", 1)[0]
            if rel not in docs:
                raise SchemasUnavailable(f"{uri}: not in {folder}")
            return json.loads(docs[rel].read_text(encoding="utf-8"))
        return cls(json.loads(openapi_path.read_text(encoding="utf-8")), retrieve, str(folder))

    @classmethod
    def from_url(cls, url: str, get_json: Callable[[str], Any]) -> "OfficialSchemas":
        cache: dict[str, Any] = {}

        def retrieve(uri: str) -> Any:
            base = uri.split("#", 1)[0]
            if base not in cache:
                cache[base] = get_json(base)
            return cache[base]
        return cls(retrieve(url), retrieve, url)

    def paths(self) -> list[str]:
        return [p for p, item in self.openapi.get("paths", {}).items() if "get" in item]

    def is_list(self, path: str) -> bool:
        params = self.openapi["paths"][path]["get"].get("parameters", [])
        names = {self._param(p).get("name") for p in params}
        return "page" in names

    def _param(self, p: dict) -> dict:
        ref = p.get("$ref")
        if ref and ref.startswith("#/components/parameters/"):
            return self.openapi.get("components", {}).get("parameters", {}).get(ref.rsplit("/", 1)[1], {})
        return p

    def response_schema(self, path: str) -> tuple[dict, str | None]:
        """The 200 schema of a path (the Page envelope's fields made required, as ORUK's are), and
        a note when placecat corrects the official document."""
        if path in OPENAPI_CORRECTIONS:
            uri, note = OPENAPI_CORRECTIONS[path]
            return {"$ref": uri}, note
        schema = self.openapi["paths"][path]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
        if "allOf" in schema and isinstance(schema.get("properties"), dict):
            page = self.openapi.get("components", {}).get("schemas", {}).get("Page", {"properties": {}})
            return {"type": "object", "allOf": [page], "properties": schema["properties"],
                    "required": [*page.get("properties", {}), *schema["properties"]]}, None
        return schema, None

    def errors(self, path: str, doc: Any) -> list[tuple[str, str]]:
        """(JSON path, message) for every way ``doc`` breaks the path's response schema."""
        if path not in self._validators:
            schema, _note = self.response_schema(path)
            self._validators[path] = jsonschema.Draft202012Validator(schema, registry=self.registry,
                                                                     format_checker=FORMATS)
        try:
            found = list(self._validators[path].iter_errors(doc))
        except referencing.exceptions.Unresolvable as exc:
            raise SchemasUnavailable(f"cannot resolve {exc}") from None
        return [("/".join(map(str, e.absolute_path)) or "(document)", e.message) for e in found]
