"""The overrides file (dedupe/overrides.py): decisions that are consistent, and that find their
records again when a source re-issues its ids."""
import pytest
import yaml

from dedupe.matcher import match_records
from dedupe.overrides import OverridesError, fingerprint_sql, load_overrides
from tests.support.listings import cluster_of, clusters, keyed, leisure_world

A, B, C, D = ("council", "a"), ("nhs", "b"), ("vcs", "c"), ("vcs", "d")


def test_a_cannot_link_against_a_chain_of_must_links_is_refused_naming_them(tmp_path):
    ov = load_overrides(tmp_path / "overrides.yaml")
    ov.add("must-link", A, B)
    ov.add("must-link", B, C)
    with pytest.raises(OverridesError) as refused:
        ov.add("cannot-link", A, C)
    message = str(refused.value)
    assert "\n" not in message
    assert message.startswith("cannot-link council/a ~ vcs/c refused: it contradicts decision 1 (must-link council/a ~ nhs/b")
    assert "decision 2 (must-link nhs/b ~ vcs/c" in message and str(tmp_path / "overrides.yaml") in message
    assert len(ov.decisions) == 2                  # nothing was recorded
    ov.add("must-link", A, C)                      # agreeing with the chain is fine


def test_a_must_link_that_would_chain_records_a_cannot_link_keeps_apart_is_refused():
    ov = load_overrides(None)
    ov.add("cannot-link", A, C)
    ov.add("must-link", A, B)
    with pytest.raises(OverridesError, match=r"^must-link nhs/b ~ vcs/c refused: it contradicts decision 1 \(cannot-link "
                                             r"council/a ~ vcs/c.* and decision 2 \(must-link council/a ~ nhs/b"):
        ov.add("must-link", B, C)
    with pytest.raises(OverridesError, match=r"contradicts decision 1 \(cannot-link council/a ~ vcs/c"):
        ov.add("must-link", C, A)                  # the same pair, reversed
    ov.add("must-link", C, D)                      # unrelated to the cannot-link's groups


def test_a_file_edited_by_hand_keeps_its_first_consistent_decisions(tmp_path):
    path = tmp_path / "overrides.yaml"
    side = lambda k: {"source_id": k[0], "record_id": k[1]}  # noqa: E731
    path.write_text(yaml.safe_dump({"version": 1, "decisions": [
        {"decision": "must-link", "a": side(A), "b": side(B)},
        {"decision": "cannot-link", "a": side(B), "b": side(A)},
        {"decision": "cannot-link", "a": side(A), "b": side(D)}]}))
    kept, skipped = load_overrides(path).consistent()
    assert [d["decision"] for d in kept] == ["must-link", "cannot-link"] and kept[1]["b"] == side(D)
    assert len(skipped) == 1 and skipped[0].startswith("decision 2: cannot-link nhs/b ~ council/a refused")


def test_what_the_file_already_answers_directly_or_through_a_chain():
    ov = load_overrides(None)
    ov.add("must-link", A, B)
    ov.add("cannot-link", B, C)
    answered = ov.answering()
    side = lambda k: {"source_id": k[0], "record_id": k[1]}  # noqa: E731
    assert answered(side(B), side(A)) == "must-link"
    assert answered(side(A), side(C)) == "cannot-link"        # A is B, and B is not C
    assert answered(side(A), side(D)) is None


def fingerprints(con, source_id):
    return dict(con.execute(f"SELECT source_record_id, {fingerprint_sql('r')} FROM work.match_input r WHERE source_id = ?",
                            [source_id]).fetchall())


def reissued(rows, source_id, rename):
    """The same records, with the source's ids re-issued (rename: old id -> new id)."""
    return [dict(r, source_record_id=rename(r["source_record_id"]), staging_id=f"{source_id}/{rename(r['source_record_id'])}")
            if r["source_id"] == source_id else r for r in rows]


@pytest.mark.slow  # 5 s: several matched nights
def test_decisions_find_their_records_again_when_a_source_reissues_its_ids(tmp_path):
    rows = leisure_world()
    con = keyed(rows)
    fp = {s: fingerprints(con, s) for s in ("council", "nhs")}
    # The two listings of Coffee & Chat merge on their own; a person says they are two services, and
    # that two classes the model keeps apart are one.
    assert "nhs-svc-0" in cluster_of(match_records(con, explain=False) and clusters(con), "council-svc-0")
    path = tmp_path / "overrides.yaml"
    ov = load_overrides(path)
    ov.add("cannot-link", ("council", "council-svc-0", fp["council"]["council-svc-0"]), ("nhs", "nhs-svc-0", fp["nhs"]["nhs-svc-0"]))
    ov.add("must-link", ("council", "council-class-0", fp["council"]["council-class-0"]),
           ("nhs", "nhs-class-5", fp["nhs"]["nhs-class-5"]))
    ov.save()

    def honoured(rows, council=lambda rid: rid, nhs=lambda rid: rid):
        """Both decisions hold after the sources' ids were mapped by council and nhs."""
        con = keyed(rows)
        match_records(con, overrides=load_overrides(path), explain=False)
        groups = clusters(con)
        return (nhs("nhs-svc-0") not in cluster_of(groups, council("council-svc-0"))
                and nhs("nhs-class-5") in cluster_of(groups, council("council-class-0")))

    assert honoured(rows)
    # The council re-issues every id: its records are found by fingerprint.
    council = lambda rid: "v2-" + rid  # noqa: E731
    assert honoured(reissued(rows, "council", council), council=council)
    report = load_overrides(path).resolve_in(keyed(reissued(rows, "council", council)))[2]
    assert report == {"decisions": 2, "contradictions": [], "by_id": 2, "by_fingerprint": 2, "not_found": 0}
    # The NHS directory renumbers: each id now names another record, and the fingerprint wins.
    nhs_ids = sorted(r["source_record_id"] for r in rows if r["source_id"] == "nhs")
    shift = dict(zip(nhs_ids, nhs_ids[1:] + nhs_ids[:1]))
    assert honoured(reissued(rows, "nhs", shift.get), nhs=shift.get)
    report = load_overrides(path).resolve_in(keyed(reissued(rows, "nhs", shift.get)))[2]
    assert report == {"decisions": 2, "contradictions": [], "by_id": 2, "by_fingerprint": 2, "not_found": 0}
    # Without fingerprints (a file from an older placecat, or written by hand) a renumbering misleads:
    # the decisions land on the records that now carry the ids.
    for d in ov.decisions:
        for side in ("a", "b"):
            d[side].pop("fingerprint")
    ov.save()
    assert not honoured(reissued(rows, "nhs", shift.get), nhs=shift.get)


def test_a_fingerprint_two_records_of_a_source_share_finds_neither(tmp_path):
    rows = leisure_world()
    twin = next(r for r in rows if r["source_record_id"] == "council-svc-0")
    rows.append(dict(twin, source_record_id="council-svc-0-copy", staging_id="council/council-svc-0-copy"))
    con = keyed(rows)
    fp = fingerprints(con, "council")["council-svc-0"]
    assert fingerprints(con, "council")["council-svc-0-copy"] == fp
    ov = load_overrides(None)
    ov.add("cannot-link", ("council", "gone-id", fp), ("nhs", "nhs-svc-0"))
    assert ov.resolve_in(con)[2]["not_found"] == 1
