"""A catalogue for the gap-analysis tests: services generated at real postcodes of the four sample
authorities in ../shared (Leeds, Manchester, Bristol, Cornwall), loaded with England's reference
files, classified, as golden records of a real build."""
from __future__ import annotations

import random
import uuid
from pathlib import Path

import numpy as np
import pandas as pd

from pipelines.cli import main
from warehouse.build import Build, start_build
from warehouse.taxonomy.classify import classify_catalogue

LADS = {"E08000035": "Leeds", "E08000003": "Manchester", "E06000023": "Bristol, City of", "E06000052": "Cornwall"}


# Real LGA (esd) service types from the 2015 list; the services carry them as publisher terms.
TYPES = {"163": "Counselling", "328": "Bereavement support", "651": "Debt counselling", "1284": "Mental health support",
         "640": "Older people's  activities", "1674": "Swimming pools"}


NS = uuid.UUID("2b0a9d9e-8d8e-4c55-a1d0-000000000008")


def load_shared_reference(db_path: Path, fixtures: Path) -> None:
    ref = fixtures / "reference"
    rc = main(["reference", "load", "--db", str(db_path),
               "--postcodes", str(ref / "postcode_lsoa11_lad22_sample.csv"),
               "--areas", str(ref / "lsoa11_msoa11_lad22_england.csv"),
               "--imd", str(ref / "imd2019_lsoa11_england.csv"),
               "--population", str(ref / "imd2019_lsoa11_england.csv"),
               "--lga-services", str(fixtures / "oruk" / "taxonomies" / "lga_esd_services_list_v4.csv"),
               "--coordinates-from-package"])
    assert rc == 0


def generate_services(fixtures: Path, n: int = 600, seed: int = 8) -> pd.DataFrame:
    """Services at real postcodes: some with lat/long, some only a postcode; ages, drop-in/referral, sources."""
    pcs = pd.read_csv(fixtures / "reference" / "postcode_lsoa11_lad22_sample.csv")
    pcs = pcs[pcs.usertype == 0]
    by_lad = {lad: frame.reset_index(drop=True) for lad, frame in pcs.groupby("lad22cd")}
    rng = random.Random(seed)
    # Leeds gets most, Cornwall few: coverage must differ between authorities.
    weights = {"E08000035": 0.45, "E08000003": 0.25, "E06000023": 0.2, "E06000052": 0.1}
    rows = []
    for i in range(n):
        lad = rng.choices(list(weights), list(weights.values()))[0]
        pc = by_lad[lad].iloc[rng.randrange(len(by_lad[lad]))]
        esd = rng.choice(list(TYPES))
        mode = rng.choice(["drop-in", "referral", "open"])
        rows.append({
            "service_id": str(uuid.uuid5(NS, f"s{i}")), "location_id": str(uuid.uuid5(NS, f"l{i}")),
            "name": f"{TYPES[esd]} {i}", "postcode": pc.postcode, "lsoa11": pc.lsoa11cd, "lad": lad, "esd_id": esd,
            "with_coordinates": i % 3 != 0, "mode": mode,
            "min_age": rng.choice([None, 0, 18, 60]), "max_age": None,
            "description": {"drop-in": "A weekly drop-in, just come along.",
                            "referral": "Places by referral from your GP.", "open": "Open to all."}[mode],
            "sources": ["council"] + (["nhs"] if i % 4 == 0 else []) + (["vcs"] if i % 5 == 0 else []),
        })
    return pd.DataFrame(rows)


def build_catalogue(db_path: Path, services: pd.DataFrame, run_id: str = "run-1") -> Build:
    """A catalogue build holding these services as golden records (real schema, real DuckDB file)."""
    build = start_build(db_path, run_id)
    with build.connect() as con:
        coords = con.execute("SELECT postcode, latitude, longitude FROM ref.postcode").df().set_index("postcode")
        svc = services.copy()
        # A venue a few metres from its postcode centroid, as publishers give it; the rest only a postcode.
        svc["lat"] = np.where(svc.with_coordinates, svc.postcode.map(coords.latitude) + 0.0002, np.nan)
        svc["lon"] = np.where(svc.with_coordinates, svc.postcode.map(coords.longitude) - 0.0002, np.nan)
        svc["min_age_d"] = svc.min_age.astype(float)
        links = svc[["service_id", "sources"]].explode("sources")
        con.register("svc", svc.drop(columns=["sources"]))
        con.register("links", links)
        con.execute("""INSERT INTO catalogue.service (id, name, description, status, minimum_age)
                       SELECT service_id, name, description, 'active', min_age_d FROM svc""")
        con.execute("""INSERT INTO catalogue.location (id, location_type, name, latitude, longitude)
                       SELECT location_id, 'physical', name, lat, lon FROM svc""")
        con.execute("""INSERT INTO catalogue.address (id, location_id, address_1, postal_code, address_type)
                       SELECT location_id || '-a', location_id, '1 High Street', postcode, 'physical' FROM svc""")
        con.execute("""INSERT INTO catalogue.service_at_location (id, service_id, location_id)
                       SELECT service_id || '-sal', service_id, location_id FROM svc""")
        con.execute("""INSERT INTO catalogue.attribute (id, link_id, taxonomy_term_id, link_entity)
                       SELECT service_id || '-attr', service_id, 'term-' || esd_id, 'service' FROM svc""")
        con.execute("""INSERT INTO catalogue.service_source (service_id, source_id, source_record_id, staging_id)
                       SELECT service_id, sources, service_id, service_id || sources FROM links""")
        con.executemany("INSERT INTO catalogue.taxonomy_term (id, name, taxonomy, term_uri) VALUES (?, ?, 'esdServiceTypes', ?)",
                        [(f"term-{e}", label, f"http://id.esd.org.uk/service/{e}") for e, label in TYPES.items()])
        con.unregister("svc")
        con.unregister("links")
        classify_catalogue(con)
    return build
