"""Splink, side by side: run by benchmarks/bench_matching.py in a separate venv (Splink is a
benchmark-only tool, never a runtime dependency of placecat).

    /work/splink-venv/bin/python benchmarks/splink_compare.py generator FILE.parquet
    /work/splink-venv/bin/python benchmarks/splink_compare.py fodors FIXTURES_DIR
    /work/splink-venv/bin/python benchmarks/splink_compare.py febrl FIXTURES_DIR
    /work/splink-venv/bin/python benchmarks/splink_compare.py scale FLAT.csv OUT.csv [4GB] [4]   (bench_scale.py)
    /work/splink-venv/bin/python benchmarks/splink_compare.py scale-new FLAT.csv [10000] [4GB]    (new records)
    /work/splink-venv/bin/python benchmarks/splink_compare.py v3 SERVICES.jsonl OUT.csv        (bench_eval.py --splink)

Measured with splink==5.0.0 (duckdb 2.0.1, pandas 3.1.1, pyarrow 26.0.1 in /work/splink-venv; Splink 5
no longer pulls in pandas, so install it beside: ``/work/splink-venv/bin/pip install splink==5.0.0 pandas pyarrow``).

A sensible configuration, trained the way Splink's tutorials train: u by random sampling, m by EM
on two blocking rules (postcode, then name), the prior from deterministic rules; predictions
clustered with connected components at match probability 0.95, the same threshold placecat uses,
not tuned on labels. Prints one line of pairwise figures (one per data set for FEBRL).

FEBRL follows Splink's own FEBRL3/4 DuckDB examples: name comparisons on given name and surname,
date of birth and social-security id by edit distance, street number, postcode, address and suburb;
predictions blocked on name pairs, name and date of birth, id, postcode (the same wide postcode rule
placecat's FEBRL blocking has); EM on date of birth and on postcode. Dedupe-only for FEBRL 1-3, link-only for FEBRL 4.
"""
from __future__ import annotations

import logging
import re
import sys
import time

import pandas as pd
import splink.comparison_level_library as cll
import splink.comparison_library as cl
from splink import DuckDBAPI, Linker, SettingsCreator, block_on

THRESHOLD = 0.95


def pair_counts(labels: pd.DataFrame, cluster_col: str) -> dict:
    def c2(s):
        return int((s * (s - 1) // 2).sum())
    pred = c2(labels.groupby(cluster_col).size())
    true = c2(labels.groupby("entity").size())
    tp = c2(labels.groupby([cluster_col, "entity"]).size())
    p = tp / pred if pred else 1.0
    r = tp / true if true else 1.0
    return {"precision": round(p, 4), "recall": round(r, 4), "f1": round(2 * p * r / (p + r), 4) if p + r else 0.0,
            "tp": tp, "fp": pred - tp, "fn": true - tp}


def clean_name(s):
    if not isinstance(s, str):
        return None
    s = s.lower().replace("&", " and ")
    return re.sub(r"\s+", " ", re.sub(r"[^a-z0-9 ]", " ", s)).strip() or None


def clean_phone(p):
    if p is None or (isinstance(p, float) and pd.isna(p)):
        return None
    d = re.sub(r"[^0-9]", "", re.sub(r"(ext|x)\s*\d+\s*$", "", str(p).lower()))
    if d.startswith("44"):
        d = "0" + d[2:]
    d = d.replace("00", "0", 1) if d.startswith("00") else d
    return d or None


def run_splink(frames: list[pd.DataFrame], comparisons, em_rules, predict_rules, deterministic,
               link_type: str = "link_only") -> pd.DataFrame:
    db_api = DuckDBAPI()
    settings = SettingsCreator(link_type=link_type, comparisons=comparisons, blocking_rules_to_generate_predictions=predict_rules,
                               retain_intermediate_calculation_columns=False)
    dfs = [db_api.register(f) for f in frames]
    linker = Linker(dfs, settings, log_level=logging.WARNING)
    linker.training.estimate_probability_two_random_records_match(deterministic, recall=0.7)
    linker.training.estimate_u_using_random_sampling(max_pairs=2e6, seed=1)
    for rule in em_rules:
        linker.training.estimate_parameters_using_expectation_maximisation(rule)
    preds = linker.inference.predict(threshold_match_probability=0.5)
    clusters = linker.clustering.cluster_pairwise_predictions_at_threshold(preds, THRESHOLD)
    return clusters.as_pandas_dataframe()


def generator(path: str) -> None:
    df = pd.read_parquet(path)
    out = pd.DataFrame({
        "unique_id": df["staging_id"], "source": df["source_id"], "entity": df["entity"],
        "name": df["name"].map(clean_name), "org": df["org_name"].map(clean_name),
        "postcode": df["postcode"].map(lambda x: re.sub(r"\s", "", x).upper() if isinstance(x, str) else None),
        "phone": df["phones"].map(lambda x: clean_phone(x[0]) if x is not None and len(x) else None),
        "email": df["email"], "city": df["city"], "lat": df["latitude"], "lon": df["longitude"],
        "day": df["schedule"].map(lambda x: x[0].split("@")[0] if x is not None and len(x) else None),
    })
    comparisons = [
        cl.JaroWinklerAtThresholds("name", [0.95, 0.88, 0.8]), cl.JaroWinklerAtThresholds("org", [0.95, 0.85]),
        cl.ExactMatch("postcode"), cl.ExactMatch("phone"), cl.EmailComparison("email"),
        cl.DistanceInKMAtThresholds("lat", "lon", [0.1, 1, 10]), cl.ExactMatch("city"), cl.ExactMatch("day"),
    ]
    predict_rules = [block_on("postcode"), block_on("phone"), block_on("name"), block_on("email")]
    t0 = time.perf_counter()
    frames = [g.drop(columns=["source", "entity"]).reset_index(drop=True) for _, g in out.groupby("source")]
    clusters = run_splink(frames, comparisons, [block_on("postcode"), block_on("name")], predict_rules,
                          [block_on("name", "postcode"), block_on("email")])
    seconds = time.perf_counter() - t0
    labels = out[["unique_id", "entity"]].merge(clusters[["unique_id", "cluster_id"]], on="unique_id", how="left")
    labels["cluster_id"] = labels["cluster_id"].fillna(labels["unique_id"])
    print(f"splink (EM-trained, connected components at {THRESHOLD}): {pair_counts(labels, 'cluster_id')}  in {seconds:.1f} s")


def fodors(fixtures: str) -> None:
    base = f"{fixtures}/fodors_zagats"
    f = pd.read_csv(f"{base}/fodors.csv", dtype=str)
    z = pd.read_csv(f"{base}/zagats.csv", dtype=str)
    m = pd.read_csv(f"{base}/matches_fodors_zagats.csv", dtype=str)
    truth = {("f", a): f"m{n}" for n, a in enumerate(m["fodors_id"])} | {("z", b): f"m{n}" for n, b in enumerate(m["zagats_id"])}

    def prep(df, tag):
        return pd.DataFrame({"unique_id": tag + df["id"], "name": df["name"].map(clean_name), "addr": df["addr"].map(clean_name),
                             "city": df["city"].map(clean_name), "phone": df["phone"].map(clean_phone),
                             "type": df["type"].map(clean_name),
                             "entity": [truth.get((tag, i), tag + i) for i in df["id"]]})
    a, b = prep(f, "f"), prep(z, "z")
    comparisons = [cl.JaroWinklerAtThresholds("name", [0.95, 0.88, 0.8]), cl.JaroWinklerAtThresholds("addr", [0.95, 0.85]),
                   cl.ExactMatch("city"), cl.ExactMatch("phone"), cl.ExactMatch("type")]
    t0 = time.perf_counter()
    clusters = run_splink([a.drop(columns="entity"), b.drop(columns="entity")], comparisons,
                          [block_on("city"), block_on("phone")], [block_on("phone"), block_on("city"), block_on("name")],
                          [block_on("phone"), block_on("name", "city")])
    labels = pd.concat([a, b])[["unique_id", "entity"]].merge(clusters[["unique_id", "cluster_id"]], on="unique_id", how="left")
    labels["cluster_id"] = labels["cluster_id"].fillna(labels["unique_id"])
    print(f"splink on Fodors-Zagats: {pair_counts(labels, 'cluster_id')}  in {time.perf_counter() - t0:.1f} s")


def load_febrl(path: str, tag: str) -> pd.DataFrame:
    """One FEBRL file, cleaned as benchmarks/febrl.py cleans it for placecat (trimmed, lower case)."""
    df = pd.read_csv(path, dtype=str, skipinitialspace=True).fillna("")

    def col(c):
        return df[c].str.strip().str.lower().replace("", None)
    address = (df["address_1"].str.strip() + " " + df["address_2"].str.strip()).str.strip().str.lower().replace("", None)
    return pd.DataFrame({"unique_id": tag + df["rec_id"].str.strip(), "entity": df["rec_id"].str.extract(r"^([^-]+-[^-]+)")[0],
                         "given_name": col("given_name"), "surname": col("surname"), "dob": col("date_of_birth"),
                         "ssn": col("soc_sec_id"), "address": address, "suburb": col("suburb"), "postcode": col("postcode"),
                         "street_number": col("street_number")})


def febrl(fixtures: str) -> None:
    base = f"{fixtures}/febrl"
    comparisons = [
        cl.NameComparison("given_name"), cl.NameComparison("surname"),
        cl.DamerauLevenshteinAtThresholds("dob", [1, 2]), cl.DamerauLevenshteinAtThresholds("ssn", [1, 2]),
        cl.ExactMatch("street_number"), cl.DamerauLevenshteinAtThresholds("postcode", [1]),
        cl.JaroWinklerAtThresholds("address", [0.9, 0.7]), cl.JaroWinklerAtThresholds("suburb", [0.9, 0.7]),
    ]
    predict_rules = [block_on("given_name", "surname"), block_on("surname", "dob"), block_on("given_name", "dob"),
                     block_on("ssn"), block_on("postcode", "street_number"), block_on("postcode")]
    em_rules = [block_on("dob"), block_on("postcode")]
    deterministic = [block_on("ssn", "dob"), block_on("given_name", "surname", "dob")]
    sets = [(f"FEBRL{n}", [load_febrl(f"{base}/dataset{n}.csv", "a")], "dedupe_only") for n in (1, 2, 3)]
    sets.append(("FEBRL4", [load_febrl(f"{base}/dataset4a.csv", "a"), load_febrl(f"{base}/dataset4b.csv", "b")], "link_only"))
    for name, frames, link_type in sets:
        t0 = time.perf_counter()
        clusters = run_splink([f.drop(columns="entity") for f in frames], comparisons, em_rules, predict_rules, deterministic,
                              link_type=link_type)
        labels = pd.concat(frames)[["unique_id", "entity"]].merge(clusters[["unique_id", "cluster_id"]], on="unique_id", how="left")
        labels["cluster_id"] = labels["cluster_id"].fillna(labels["unique_id"])
        print(f"splink {name}: {pair_counts(labels, 'cluster_id')}  in {time.perf_counter() - t0:.1f} s")


def _web_host(url) -> str | None:
    if not isinstance(url, str) or not url:
        return None
    return re.sub(r"^(https?://)?(www\.)?", "", url.lower()).split("/")[0] or None


def flat_from_csv(flat_csv: str) -> pd.DataFrame:
    """gen_scale's flat.csv, cleaned as Splink's examples clean: lower-case names, digits of phones."""
    df = pd.read_csv(flat_csv, dtype=str, keep_default_na=False)
    return pd.DataFrame({
        "unique_id": df["unique_id"], "source": df["source_id"],
        "name": df["name"].map(clean_name), "org": df["org"].map(clean_name),
        "postcode": df["postcode"].map(lambda x: re.sub(r"\s", "", x).upper() or None),
        "phone": df["phone"].map(lambda x: clean_phone(x) if x else None),
        "email": df["email"].replace("", None), "city": df["city"].replace("", None), "web": df["website"].map(_web_host),
        "lat": pd.to_numeric(df["lat"], errors="coerce"), "lon": pd.to_numeric(df["lon"], errors="coerce"),
        "day": df["day"].replace("", None),
    })


def flat_from_v3(jsonl: str) -> pd.DataFrame:
    """ORUK v3 service objects with source_id (what `placecat match` reads), one flat row each."""
    import json
    rows = []
    with open(jsonl, encoding="utf-8") as f:
        for line in f:
            if not line.strip():
                continue
            s = json.loads(line)
            org = s.get("organization") or {}
            loc, addr = {}, {}
            for sal in s.get("service_at_locations") or []:
                loc = sal.get("location") or {}
                addr = (loc.get("addresses") or [{}])[0]
                break
            phones = [p.get("number") for p in s.get("phones") or []] + \
                [p.get("number") for c in s.get("contacts") or [] for p in c.get("phones") or []] + \
                [p.get("number") for p in loc.get("phones") or []]
            sched = (s.get("schedules") or [{}])[0]
            rows.append({"unique_id": f"{s['source_id']}/{s['id']}", "source": s["source_id"], "name": clean_name(s.get("name")),
                         "org": clean_name(org.get("name")),
                         "postcode": re.sub(r"\s", "", addr.get("postal_code") or "").upper() or None,
                         "phone": next((clean_phone(p) for p in phones if p), None), "email": s.get("email") or org.get("email"),
                         "city": addr.get("city"), "web": _web_host(s.get("url") or org.get("website")),
                         "lat": pd.to_numeric(loc.get("latitude"), errors="coerce"),
                         "lon": pd.to_numeric(loc.get("longitude"), errors="coerce"),
                         "day": (sched.get("byday") or "").split(",")[0] or None})
    return pd.DataFrame(rows)


def spill_connection(memory_limit: str):
    """A DuckDB connection set up for a large job on a small machine: memory_limit, two threads, a
    temporary directory to spill to."""
    import tempfile

    import duckdb
    con = duckdb.connect()
    for setting in (f"SET memory_limit = '{memory_limit}'", "SET threads = 2", "SET preserve_insertion_order = false",
                    f"SET temp_directory = '{tempfile.mkdtemp(prefix='splink_spill_')}'"):
        con.execute(setting).fetchall()   # DuckDB 2 refuses other work while a result is unfinished
    return con


def service_settings():
    """(settings, blocking rules) for services linked across their sources.

    Tried on dev-2026's v3 sources and the 100,000-record scale set before settling (pairwise F1 on
    dev-2026 v3): one comparison per field, TF on name, postcode, phone and web, EM blocked on
    postcode then name: 0.07, a cluster of 80 (EM blocked on postcode learns "same venue", not "same
    service": the exact-name level got m = 0.02, so a different name cost nothing, and the venue's
    postcode, phone, web site, organisation and coordinates, counted as independent evidence, added
    40 bits); the same with TF on organisation and e-mail too: 0.08; every m set by hand, no EM: 0.07.
    Kept: the correlated fields folded into two comparisons (place: postcode, else within 100 m,
    else town; contact: phone or e-mail, else web site), TF on the name, the name's m set (duplicates
    mostly keep their name) and the rest by EM blocked on name: 0.28, largest cluster 19. Blocking
    that keeps the national phone line and the template names from exploding: postcode; name and
    town; phone and name."""
    place = cl.CustomComparison(output_column_name="place", comparison_levels=[
        cll.And(cll.NullLevel("postcode"), cll.NullLevel("lat")), cll.ExactMatchLevel("postcode"),
        cll.DistanceInKMLevel("lat", "lon", 0.1), cll.ExactMatchLevel("city"), cll.ElseLevel()])
    contact = cl.CustomComparison(output_column_name="contact", comparison_levels=[
        cll.And(cll.NullLevel("phone"), cll.NullLevel("web"), cll.NullLevel("email")),
        cll.Or(cll.ExactMatchLevel("phone"), cll.ExactMatchLevel("email")), cll.ExactMatchLevel("web"), cll.ElseLevel()])
    comparisons = [
        cl.JaroWinklerAtThresholds("name", [0.95, 0.88, 0.8]).configure(term_frequency_adjustments=True,
                                                                       m_probabilities=[0.7, 0.1, 0.07, 0.05, 0.08]),
        cl.JaroWinklerAtThresholds("org", [0.95, 0.85]), place, contact, cl.ExactMatch("day"),
    ]
    predict_rules = [block_on("postcode"), block_on("name", "city"), block_on("phone", "name")]
    settings = SettingsCreator(link_type="link_only", comparisons=comparisons, blocking_rules_to_generate_predictions=predict_rules,
                               retain_intermediate_calculation_columns=False, retain_matching_columns=False)
    return settings, predict_rules


def register_by_source(db_api, out: pd.DataFrame, prefix: str) -> list:
    """One Splink table per source, named by its source (its source_dataset), so that tables
    registered later for the same source count as that source."""
    return [db_api.register(g.drop(columns=["source"]).reset_index(drop=True), table_name=f"{prefix}_{i}",
                            dataset_display_name=str(source))
            for i, (source, g) in enumerate(out.groupby("source"))]


def trained_linker(db_api, dfs: list):
    """A Linker over ``dfs``, trained the way Splink's tutorials train: the prior from deterministic
    rules, u by random sampling, the rest by EM blocked on name."""
    settings, _ = service_settings()
    linker = Linker(dfs, settings, log_level=logging.WARNING)
    linker.training.estimate_probability_two_random_records_match([block_on("name", "postcode")], recall=0.7)
    linker.training.estimate_u_using_random_sampling(max_pairs=1e6, seed=1)
    linker.training.estimate_parameters_using_expectation_maximisation(block_on("name"))
    return linker


def link_services(out: pd.DataFrame, out_csv: str, memory_limit: str = "4GB", chunks: str = "4") -> None:
    """Services linked across their sources (as `placecat match` does without --dedupe), predicted in
    chunks x chunks pieces on a connection from ``spill_connection``. Prints a SUMMARY line (JSON) and
    writes the clusters as source_id,record_id,cluster_id."""
    import json

    from splink.blocking_analysis import count_comparisons_from_blocking_rules

    t0 = time.perf_counter()
    con = spill_connection(memory_limit)
    db_api = DuckDBAPI(connection=con)
    dfs = register_by_source(db_api, out, "input")
    _, predict_rules = service_settings()
    counted = count_comparisons_from_blocking_rules(dfs, blocking_rules=predict_rules, link_type="link_only",
                                                    record_sample_proportion=1.0)
    candidate_pairs = counted[-1]["cumulative_comparison_count"]
    linker = trained_linker(db_api, dfs)
    n = int(chunks)
    preds = linker.inference.predict(threshold_match_probability=0.5, num_chunks_left=n, num_chunks_right=n)
    over = con.execute(f"SELECT count(*) FROM {preds.physical_name}").fetchall()[0][0]
    clusters = linker.clustering.cluster_pairwise_predictions_at_threshold(preds, THRESHOLD)
    c = clusters.as_pandas_dataframe()[["unique_id", "cluster_id"]]
    parts = c["unique_id"].str.split("/", n=1, expand=True)
    pd.DataFrame({"source_id": parts[0], "record_id": parts[1], "cluster_id": c["cluster_id"]}).to_csv(out_csv, index=False)
    print("SUMMARY " + json.dumps({"candidate_pairs": int(candidate_pairs), "candidate_pairs_estimated": bool(counted[-1]["is_estimate"]),
                                   "pairs_over_threshold": int(over), "seconds": round(time.perf_counter() - t0, 1)}))


def scale_new(flat_csv: str, new: str = "10000", memory_limit: str = "4GB", seed: str = "1") -> None:
    """``new`` records (drawn at random, seeded) arriving after the rest of the scale set: Splink
    trained on the rest (not timed), then timed scoring the new records against the rest
    (``predict_between``) and among themselves (``predict_within``), Splink 5's incremental linkage.
    Splink has no incremental clustering: joining these pairs to last night's clusters is not in
    the time. Prints a SUMMARY line (JSON)."""
    import json
    import resource

    out = flat_from_csv(flat_csv)
    held = out.sample(n=int(new), random_state=int(seed))
    rest = out.drop(held.index)
    con = spill_connection(memory_limit)
    db_api = DuckDBAPI(connection=con)
    t0 = time.perf_counter()
    night1 = register_by_source(db_api, rest, "night1")
    linker = trained_linker(db_api, night1)
    linker.table_management.compute_tf_table("name")
    trained = time.perf_counter() - t0
    t0, c0 = time.perf_counter(), time.process_time()
    new_dfs = register_by_source(db_api, held, "night2")
    between = linker.inference.predict_between(night1, new_dfs, threshold_match_probability=0.5)
    within = linker.inference.predict_within(new_dfs, threshold_match_probability=0.5)
    pairs = sum(con.execute(f"SELECT count(*) FROM {p.physical_name}").fetchall()[0][0] for p in (between, within))
    seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
    print("SUMMARY " + json.dumps({"records": len(rest), "new": len(held), "training_seconds": round(trained, 1),
                                   "seconds": round(seconds, 1), "cpu_seconds": round(cpu, 1), "pairs_over_half": int(pairs),
                                   "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024}))


def scale(flat_csv: str, out_csv: str, memory_limit: str = "4GB", chunks: str = "4") -> None:
    """The skewed scale set of benchmarks/gen_scale.py (bench_scale.py)."""
    link_services(flat_from_csv(flat_csv), out_csv, memory_limit, chunks)


def v3(jsonl: str, out_csv: str, memory_limit: str = "4GB", chunks: str = "1") -> None:
    """ORUK v3 services of a labelled set, as `placecat match` gets them (bench_eval.py --splink)."""
    link_services(flat_from_v3(jsonl), out_csv, memory_limit, chunks)


if __name__ == "__main__":
    {"generator": generator, "fodors": fodors, "febrl": febrl, "scale": scale, "scale-new": scale_new,
     "v3": v3}[sys.argv[1]](*sys.argv[2:])
