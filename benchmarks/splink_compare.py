"""Splink, side by side: run by benchmarks/bench_matching.py in a separate venv (Splink is a
benchmark-only tool, never a runtime dependency of placecat).

    /work/splink-venv/bin/python benchmarks/splink_compare.py generator FILE.parquet
    /work/splink-venv/bin/python benchmarks/splink_compare.py fodors FIXTURES_DIR
    /work/splink-venv/bin/python benchmarks/splink_compare.py febrl FIXTURES_DIR

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


if __name__ == "__main__":
    {"generator": generator, "fodors": fodors, "febrl": febrl}[sys.argv[1]](sys.argv[2])
