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


ABBREVIATIONS = {"street": "St", "road": "Rd", "avenue": "Ave", "drive": "Dr", "place": "Pl", "court": "Ct", "crescent": "Cres",
                 "close": "Cl", "circuit": "Cct", "parade": "Pde", "terrace": "Tce", "lane": "Ln", "highway": "Hwy"}


def address_kind(conn, records):
    """One-line addresses from FEBRL's fields, written twice by different hands: the
    duplicate abbreviates the street type, drops the commas, changes case and writes the
    unit another way. Deduplication on name and address, the address compared as text and
    as the 'address' kind (crm.normalize_address's canonical form)."""
    import random
    rng = random.Random(7)
    originals = [r for r in records if "-org" in r["rec_id"] and r["address_1"] and r["suburb"]]
    rows = []
    for r in originals:
        unit = rng.randrange(1, 40) if rng.random() < 0.3 else None
        road = r["address_1"].title()
        line = f"{r['street_number']} {road}{', Unit ' + str(unit) if unit else ''}, {r['suburb'].title()} {r['state'].upper()} {r['postcode']}"
        rows.append((r["rec_id"], r["given_name"], r["surname"], line))
        if rng.random() < 0.5:
            words = road.split()
            if words and words[-1].lower() in ABBREVIATIONS:
                words[-1] = ABBREVIATIONS[words[-1].lower()] + rng.choice([".", ""])
            other = f"{r['street_number']} {' '.join(words)}{' #' + str(unit) if unit else ''} {r['suburb']} {r['state']} {r['postcode']}"
            other = other.upper() if rng.random() < 0.5 else other.lower()
            # The second hand also shortens the given name and misspells the surname now and then.
            given = r["given_name"][:1] if r["given_name"] and rng.random() < 0.5 else r["given_name"]
            surname = r["surname"]
            if len(surname) > 3 and rng.random() < 0.3:
                k = rng.randrange(1, len(surname) - 1)
                surname = surname[:k] + surname[k + 1] + surname[k] + surname[k + 2:]
            rows.append((r["rec_id"].replace("-org", "-var"), given, surname, other))
        if rng.random() < 0.2:
            # A relative at the same address: a different person.
            relative = rng.choice(originals)["given_name"]
            if relative and relative != r["given_name"]:
                rows.append((r["rec_id"].replace("-org", "-rel"), relative, r["surname"], line))
    conn.execute("DROP TABLE IF EXISTS febrl_addresses")
    conn.execute("CREATE TABLE febrl_addresses (rec_id text PRIMARY KEY, given_name text, surname text, address text)")
    with conn.cursor() as cur:
        with cur.copy("COPY febrl_addresses FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
    truth = {tuple(sorted((row[0].replace("-var", "-org"), row[0]))) for row in rows if "-var" in row[0]}
    print(f"  name + one-line address, {len(rows)} records, {len(truth)} true pairs (second copies: street types abbreviated, case and units")
    print("  rewritten, given name often an initial, surname sometimes misspelt; relatives at the same address are other people):")
    for label, options in [("address as text", "{}"), ("address kind", '{"kinds": {"address": "address"}, "country": "AU"}')]:
        t0 = time.perf_counter()
        got = conn.execute(f"SELECT id, cluster_id FROM crm.dedupe('febrl_addresses', 'rec_id', '{options}')").fetchall()
        secs = time.perf_counter() - t0
        p, r, f = scores(cluster_pairs(dict(got)), truth)
        print(f"    {label:16} precision {p:.4f} recall {r:.4f} F1 {f:.4f}  {secs:.2f} s")


def golden(conn, rows=int(os.environ.get("PG_CRM_BENCH_GOLDEN_ROWS", "500000"))):
    """crm.golden_records over `rows` contacts in clusters of 1-3, against a plain GROUP BY
    taking max() of every column (the cheapest survivorship a user could write in SQL)."""
    conn.execute("DROP TABLE IF EXISTS golden_contacts, golden_clusters")
    conn.execute(f"""CREATE TABLE golden_contacts AS
        SELECT i AS id, 'Person ' || (i / 2) AS name, 'p' || (i / 2) || CASE WHEN i % 3 = 0 THEN '@old.example' ELSE '@example.org' END AS email,
               CASE WHEN i % 4 = 0 THEN NULL ELSE '+1415555' || lpad((i % 10000)::text, 4, '0') END AS phone,
               (ARRAY['crm', 'shop', 'import'])[1 + i % 3] AS source, (i % 997)::numeric AS spend,
               timestamptz '2024-01-01' + (i % 500) * interval '1 day' AS updated_at
        FROM generate_series(1, {rows}) i""")
    conn.execute("CREATE TABLE golden_clusters AS SELECT id::text AS id, (id / 2)::text AS cluster_id FROM golden_contacts")
    conn.execute("ANALYZE golden_contacts, golden_clusters")
    rules = '{"recent_by": "updated_at", "trust": {"column": "source", "order": ["crm", "shop", "import"]}, "columns": {"name": "most_frequent", "phone": "most_trusted", "spend": "max"}}'
    runs = []
    for _ in range(3):
        t0 = time.perf_counter()
        n = conn.execute(f"SELECT count(*) FROM crm.golden_records('golden_contacts', 'id', 'golden_clusters', '{rules}')").fetchone()[0]
        runs.append(time.perf_counter() - t0)
    ours = sorted(runs)[1]
    runs = []
    for _ in range(3):
        t0 = time.perf_counter()
        conn.execute("""SELECT count(*) FROM (SELECT k.cluster_id, max(c.name), max(c.email), max(c.phone), max(c.source), max(c.spend), max(c.updated_at)
                        FROM golden_contacts c JOIN golden_clusters k ON k.id = c.id::text GROUP BY k.cluster_id) g""").fetchone()
        runs.append(time.perf_counter() - t0)
    plain = sorted(runs)[1]
    print(f"  golden records: {rows:,} contacts -> {n:,} clusters: crm.golden_records {ours:.2f} s, plain GROUP BY with max() {plain:.2f} s ({ours / plain:.1f}x; medians of 3)")


def main():
    folder = os.path.join(DATASETS, "febrl")
    if not os.path.isdir(folder):
        print(f"FEBRL: skipped ({folder} not found; ../shared/datasets is not part of the product)")
        return
    print("FEBRL deduplication, protocol of ../shared/datasets/README.md (pairwise P/R/F1 after clustering)")
    with psycopg.connect(DSN, autocommit=True) as conn:
        golden(conn)
        for i in (1, 2, 3):
            path = os.path.join(folder, f"dataset{i}.csv")
            if os.path.exists(path):
                dedupe(conn, f"febrl_dataset{i}", load(path))
        last = os.path.join(folder, "dataset3.csv")
        if os.path.exists(last):
            link(conn, load(last))
            address_kind(conn, load(last))


if __name__ == "__main__":
    main()
