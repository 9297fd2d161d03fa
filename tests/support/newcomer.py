"""The bundled demo copied into a test's folder, and the changes a later night brings to it: a
five-row spreadsheet from a new publisher (issue 17's newcomer), a renamed service, a record
withdrawn. Nights run in-process (``pipelines.nightly_run.run_nightly``)."""
import csv
import json
from pathlib import Path

import duckdb
import yaml

from tests.support.nights import copy_sample

HEADER = ["Ref", "Service", "Organisation", "Address", "Town", "Postcode", "Phone", "Email", "Day", "Start", "End"]
# "Armley Foodbank" is the demo's "Armley Food Bank" (same phone, e-mail, address, organisation and
# session); "Coffee and Chat" is a same-named session elsewhere in Leeds that clearly differs.
ROWS = [
    ["N1", "Armley Foodbank", "Leeds West Foodbank", "Armley Christ Church, Armley Ridge Road", "Leeds", "LS12 3HP",
     "0113 263 9002", "hello@leedswest.foodbank.org.uk", "Friday", "10:00", "13:00"],
    ["N2", "Bramley Knit and Natter", "Bramley Community Centre", "Waterloo Lane", "Leeds", "LS13 2JB",
     "0113 255 0001", "knit@example.org", "Tuesday", "14:00", "16:00"],
    ["N3", "Kirkstall Men's Shed", "Kirkstall Valley Trust", "Bridge Road", "Leeds", "LS5 3BW",
     "0113 255 0002", "shed@example.org", "Wednesday", "09:00", "12:00"],
    ["N4", "Coffee and Chat", "Hyde Park Source", "Woodsley Road", "Leeds", "LS6 1SG",
     "0113 255 0003", "chat@example.org", "Thursday", "16:00", "18:00"],
    ["N5", "Beeston Baby Bounce", "Beeston Library", "Town Street", "Leeds", "LS11 8PN",
     "0113 255 0004", "bounce@example.org", "Monday", "10:30", "11:30"],
]
MAPPING = {"id": "Ref", "columns": {
    "service.name": "Service", "organization.name": "Organisation", "address.address_1": "Address",
    "address.city": "Town", "address.postal_code": "Postcode", "phone.number": "Phone", "service.email": "Email",
    "schedule.byday": "Day", "schedule.opens_at": "Start", "schedule.closes_at": "End"}}
NEWCOMER = {"id": "leeds-newcomer", "kind": "spreadsheet", "path": "newcomer.csv", "mapping": "newcomer.yaml",
            "publisher": "A newcomer", "role": "none"}


def demo(folder: Path) -> Path:
    """The bundled demo, copied so a test can change it: its sources file."""
    return copy_sample(folder)


def add_newcomer(sources: Path, rows=ROWS) -> None:
    with open(sources.parent / "newcomer.csv", "w", newline="", encoding="utf-8") as f:
        csv.writer(f).writerows([HEADER, *rows])
    (sources.parent / "newcomer.yaml").write_text(yaml.safe_dump(MAPPING))
    doc = yaml.safe_load(sources.read_text())
    if NEWCOMER["id"] not in {s["id"] for s in doc["sources"]}:
        doc["sources"].append(NEWCOMER)
        sources.write_text(yaml.safe_dump(doc, sort_keys=False))


def edit_feed(sources: Path, source_id: str, name: str, new_name: str | None) -> str:
    """Rename the first service called ``name`` in a demo feed, or withdraw it (``new_name`` None); its id."""
    for page in sorted((sources.parent / "feeds" / source_id).glob("*.json")):
        doc = json.loads(page.read_text())
        for n, item in enumerate(doc["contents"]):
            if item["name"] == name:
                if new_name is None:
                    del doc["contents"][n]
                else:
                    item["name"] = new_name
                page.write_text(json.dumps(doc))
                return item["id"]
    raise AssertionError(f"{source_id} lists no service named {name}")


def golden_id_of_each_record(db: Path) -> dict[tuple[str, str], str]:
    with duckdb.connect(str(db), read_only=True) as con:
        return {(s, r): g for g, s, r in con.execute(
            "SELECT service_id, source_id, source_record_id FROM catalogue.service_source").fetchall()}


def golden_groups(db: Path) -> set[frozenset]:
    """The published clusters, as sets of (source, record id), golden ids aside."""
    groups: dict[str, set] = {}
    for record, service_id in golden_id_of_each_record(db).items():
        groups.setdefault(service_id, set()).add(record)
    return {frozenset(g) for g in groups.values()}


def listings(sources: Path) -> dict[tuple[str, str], str]:
    """Every service the demo's feeds and the newcomer's spreadsheet list: (source, record id) -> name."""
    out = {}
    for folder in sorted((sources.parent / "feeds").iterdir()):
        for page in sorted(folder.glob("*.json")):
            out.update({(folder.name, item["id"]): item["name"] for item in json.loads(page.read_text())["contents"]})
    sheet = sources.parent / "newcomer.csv"
    if sheet.exists():
        with open(sheet, newline="", encoding="utf-8") as f:
            out.update({(NEWCOMER["id"], row["Ref"]): row["Service"] for row in csv.DictReader(f)})
    return out
