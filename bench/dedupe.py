#!/usr/bin/env python3
"""pg_crm record unification benchmark, measured in one run.

FEBRL protocol (../shared/datasets/README.md): truth = records sharing N in `rec-N-`;
pairwise precision, recall and F1 of the predicted duplicate pairs, every pair inside a
predicted cluster counting as predicted. Side by side:

  * crm.dedupe(source, 'rec_id') with default options (no labels, no tuning);
  * the Python recordlinkage library (0.16) as its FEBRL tutorial sets it up: a union
    of blocks on given_name, surname, date_of_birth and postcode; Jaro-Winkler ≥ 0.85 on
    the names, address and suburb, exact on the other fields; the unsupervised ECM
    classifier; predicted links joined into clusters the same way.

Also crm.link between the originals and the duplicates of a dataset (pairs scored the
same way, no clustering). Run through ./scripts/bench (it starts the cluster and venv).
"""
import csv
import os
import time
from collections import defaultdict

import psycopg

DSN = os.environ["PG_CRM_BENCH_DSN"]
DATASETS = os.environ.get("PG_CRM_DATASETS", os.path.join(os.path.dirname(__file__), "..", "..", "shared", "datasets"))
FIELDS = ["given_name", "surname", "street_number", "address_1", "address_2", "suburb", "postcode", "state", "date_of_birth", "soc_sec_id"]


def load(path):
    with open(path, newline="") as f:
        rows = list(csv.reader(f, skipinitialspace=True))
    header = [h.strip() for h in rows[0]]
    return [dict(zip(header, (v.strip() for v in r))) for r in rows[1:] if r]


def person(rec_id):
    return rec_id.split("-")[1]


def true_pairs(records):
    by_person = defaultdict(list)
    for r in records:
        by_person[person(r["rec_id"])].append(r["rec_id"])
    return {tuple(sorted((a, b))) for ids in by_person.values() for i, a in enumerate(ids) for b in ids[i + 1:]}


def cluster_pairs(cluster_of):
    members = defaultdict(list)
    for rec, cluster in cluster_of.items():
        members[cluster].append(rec)
    return {tuple(sorted((a, b))) for ids in members.values() for i, a in enumerate(ids) for b in ids[i + 1:]}


def scores(predicted, truth):
    tp = len(predicted & truth)
    precision = tp / len(predicted) if predicted else 0.0
    recall = tp / len(truth) if truth else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return precision, recall, f1


def components(ids, links):
    parent = {i: i for i in ids}

    def root(x):
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for a, b in links:
        ra, rb = root(a), root(b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)
    return {i: root(i) for i in ids}


def load_table(conn, name, records):
    conn.execute(f"DROP TABLE IF EXISTS {name}")
    conn.execute(f"CREATE TABLE {name} (rec_id text, {', '.join(f + ' text' for f in FIELDS)})")
    with conn.cursor().copy(f"COPY {name} FROM STDIN") as cp:
        for r in records:
            cp.write_row([r["rec_id"]] + [r[f] or None for f in FIELDS])


def recordlinkage_clusters(records):
    import pandas as pd
    import recordlinkage

    df = pd.DataFrame(records).set_index("rec_id").replace("", None)
    indexer = recordlinkage.Index()
    for field in ("given_name", "surname", "date_of_birth", "postcode"):
        indexer.block(field)
    candidates = indexer.index(df)
    compare = recordlinkage.Compare()
    for field in ("given_name", "surname", "address_1", "suburb"):
        compare.string(field, field, method="jarowinkler", threshold=0.85, label=field)
    for field in ("street_number", "address_2", "postcode", "state", "date_of_birth", "soc_sec_id"):
        compare.exact(field, field, label=field)
    features = compare.compute(candidates, df)
    matches = recordlinkage.ECMClassifier().fit_predict(features)
    return components(list(df.index), [(a, b) for a, b in matches]), len(candidates)


def dedupe(conn, name, records):
    truth = true_pairs(records)
    load_table(conn, name, records)
    t0 = time.perf_counter()
    rows = conn.execute(f"SELECT id, cluster_id FROM crm.dedupe('{name}', 'rec_id')").fetchall()
    ours_s = time.perf_counter() - t0
    p, r, f = scores(cluster_pairs(dict(rows)), truth)
    print(f"  {name:16} {len(records):5} records, {len(truth):5} true pairs")
    print(f"    pg_crm dedupe      precision {p:.4f} recall {r:.4f} F1 {f:.4f}  {ours_s:6.2f} s")
    try:
        t0 = time.perf_counter()
        clusters, n_candidates = recordlinkage_clusters(records)
        peer_s = time.perf_counter() - t0
        p2, r2, f2 = scores(cluster_pairs(clusters), truth)
        print(f"    recordlinkage ECM  precision {p2:.4f} recall {r2:.4f} F1 {f2:.4f}  {peer_s:6.2f} s ({n_candidates} candidate pairs)")
        return f, f2, ours_s, peer_s
    except Exception as e:  # the peer is optional: report, do not fail the run
        print(f"    recordlinkage: not run ({type(e).__name__}: {e})")
        return f, None, ours_s, None


def link(conn, records):
    originals = [r for r in records if "-org" in r["rec_id"]]
    duplicates = [r for r in records if "-dup-" in r["rec_id"]]
    load_table(conn, "febrl_left", originals)
    load_table(conn, "febrl_right", duplicates)
    truth = {(a["rec_id"], b["rec_id"]) for a in originals for b in duplicates if person(a["rec_id"]) == person(b["rec_id"])}
    t0 = time.perf_counter()
    rows = conn.execute("SELECT left_id, right_id FROM crm.link('febrl_left', 'febrl_right', 'rec_id')").fetchall()
    secs = time.perf_counter() - t0
    p, r, f = scores(set(rows), truth)
    print(f"  link originals ({len(originals)}) to duplicates ({len(duplicates)}): precision {p:.4f} recall {r:.4f} F1 {f:.4f}  {secs:.2f} s")


def main():
    folder = os.path.join(DATASETS, "febrl")
    if not os.path.isdir(folder):
        print(f"FEBRL: skipped ({folder} not found; ../shared/datasets is not part of the product)")
        return
    print("FEBRL deduplication, protocol of ../shared/datasets/README.md (pairwise P/R/F1 after clustering)")
    with psycopg.connect(DSN, autocommit=True) as conn:
        for i in (1, 2, 3):
            path = os.path.join(folder, f"dataset{i}.csv")
            if os.path.exists(path):
                dedupe(conn, f"febrl_dataset{i}", load(path))
        last = os.path.join(folder, "dataset3.csv")
        if os.path.exists(last):
            link(conn, load(last))


if __name__ == "__main__":
    main()
