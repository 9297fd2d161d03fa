"""A published catalogue for the publishing tests: the bundled Leeds sample plus one hostile source.

The hostile directory carries what a republisher must never pass on: script and event-handler
HTML, ``javascript:`` links, a person's name and e-mail address, and spreadsheet formulas in
text fields. Its values are written here by hand.
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import jsonschema
import referencing
import yaml
from referencing.jsonschema import DRAFT202012

from tests.support.environment import SAMPLE

HOSTILE_ID = "6f1f8a3e-2b7c-4d55-9d8e-111111111111"
FORMULA_ID = "6f1f8a3e-2b7c-4d55-9d8e-222222222222"
SCRIPT = "<script>alert('xss')</script>"
ONERROR = "onerror"
JS_LINK = "javascript:alert(2)"
PERSON_NAME = "Janet Pemberton-Smythe"
PERSON_EMAIL = "janet.pemberton@example.org"
OTHER_PERSON_EMAIL = "derek.oduya@example.net"
FORMULA_NAME = '=HYPERLINK("http://evil.example/","Click me")'
FORMULA_ORG = "+SUM(1,2)"
FORMULA_LOCATION = "@cmd|' /C calc'!A0"

HOSTILE_SERVICES = [
    {
        "id": HOSTILE_ID,
        "name": "Hostile Advice Drop-in",
        "description": (f"<p>Free <b>advice</b> drop-in.</p>{SCRIPT}<img src=x {ONERROR}=\"alert(1)\">"
                        f"<a href=\"{JS_LINK}\">book</a> Ask for {OTHER_PERSON_EMAIL} at reception."),
        "url": "https://hostile.example.org/advice",
        "email": "info@hostile.example.org",
        "status": "active",
        "assured_date": "2026-11-01",
        "assurer_email": PERSON_EMAIL,
        "organization": {"id": "6f1f8a3e-2b7c-4d55-9d8e-333333333333", "name": "Hostile Advice Trust",
                         "description": "A charity."},
        "contacts": [{"id": "6f1f8a3e-2b7c-4d55-9d8e-444444444444", "name": PERSON_NAME, "title": "Manager",
                      "email": PERSON_EMAIL,
                      "phones": [{"id": "6f1f8a3e-2b7c-4d55-9d8e-555555555555", "number": "0113 496 0000"}]}],
        "service_at_locations": [{"id": "6f1f8a3e-2b7c-4d55-9d8e-666666666666", "location": {
            "id": "6f1f8a3e-2b7c-4d55-9d8e-777777777777", "location_type": "physical", "name": "Hostile House",
            "latitude": 53.80, "longitude": -1.55,
            "addresses": [{"id": "6f1f8a3e-2b7c-4d55-9d8e-888888888888", "address_1": "1 Park Row",
                           "attention": PERSON_NAME, "city": "Leeds", "state_province": "West Yorkshire",
                           "postal_code": "LS1 5AB", "country": "GB", "address_type": "physical"}]}}],
    },
    {
        "id": FORMULA_ID,
        "name": FORMULA_NAME,
        "description": "-2+3 people per session",
        "status": "active",
        "organization": {"id": "6f1f8a3e-2b7c-4d55-9d8e-999999999999", "name": FORMULA_ORG,
                         "description": "=1+1"},
        "service_at_locations": [{"id": "6f1f8a3e-2b7c-4d55-9d8e-aaaaaaaaaaaa", "location": {
            "id": "6f1f8a3e-2b7c-4d55-9d8e-bbbbbbbbbbbb", "location_type": "physical", "name": FORMULA_LOCATION,
            "addresses": [{"id": "6f1f8a3e-2b7c-4d55-9d8e-cccccccccccc", "address_1": "2 Park Row", "city": "Leeds",
                           "state_province": "West Yorkshire", "postal_code": "LS1 5AB", "country": "GB",
                           "address_type": "physical"}]}}],
    },
]
FORBIDDEN_STRINGS = (SCRIPT, "alert(1)", JS_LINK, PERSON_NAME, PERSON_EMAIL, OTHER_PERSON_EMAIL)


def copy_sample_with_hostile_source(tmp: Path) -> Path:
    """A copy of the sample sources plus the hostile directory; returns the sources file."""
    dst = tmp / "sample"
    shutil.copytree(SAMPLE, dst, ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    feed = dst / "feeds" / "hostile-directory"
    feed.mkdir(parents=True)
    (feed / "services-page-001.json").write_text(json.dumps({
        "total_items": len(HOSTILE_SERVICES), "total_pages": 1, "page_number": 1, "size": len(HOSTILE_SERVICES),
        "first_page": True, "last_page": True, "empty": False, "contents": HOSTILE_SERVICES}), encoding="utf-8")
    sources_file = dst / "sources.yaml"
    doc = yaml.safe_load(sources_file.read_text())
    doc["sources"].append({"id": "hostile-directory", "kind": "oruk", "path": "feeds/hostile-directory",
                           "publisher": "Hostile Directory (test)", "role": "none"})
    sources_file.write_text(yaml.safe_dump(doc, sort_keys=False))
    return sources_file


# -- the official ORUK v3 schemas, read from ../shared ------------------------------------------------
ORUK_SCHEMA_BASE = "https://raw.githubusercontent.com/openreferral/uk-profile/main/schema/"


class OrukSchemas:
    """Validators for each endpoint's response, from ``schema/v3-uk`` ($refs resolved in that folder)."""

    def __init__(self, fixtures_dir: Path):
        self.folder = fixtures_dir / "oruk" / "schema" / "v3-uk"
        resources = []
        for path in list(self.folder.glob("*.json")) + list((self.folder / "compiled").glob("*.json")):
            rel = path.relative_to(self.folder).as_posix()
            doc = json.loads(path.read_text(encoding="utf-8"))
            res = referencing.Resource.from_contents(doc, default_specification=DRAFT202012)
            resources += [(rel, res), (ORUK_SCHEMA_BASE + rel, res)]
        self.registry = referencing.Registry().with_resources(resources)
        self.openapi = json.loads((self.folder / "openapi.json").read_text(encoding="utf-8"))
        self.api_details = json.loads((fixtures_dir / "oruk" / "schema" / "v3-uk-validator" / "api_details.json")
                                      .read_text(encoding="utf-8"))

    def _validator(self, schema: dict) -> jsonschema.Draft202012Validator:
        return jsonschema.Draft202012Validator(schema, registry=self.registry,
                                               format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER)

    def response_schema(self, path: str) -> dict:
        """The 200 response schema of an OpenAPI path, with the Page envelope made strict."""
        schema = self.openapi["paths"][path]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
        if "allOf" in schema:
            page = self.openapi["components"]["schemas"]["Page"]
            return {"type": "object", "allOf": [page], "properties": schema["properties"],
                    "required": [*page["properties"], "contents"]}
        return schema

    def errors(self, schema: dict | str, doc: object) -> list[str]:
        if isinstance(schema, str):
            schema = {"$ref": schema}
        return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in self._validator(schema).iter_errors(doc)]
