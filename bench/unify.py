#!/usr/bin/env python3
"""pg_crm record unification against Splink, measured in one run (issue 16).

Splink (PyPI `splink`, DuckDB backend) runs its documented unsupervised workflow on the
same records: the prior from deterministic rules, u by random sampling
(`estimate_u_using_random_sampling`), m by EM on blocking rules
(`estimate_parameters_using_expectation_maximisation`), `predict` and
`cluster_pairwise_predictions_at_threshold` at 0.5. Every figure is pairwise precision,
recall and F1 after clustering (every pair inside a predicted cluster counts as predicted).

  1. FEBRL datasets 1-3 (protocol of ../shared/datasets/README.md): crm.dedupe(source,
     'rec_id') with default options; Splink as its febrl3 example sets it up.
  2. The demo's customers (scripts/demo-sql/data.sql, then clean.sql's cleaning SELECT),
     truth = customers.duplicate_of: crm.dedupe with term_frequencies true and false;
     Splink with and without term-frequency adjustments on name and email. Both compare
     name, email, phone, country and signup_date.
  3. Incremental: crm.train_matcher on 90 % of a data set (FEBRL dataset 3 and the demo's
     customers), keys filled from crm.matcher_keys, crm.match_trigger on the table, the
     other 10 % inserted one row per statement: p50/p99 insert latency against the same
     inserts into a table without the trigger, pairwise F1 between the final keys and a
     batch crm.dedupe over everything, and whether every changed key has a logged merge.
  4. Scale: a seeded generator of N messy contacts (names from eight countries, e-mail
     addresses built from names, phones in national and international formats, 10 %
     duplicates with typos, missing fields and reformatted phones), loaded with COPY and
     cleaned as the demo cleans; crm.dedupe and crm.train_matcher end to end with the
     backend's peak memory (VmHWM of a fresh backend), and Splink in a child process
     (time and peak RSS) on the same records.

Environment: PG_CRM_BENCH_DSN (required), PG_CRM_DATASETS (default ../shared/datasets),
PG_CRM_BENCH_UNIFY_N (scale records, default 1,000,000), PG_CRM_BENCH_DEMO_CUSTOMERS
(default 50,000), PG_CRM_BENCH_UNIFY_PARTS (comma list of febrl, demo, incremental,
scale; default all), PG_CRM_BENCH_SPLINK_U_PAIRS (Splink's max_pairs for u on the demo and
scale data, default 1e7). Run through ./scripts/bench --only unify.
"""
import csv
import json
import logging
import os
import random
import re
import resource
import subprocess
import sys
import tempfile
import time
import unicodedata
from collections import defaultdict

import psycopg

DSN = os.environ.get("PG_CRM_BENCH_DSN", "")
os.environ.setdefault("PG_CRM_BENCH_DSN", "")  # bench/dedupe.py reads it when imported
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from dedupe import FIELDS, cluster_pairs, load, load_table, scores, true_pairs  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
DATASETS = os.environ.get("PG_CRM_DATASETS", os.path.join(REPO, "..", "shared", "datasets"))
SCALE_N = int(os.environ.get("PG_CRM_BENCH_UNIFY_N", "1000000"))
DEMO_CUSTOMERS = int(os.environ.get("PG_CRM_BENCH_DEMO_CUSTOMERS", "50000"))
PARTS = [p.strip() for p in os.environ.get("PG_CRM_BENCH_UNIFY_PARTS", "febrl,demo,incremental,scale").split(",") if p.strip()]
SPLINK_U_PAIRS = float(os.environ.get("PG_CRM_BENCH_SPLINK_U_PAIRS", "1e7"))
CONTACT_COLUMNS = ["name", "email", "phone", "country", "signup_date"]

RESULTS = []  # one dict per measured method, printed as the closing table


def record(part, data, method, p, r, f, secs, peer=None, **extra):
    row = dict(part=part, data=data, method=method, precision=p, recall=r, f1=f, secs=secs, peer=peer, **extra)
    RESULTS.append(row)
    shown = f"precision {p:.4f} recall {r:.4f} F1 {f:.4f}" if f is not None else "(not run)"
    print(f"    {method:34} {shown}  {secs:7.2f} s" if secs is not None else f"    {method:34} {shown}")
    return row


# ---------------------------------------------------------------------------------------
# Splink

def quiet_splink():
    for name in ("splink", "duckdb"):
        logging.getLogger(name).setLevel(logging.ERROR)


def splink_available():
    try:
        import splink  # noqa: F401
        return None
    except Exception as e:  # reported in the table, the run goes on
        return f"{type(e).__name__}: {e}"


def splink_run(df, settings, prior_rules, prior_recall, em_rules, u_pairs):
    """Splink's unsupervised workflow on a pandas frame: cluster of every record (by the
    settings' unique id) and the number of pairs scored ≥ 0.5."""
    from splink import DuckDBAPI, Linker

    quiet_splink()
    linker = Linker(df, settings, DuckDBAPI(), set_up_basic_logging=False)
    linker.training.estimate_probability_two_random_records_match(prior_rules, recall=prior_recall)
    linker.training.estimate_u_using_random_sampling(max_pairs=u_pairs, seed=1)
    for rule in em_rules:
        linker.training.estimate_parameters_using_expectation_maximisation(rule)
    predictions = linker.inference.predict(threshold_match_probability=0.5)
    clusters = linker.clustering.cluster_pairwise_predictions_at_threshold(predictions, threshold_match_probability=0.5)
    frame = clusters.as_pandas_dataframe()
    id_column = settings.unique_id_column_name
    n_pairs = predictions.as_duckdbpyrelation().count("*").fetchall()[0][0]
    return {str(i): str(c) for i, c in zip(frame[id_column], frame["cluster_id"])}, n_pairs


def splink_febrl(records):
    """The febrl3 example of Splink's documentation (DuckDB): its blocking rules,
    comparisons, deterministic rules (recall 0.9), u from 1e6 random pairs, EM on
    date_of_birth and postcode."""
    import pandas as pd
    import splink.comparison_library as cl
    from splink import SettingsCreator, block_on

    df = pd.DataFrame([{k: (v or None) for k, v in r.items()} for r in records])
    settings = SettingsCreator(
        unique_id_column_name="rec_id",
        link_type="dedupe_only",
        blocking_rules_to_generate_predictions=[block_on("soc_sec_id"), block_on("given_name"), block_on("surname"),
                                                block_on("date_of_birth"), block_on("postcode")],
        comparisons=[
            cl.NameComparison("given_name"),
            cl.NameComparison("surname"),
            cl.DateOfBirthComparison("date_of_birth", input_is_string=True, datetime_format="%Y%m%d"),
            cl.DamerauLevenshteinAtThresholds("soc_sec_id", [2]),
            cl.ExactMatch("street_number").configure(term_frequency_adjustments=True),
            cl.ExactMatch("postcode").configure(term_frequency_adjustments=True),
        ],
    )
    prior = [block_on("soc_sec_id"), block_on("given_name", "surname", "date_of_birth"),
             "l.given_name = r.surname and l.surname = r.given_name and l.date_of_birth = r.date_of_birth"]
    return splink_run(df, settings, prior, 0.9, [block_on("date_of_birth"), block_on("postcode")], 1e6)


def splink_name_email(term_frequencies):
    """The levels of Splink's NameComparison("name") and EmailComparison("email") (both
    switch term-frequency adjustments on for their exact level by default), written out so
    the adjustments can be switched off too."""
    import splink.comparison_level_library as cll
    import splink.comparison_library as cl
    from splink import ColumnExpression

    tf = term_frequencies
    name = cl.CustomComparison(output_column_name="name", comparison_levels=[
        cll.NullLevel("name"), cll.ExactMatchLevel("name", term_frequency_adjustments=tf),
        cll.JaroWinklerLevel("name", 0.92), cll.JaroWinklerLevel("name", 0.88), cll.JaroWinklerLevel("name", 0.7), cll.ElseLevel()])
    email, user = ColumnExpression("email"), ColumnExpression("email").regex_extract(cl.EmailComparison.USERNAME_REGEX)
    email = cl.CustomComparison(output_column_name="email", comparison_levels=[
        cll.NullLevel(email), cll.ExactMatchLevel(email, term_frequency_adjustments=tf),
        cll.ExactMatchLevel(user).configure(label_for_charts="Exact match on username"),
        cll.JaroWinklerLevel(email, 0.88), cll.JaroWinklerLevel(user, 0.88).configure(label_for_charts="Jaro-Winkler >0.88 on username"),
        cll.ElseLevel()])
    return name, email


def splink_contact_settings(term_frequencies):
    """Contacts (name, email, phone, country, signup_date) with Splink's name and e-mail
    comparisons, exact phone, country and date."""
    import splink.comparison_library as cl
    from splink import SettingsCreator, block_on

    name, email = splink_name_email(term_frequencies)
    return SettingsCreator(
        unique_id_column_name="id",
        link_type="dedupe_only",
        blocking_rules_to_generate_predictions=[block_on("name"), block_on("email"), block_on("phone")],
        comparisons=[name, email, cl.ExactMatch("phone"), cl.ExactMatch("country"), cl.ExactMatch("signup_date")],
    )


def splink_contacts(df, term_frequencies, u_pairs=None):
    """Splink on a contacts frame: prior from name+phone and name+email (recall 0.7), EM
    on phone and then on email (together they train every comparison). EM on the name, as
    Splink's 50k example trains on first name and surname, collapses on this data
    (precision below 0.01): same-name people have e-mail addresses built from the same
    name, so EM takes "same name, similar e-mail" for the match class."""
    from splink import block_on

    settings = splink_contact_settings(term_frequencies)
    prior = [block_on("name", "phone"), block_on("name", "email")]
    return splink_run(df, settings, prior, 0.7, [block_on("phone"), block_on("email")], u_pairs or SPLINK_U_PAIRS)


def contacts_frame(rows):
    """A pandas frame of (id, name, email, phone, country, signup_date) rows, all text."""
    import pandas as pd

    return pd.DataFrame([[str(r[0])] + [None if v is None else str(v) for v in r[1:]] for r in rows], columns=["id"] + CONTACT_COLUMNS)


def timed(fn, *args, **kwargs):
    t0 = time.perf_counter()
    out = fn(*args, **kwargs)
    return out, time.perf_counter() - t0


def peer_or_error(fn, *args, **kwargs):
    """(result, seconds, None), or (None, None, why) when Splink failed."""
    try:
        out, secs = timed(fn, *args, **kwargs)
        return out, secs, None
    except Exception as e:
        return None, None, f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"


# ---------------------------------------------------------------------------------------
# Part 1: FEBRL

def febrl_part(conn):
    folder = os.path.join(DATASETS, "febrl")
    if not os.path.isdir(folder):
        print(f"FEBRL: skipped ({folder} not found; ../shared/datasets is not part of the product)")
        return
    print("1. FEBRL deduplication (pairwise P/R/F1 after clustering), crm.dedupe defaults vs Splink's febrl3 example")
    for i in (1, 2, 3):
        path = os.path.join(folder, f"dataset{i}.csv")
        if os.path.exists(path):
            febrl_dataset(conn, f"dataset{i}", load(path))


def febrl_dataset(conn, label, records):
    truth = true_pairs(records)
    table = f"unify_febrl_{label}"
    load_table(conn, table, records)
    print(f"  {label}: {len(records)} records, {len(truth)} true pairs")
    rows, secs = timed(lambda: conn.execute(f"SELECT id, cluster_id FROM crm.dedupe('{table}', 'rec_id')").fetchall())
    record("febrl", label, "pg_crm dedupe", *scores(cluster_pairs(dict(rows)), truth), secs, peer="splink")
    out, secs, why = peer_or_error(splink_febrl, records)
    if why:
        record("febrl", label, "splink", None, None, None, None, peer=None, error=why)
        print(f"      splink failed: {why}")
    else:
        record("febrl", label, "splink", *scores(cluster_pairs(out[0]), truth), secs)


# ---------------------------------------------------------------------------------------
# Part 2: the demo's customers

def psql(*args, **env):
    subprocess.run(["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", DSN, *args], check=True, cwd=REPO,
                   stdout=subprocess.DEVNULL, env={**os.environ, **env})


def cleaning_select():
    """clean.sql's statements that build customers_clean (from its DROP to its ANALYZE)."""
    with open(os.path.join(REPO, "scripts", "demo-sql", "clean.sql")) as f:
        text = f.read()
    block = re.search(r"DROP TABLE IF EXISTS customers_clean;.*?ANALYZE customers_clean;", text, re.S).group(0)
    return [s.strip() for s in block.split(";") if s.strip()]


def demo_data(conn):
    """The demo's customers at PG_CRM_BENCH_DEMO_CUSTOMERS, cleaned; returns the rows
    (customer_id, name, email, phone, country, signup_date, duplicate_of) and the time."""
    t0 = time.perf_counter()
    psql("-v", f"customers={DEMO_CUSTOMERS}", "-v", "seed=0.42", "-f", "scripts/demo-sql/data.sql")
    for statement in cleaning_select():
        conn.execute(statement)
    rows = conn.execute("SELECT customer_id, name, email, phone, country, signup_date::text, duplicate_of FROM customers_clean ORDER BY customer_id").fetchall()
    return rows, time.perf_counter() - t0


def planted_pairs(rows):
    """Truth pairs from (id, ..., original's id or None) rows: records of one person."""
    person = {str(r[0]): str(r[-1] if r[-1] is not None else r[0]) for r in rows}
    groups = defaultdict(list)
    for rec, who in person.items():
        groups[who].append(rec)
    return {tuple(sorted((a, b))) for ids in groups.values() for i, a in enumerate(ids) for b in ids[i + 1:]}


def dedupe_contacts(conn, source, options):
    sql = f"SELECT id, cluster_id FROM crm.dedupe('{source}', 'id', '{json.dumps(options)}')"
    return dict(conn.execute(sql).fetchall())


def demo_part(conn):
    print(f"2. The demo's customers (data.sql customers={DEMO_CUSTOMERS} seed=0.42, clean.sql), truth = duplicate_of")
    rows, secs = demo_data(conn)
    truth = planted_pairs(rows)
    print(f"  {len(rows)} records, {len(truth)} true pairs (generated and cleaned in {secs:.1f} s)")
    source = "SELECT customer_id AS id, name, email, phone, country, signup_date FROM customers_clean"
    frame = contacts_frame([r[:-1] for r in rows])
    for tf in (True, False):
        label = "on" if tf else "off"
        try:
            clusters, secs = timed(dedupe_contacts, conn, source.replace("'", "''"), {"term_frequencies": tf})
            record("demo", f"tf {label}", f"pg_crm dedupe term_frequencies {str(tf).lower()}", *scores(cluster_pairs(clusters), truth), secs, peer=f"splink tf {label}")
        except psycopg.Error as e:
            record("demo", f"tf {label}", f"pg_crm dedupe term_frequencies {str(tf).lower()}", None, None, None, None, error=str(e).splitlines()[0])
            print(f"      pg_crm failed: {str(e).splitlines()[0]}")
        out, secs, why = peer_or_error(splink_contacts, frame, tf)
        name = f"splink tf {label} (name, email)"
        if why:
            record("demo", f"tf {label}", name, None, None, None, None, error=why)
            print(f"      splink failed: {why}")
        else:
            record("demo", f"tf {label}", name, *scores(cluster_pairs(out[0]), truth), secs, key=f"splink tf {label}")


# ---------------------------------------------------------------------------------------
# Part 3: incremental keys through the trigger

def drop_matcher(conn, name):
    conn.execute("SELECT crm.drop_model(name, version, true) FROM crm.models WHERE name = %s ORDER BY version DESC", (name,))
    conn.execute("DELETE FROM crm.match_log WHERE matcher = %s", (name,))


def create_keyed_table(conn, table, columns, rows):
    """`columns`: (name, type) pairs, the id first; adds customer_key text; COPYs rows."""
    conn.execute(f"DROP TABLE IF EXISTS {table}")
    conn.execute(f"CREATE TABLE {table} ({', '.join(f'{c} {t}' for c, t in columns)}, customer_key text)")
    with conn.cursor().copy(f"COPY {table} ({', '.join(c for c, _ in columns)}) FROM STDIN") as cp:
        for r in rows:
            cp.write_row(r)


def insert_one_by_one(conn, table, columns, rows):
    """Each row in its own INSERT (autocommit: its own transaction); latencies in ms."""
    sql = f"INSERT INTO {table} ({', '.join(c for c, _ in columns)}) VALUES ({', '.join(['%s'] * len(columns))})"
    latencies = []
    for r in rows:
        t0 = time.perf_counter()
        conn.execute(sql, r)
        latencies.append((time.perf_counter() - t0) * 1000)
    return latencies


def percentile(values, q):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q / 100 * (len(ordered) - 1))))]


def unlogged_key_changes(conn, name, before, after):
    """Records whose key changed with no chain of logged merges from the old key to the new."""
    merged = dict(conn.execute("SELECT old_key, surviving_key FROM crm.match_log WHERE matcher = %s ORDER BY id", (name,)).fetchall())
    changed, unlogged = 0, 0
    for rec, old in before.items():
        new = after.get(rec)
        if new == old:
            continue
        changed += 1
        key, steps = old, 0
        while key in merged and key != new and steps < 1000:
            key, steps = merged[key], steps + 1
        unlogged += key != new
    return changed, unlogged


def incremental(conn, label, columns, rows, truth):
    """train_matcher on the rows not held out (every 10th row is), keys from
    matcher_keys, the trigger, then the held-out rows one INSERT each."""
    base = [r for i, r in enumerate(rows) if i % 10 != 9]
    held = [r for i, r in enumerate(rows) if i % 10 == 9]
    table, plain, name = f"unify_inc_{label}", f"unify_inc_{label}_plain", f"unify_inc_{label}"
    id_column = columns[0][0]
    drop_matcher(conn, name)
    create_keyed_table(conn, table, columns, base)
    create_keyed_table(conn, plain, columns, base)
    options = json.dumps({"exclude": ["customer_key"]})
    (metrics,), train_s = timed(lambda: conn.execute("SELECT metrics FROM crm.train_matcher(%s, %s, %s, %s)", (name, table, id_column, options)).fetchone())
    conn.execute(f"UPDATE {table} t SET customer_key = k.cluster_key FROM crm.matcher_keys(%s) k WHERE k.id = t.{id_column}::text", (name,))
    before = dict(conn.execute(f"SELECT {id_column}::text, customer_key FROM {table}").fetchall())
    conn.execute(f"CREATE TRIGGER k BEFORE INSERT OR UPDATE OR DELETE ON {table} FOR EACH ROW EXECUTE FUNCTION crm.match_trigger('{name}', 'customer_key')")
    with_trigger = insert_one_by_one(conn, table, columns, held)
    without = insert_one_by_one(conn, plain, columns, held)
    after = dict(conn.execute(f"SELECT {id_column}::text, customer_key FROM {table}").fetchall())
    compared = ", ".join(c for c, _ in columns)
    batch, batch_s = timed(lambda: dict(conn.execute(f"SELECT id, cluster_id FROM crm.dedupe('SELECT {compared} FROM {plain}', '{id_column}')").fetchall()))
    changed, unlogged = unlogged_key_changes(conn, name, before, after)
    merging = {r[0] for r in conn.execute("SELECT record_id FROM crm.match_log WHERE matcher = %s AND reason = 'insert'", (name,)).fetchall()}
    plain_inserts = [ms for r, ms in zip(held, with_trigger) if str(r[0]) not in merging] or [0.0]
    _, _, agreement = scores(cluster_pairs(after), cluster_pairs(batch))
    row = dict(part="incremental", data=label, trained=len(base), inserted=len(held), train_s=train_s,
               candidate_pairs=metrics.get("candidate_pairs"), p50=percentile(with_trigger, 50), p99=percentile(with_trigger, 99),
               base_p50=percentile(without, 50), base_p99=percentile(without, 99), f1_vs_batch=agreement, batch_s=batch_s,
               keys_truth=scores(cluster_pairs(after), truth), batch_truth=scores(cluster_pairs(batch), truth),
               changed=changed, unlogged=unlogged, merging=len(merging), p99_no_merge=percentile(plain_inserts, 99))
    RESULTS.append(row)
    print(f"  {label}: train_matcher on {len(base)} rows {train_s:.2f} s ({row['candidate_pairs']} candidate pairs), "
          f"{len(held)} single-row INSERTs through the trigger")
    print(f"    insert latency with trigger p50 {row['p50']:.2f} ms p99 {row['p99']:.2f} ms; without trigger p50 {row['base_p50']:.2f} ms p99 {row['base_p99']:.2f} ms")
    print(f"    {len(merging)} inserts merged clusters (rewriting the merged rows' keys); p99 of the others {row['p99_no_merge']:.2f} ms")
    print(f"    final keys vs batch crm.dedupe over all {len(rows)} rows ({batch_s:.2f} s): pairwise F1 {agreement:.4f}; "
          f"keys vs truth F1 {row['keys_truth'][2]:.4f}, batch vs truth F1 {row['batch_truth'][2]:.4f}")
    print(f"    keys of the trained rows changed: {changed}, of them without a logged merge: {unlogged}")


def incremental_part(conn):
    print("3. Incremental keys: crm.train_matcher on 90 %, crm.match_trigger for the other 10 % (every 10th row), one row per INSERT")
    path = os.path.join(DATASETS, "febrl", "dataset3.csv")
    if os.path.exists(path):
        records = load(path)
        columns = [("rec_id", "text")] + [(f, "text") for f in FIELDS]
        incremental(conn, "febrl3", columns, [[r["rec_id"]] + [r[f] or None for f in FIELDS] for r in records], true_pairs(records))
    if not conn.execute("SELECT to_regclass('customers_clean') IS NOT NULL").fetchone()[0]:
        demo_data(conn)
    rows = conn.execute("SELECT customer_id, name, email, phone, country, signup_date, duplicate_of FROM customers_clean ORDER BY customer_id").fetchall()
    columns = [("customer_id", "bigint"), ("name", "text"), ("email", "text"), ("phone", "text"), ("country", "text"), ("signup_date", "date")]
    incremental(conn, "demo", columns, [r[:-1] for r in rows], planted_pairs(rows))


# ---------------------------------------------------------------------------------------
# Part 4: scale, generated contacts

NAMES = {
    "US": ("James Mary John Patricia Robert Jennifer Michael Linda William Elizabeth David Barbara Richard Susan Joseph Jessica Thomas Sarah "
           "Charles Karen Christopher Nancy Daniel Lisa Matthew Betty Anthony Margaret Mark Sandra Donald Ashley Steven Kimberly Paul Emily "
           "Andrew Donna Joshua Michelle Kenneth Carol Kevin Amanda Brian Melissa Jose Maria Wei Priya",
           "Smith Johnson Williams Brown Jones Garcia Miller Davis Rodriguez Martinez Hernandez Lopez Gonzalez Wilson Anderson Thomas Taylor "
           "Moore Jackson Martin Lee Perez Thompson White Harris Sanchez Clark Ramirez Lewis Robinson Walker Young Allen King Wright Scott "
           "Torres Nguyen Hill Flores Green Adams Nelson Baker Hall Rivera Campbell Mitchell Carter Roberts O'Brien McDonald Kim Chen Patel"),
    "GB": ("Oliver Amelia George Isla Harry Ava Jack Mia Charlie Emily Jacob Grace Thomas Sophie Oscar Lily William Freya Noah Olivia "
           "Leo Isabella Arthur Poppy Henry Ella Alfie Evie Freddie Ivy Archie Florence Theo Rosie Joshua Willow Seamus Siobhan Callum Niamh",
           "Smith Jones Williams Taylor Brown Davies Evans Wilson Thomas Roberts Johnson Lewis Walker Robinson Wood Thompson White Watson "
           "Jackson Wright Green Harris Cooper King Lee Martin Clarke James Morgan Hughes Edwards Hill Moore Clark Harrison Scott Young "
           "Morris Hall Ward O'Connor McKenzie Fitzgerald Patel"),
    "DE": ("Lukas Anna Leon Lena Finn Hannah Jonas Lea Paul Marie Felix Sophie Maximilian Johanna Elias Emilia Ben Mia Noah Emma Luis "
           "Lina Julian Clara Moritz Laura Jan Sarah Tim Julia Niklas Katharina Jürgen Käthe Günter Ursula Stefan Sabine",
           "Müller Schmidt Schneider Fischer Weber Meyer Wagner Becker Schulz Hoffmann Schäfer Koch Bauer Richter Klein Wolf Schröder "
           "Neumann Schwarz Zimmermann Braun Krüger Hofmann Hartmann Lange Schmitt Werner Schmitz Krause Meier Lehmann Schmid Schulze "
           "Maier Köhler Herrmann König Walter von Weizsäcker"),
    "FR": ("Gabriel Louise Léo Jade Raphaël Emma Arthur Alice Louis Chloé Jules Léa Hugo Manon Adam Inès Lucas Lina Nathan Camille "
           "Théo Sarah Paul Lola Tom Zoé Maël Juliette Sacha Rose François Hélène Amélie Benoît Céline Stéphane",
           "Martin Bernard Dubois Thomas Robert Richard Petit Durand Leroy Moreau Simon Laurent Lefèvre Michel Garcia David Bertrand Roux "
           "Vincent Fournier Morel Girard André Mercier Dupont Lambert Bonnet François Martinez Legrand Garnier Faure Rousseau Blanc "
           "Guérin de la Fontaine"),
    "IN": ("Aarav Ananya Vihaan Diya Arjun Saanvi Reyansh Aadhya Krishna Ishaan Priya Rahul Sunita Vikram Aditya Kavya Rohan Pooja "
           "Amit Neha Sanjay Anjali Rajesh Deepika Suresh Lakshmi Arun Divya Manoj Meera",
           "Sharma Verma Gupta Singh Kumar Patel Reddy Iyer Nair Das Mehta Joshi Rao Shah Chopra Malhotra Bose Banerjee Chatterjee "
           "Mukherjee Pillai Menon Agarwal Jain Kapoor Saxena Mishra Pandey Yadav Thakur"),
    "ES": ("Hugo Lucía Martín Sofía Daniel María Pablo Martina Alejandro Paula Álvaro Julia Adrián Valeria David Emma Diego Daniela "
           "Javier Carmen Sergio Laura Jorge Marta Carlos Ana Manuel Elena Raúl Isabel",
           "García Rodríguez González Fernández López Martínez Sánchez Pérez Gómez Martín Jiménez Ruiz Hernández Díaz Moreno Muñoz "
           "Álvarez Romero Alonso Gutiérrez Navarro Torres Domínguez Vázquez Ramos Gil Ramírez Serrano Blanco Molina"),
    "IT": ("Leonardo Sofia Francesco Giulia Alessandro Aurora Lorenzo Alice Mattia Ginevra Andrea Emma Gabriele Giorgia Riccardo "
           "Beatrice Tommaso Greta Edoardo Martina Marco Chiara Luca Sara Giuseppe Anna Giovanni Francesca Antonio Elena",
           "Rossi Russo Ferrari Esposito Bianchi Romano Colombo Ricci Marino Greco Bruno Gallo Conti De Luca Mancini Costa Giordano "
           "Rizzo Lombardi Moretti Barbieri Fontana Santoro Mariani Rinaldi Caruso Ferrara Galli Martini Leone"),
    "BR": ("Miguel Helena Arthur Alice Gael Laura Heitor Maria Theo Valentina Davi Heloísa Gabriel Sophia Bernardo Isabella Samuel "
           "Manuela Pedro Júlia João Lívia Lucas Cecília Rafael Luiza Gustavo Beatriz Felipe Mariana",
           "Silva Santos Oliveira Souza Rodrigues Ferreira Alves Pereira Lima Gomes Costa Ribeiro Martins Carvalho Almeida Lopes Soares "
           "Fernandes Vieira Barbosa Rocha Dias Nascimento Andrade Moreira Nunes Marques Machado Mendes Freitas"),
}
COUNTRY_WEIGHTS = {"US": 40, "GB": 12, "DE": 10, "FR": 9, "IN": 9, "ES": 7, "IT": 7, "BR": 6}
DOMAINS = {"US": ["gmail.com", "yahoo.com", "outlook.com", "hotmail.com", "icloud.com", "aol.com", "comcast.net"],
           "GB": ["gmail.com", "hotmail.co.uk", "btinternet.com", "outlook.com", "yahoo.co.uk", "sky.com"],
           "DE": ["gmail.com", "web.de", "gmx.de", "t-online.de", "mail.de", "outlook.de"],
           "FR": ["gmail.com", "orange.fr", "free.fr", "laposte.net", "hotmail.fr", "sfr.fr"],
           "IN": ["gmail.com", "rediffmail.com", "yahoo.co.in", "outlook.com", "hotmail.com"],
           "ES": ["gmail.com", "hotmail.es", "yahoo.es", "telefonica.net", "outlook.es"],
           "IT": ["gmail.com", "libero.it", "virgilio.it", "alice.it", "hotmail.it", "tiscali.it"],
           "BR": ["gmail.com", "hotmail.com", "uol.com.br", "bol.com.br", "terra.com.br", "yahoo.com.br"]}
US_AREAS = ["212", "415", "646", "312", "617", "213", "305", "206", "512", "303", "404", "702", "718", "917", "214", "713", "602", "619"]


# Surname tails per country: syllables that make plausible rarer surnames, so that the
# full names of a million people repeat about as often as in a real customer base (the
# listed names are the common head; the tail is long).
SURNAME_SYLLABLES = {
    "US": ("Ash Brad Carl Dun Fair Gold Hart Kings Lang Mar North Pem Ray Stan Thorn Whit Black Brook Craw Ed Hol Mid Ross Shel Wat Al Bur Cald Dal Ells",
           "ley ton well wood ford son field by ham more worth ridge combe wick stead man"),
    "GB": ("Ash Brad Carl Dun Fair Gold Hart Kings Lang Mar North Pem Ray Stan Thorn Whit Black Brook Craw Ed Hol Mid Ross Shel Wat Al Bur Cald Dal Ells",
           "ley ton well wood ford son field by ham more worth ridge combe wick stead man"),
    "DE": ("Ber Eck Frei Gro Hein Kirch Lind Mei Ober Rein Stein Wald Alt Brand Dorn Eisen Feld Gut Hof Kalt Lau Neu Ro Sauer Tal Vogel Wies Zie Bau Kess",
           "mann er berg ner hardt bach rich feld hof stein ling brecht haus meier wald inger"),
    "FR": ("Beau Chau Dela Fon Gaill Lam Mar Pel Rou Sauv Tess Vall Bou Cour Gren Lec Mich Per Ric Thib Ver Bro Cla Dum Fav Jou Mal Pou Ser Tou",
           "ier eau ard et on ot ault ac in and elle enne ois y at ey"),
    "IN": ("Agr Bhat Chand Desh Gan Jag Kul Mah Nar Pra Raj Sri Tri Ven Ram Shan Bal Har Kri Mur Dev Gop Hem Jay Kam Lal Mad Pad Sur Vas",
           "awal ia kar pande esh an war ani ath ekar ur ari endra alia ugu iah"),
    "ES": ("Alv Bel Cal Cas Esc Gal Ib Lor Mar Ped Quin Sol Tej Vil Ag Bus Cerv Fig Lob Mont Nav Pach Rib Sal Val Arr Bor Cor Esp Lar",
           "ez era ado ares ero ano eda illa ona uela ejo ino oso ales ena uz"),
    "IT": ("Bel Cav Dell Fer Gal Lom Mar Pel Ros Sal Tor Vit Bar Cap Fon Gue Mor Pag Rin Ser Val Zan Ben Cor Fab Gra Lan Man Sac Tes",
           "ini etti ucci elli one ato ardi ano esi otti azzi ino ari uzzi ella oni"),
    "BR": ("Alv Bel Cal Cas Esc Gal Ib Lor Mar Ped Quin Sol Tej Vil Ag Bus Cerv Fig Lob Mont Nav Pach Rib Sal Val Arr Bor Cor Esp Lar",
           "eira inho eiro es ado ares ano eda ona ejo ino oso ales ena uz ota"),
}


def zipf_weights(n, s):
    return [1 / (k + 1) ** s for k in range(n)]


def name_pools():
    """Per country: (first names, their weights, surnames, their weights). Common names
    are common (Zipf-like weights, the listed names first), and surnames have a long tail."""
    pools = {}
    for country, (first, last) in NAMES.items():
        firsts, head = first.split(), re.findall(r"(?:de la |von |De )?\S+", last)
        onsets, endings = (x.split() for x in SURNAME_SYLLABLES[country])
        tail = [o + e for o in onsets for e in endings]
        lasts = head + [t for t in tail if t not in head]
        pools[country] = (firsts, zipf_weights(len(firsts), 0.3), lasts, zipf_weights(len(lasts), 0.5))
    return pools


def national_number(rng, country):
    """A national significant number that the country's numbering plan accepts."""
    digits = lambda k: "".join(rng.choice("0123456789") for _ in range(k))  # noqa: E731
    if country == "US":
        return rng.choice(US_AREAS) + str(rng.randint(2, 9)) + digits(2) + digits(4)
    if country == "GB":
        return "7" + rng.choice("45789") + digits(8)
    if country == "DE":
        return rng.choice(["151", "160", "170", "171", "176"]) + digits(8)
    if country == "FR":
        return rng.choice("67") + digits(8)
    if country == "IN":
        return rng.choice("6789") + digits(9)
    if country == "ES":
        return "6" + digits(8)
    if country == "IT":
        return "3" + rng.choice("234") + digits(8)
    return rng.choice(["11", "21", "31", "41", "51", "61"]) + "9" + digits(8)  # BR mobile


CALLING = {"US": "1", "GB": "44", "DE": "49", "FR": "33", "IN": "91", "ES": "34", "IT": "39", "BR": "55"}


def write_phone(rng, country, nsn):
    """The number as someone might type it: national formats, international, junk."""
    cc = CALLING[country]
    if country == "US":
        styles = [f"({nsn[:3]}) {nsn[3:6]}-{nsn[6:]}", f"{nsn[:3]}-{nsn[3:6]}-{nsn[6:]}", f"{nsn[:3]}.{nsn[3:6]}.{nsn[6:]}", f"1-{nsn[:3]}-{nsn[3:6]}-{nsn[6:]}", nsn]
    elif country in ("GB", "DE", "FR"):
        national = "0" + nsn
        spaced = " ".join(national[i:i + 2] for i in range(0, len(national), 2)) if country == "FR" else f"{national[:5]} {national[5:]}"
        styles = [national, spaced, f"0{nsn[:3]}/{nsn[3:]}" if country == "DE" else spaced]
    elif country == "IN":
        styles = [f"{nsn[:5]} {nsn[5:]}", "0" + nsn, nsn]
    elif country == "BR":
        styles = [f"({nsn[:2]}) {nsn[2:7]}-{nsn[7:]}", f"{nsn[:2]} {nsn[2:]}"]
    else:  # ES, IT: no trunk prefix
        styles = [f"{nsn[:3]} {nsn[3:6]} {nsn[6:]}", nsn]
    styles += [f"+{cc} {nsn}", f"+{cc}{nsn}", f"00{cc} {nsn}"]
    return rng.choice(styles)


def ascii_fold(text):
    return "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))


def email_local(rng, first, last):
    f, l = (re.sub(r"[^a-z]", "", ascii_fold(x).lower()) for x in (first, last))
    n = str(rng.randint(1, 9999)) if rng.random() < 0.7 else ""
    return rng.choice([f"{f}.{l}{n}", f"{f[0]}{l}{n}", f"{f}_{l}{n}", f"{l}.{f}{n}", f"{f}{l}{n}", f"{f}{n}"])


def write_email(rng, local, domain, first, last):
    """As contact forms deliver it: case, display names, mailto:, junk, missing."""
    u = rng.random()
    address = f"{local}@{domain}"
    if u < 0.70:
        return address
    if u < 0.80:
        return address.upper() if rng.random() < 0.5 else address.capitalize()
    if u < 0.87:
        return f'"{first} {last}" <{address}>'
    if u < 0.91:
        return f"mailto:{address}"
    if u < 0.95:
        return f"  {address} "
    if u < 0.97:
        return rng.choice(["n/a", "none", "-", "no email"])
    return None


def write_name(rng, first, last, title_ok=True):
    u = rng.random()
    if u < 0.45:
        return f"{first} {last}"
    if u < 0.60:
        return f"{last.upper()}, {first.upper()}"
    if u < 0.75:
        return f"{first} {last}".lower()
    if u < 0.85 and title_ok:
        return f"{rng.choice(['Mr. ', 'Mrs. ', 'Dr. ', 'Ms '])}{first} {last}"
    if u < 0.93:
        return f"{last}, {first}"
    return f"  {first.upper()}   {last.upper()} "


def write_date(rng, country, day):
    """A sign-up date in one of the formats the demo's sources use."""
    y, m, d = day
    months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
    styles = [f"{y:04}-{m:02}-{d:02}", f"{y:04}{m:02}{d:02}", f"{months[m - 1]} {d:02}, {y:04}", f"{y:04}-{m:02}-{d:02}T10:{d:02}:00Z",
              f"{m:02}/{d:02}/{y:04}" if country == "US" else f"{d:02}/{m:02}/{y:04}"]
    return rng.choice(styles)


def typo(rng, text):
    """One keyboard slip: a swapped, dropped, doubled or replaced letter."""
    if not text or len(text) < 4:
        return text
    i = rng.randrange(1, len(text) - 2)
    kind = rng.randrange(4)
    if kind == 0:
        return text[:i] + text[i + 1] + text[i] + text[i + 2:]
    if kind == 1:
        return text[:i] + text[i + 1:]
    if kind == 2:
        return text[:i] + text[i] + text[i:]
    return text[:i] + rng.choice("aeiounrst") + text[i + 1:]


def make_person(rng, pools, countries, weights, taken):
    """One person. `taken` holds the addresses given so far: a mail provider gives an
    address to one account, so a second James at icloud.com gets a number added, as a
    sign-up form would make him choose (without this, a million records gave one
    "james@icloud.com" to 118 different people, which no real data set does)."""
    country = rng.choices(countries, weights)[0]
    firsts, fw, lasts, lw = pools[country]
    first, last = rng.choices(firsts, fw)[0], rng.choices(lasts, lw)[0]
    if country in ("ES", "BR") and rng.random() < 0.6:
        last = f"{last} {rng.choices(lasts, lw)[0]}"  # two surnames
    elif country in ("US", "GB", "DE") and rng.random() < 0.25:
        first = f"{first} {rng.choice('ABCDEFGHJKLMNPRSTW')}."  # a middle initial
    domain = rng.choice(DOMAINS[country])
    local = email_local(rng, first, last)
    while (local, domain) in taken:
        local = f"{local}{rng.randint(0, 9)}"
    taken.add((local, domain))
    day = (rng.randint(2019, 2025), rng.randint(1, 12), rng.randint(1, 28))
    return dict(country=country, first=first, last=last, local=local, domain=domain,
                nsn=national_number(rng, country), day=day)


def original_record(rng, p):
    phone = write_phone(rng, p["country"], p["nsn"]) if rng.random() < 0.95 else rng.choice(["n/a", "000", "call me", None])
    return [p["country"], write_name(rng, p["first"], p["last"]), write_email(rng, p["local"], p["domain"], p["first"], p["last"]),
            phone, write_date(rng, p["country"], p["day"])]


def duplicate_record(rng, p):
    """The same person entered again by another hand: name typo or another writing, e-mail
    with a typo or missing, phone reformatted or missing, date rewritten or missing."""
    first, last = p["first"], p["last"]
    if rng.random() < 0.3:
        if rng.random() < 0.5:
            last = typo(rng, last)
        else:
            first = typo(rng, first)
    u = rng.random()
    email = None if u < 0.2 else write_email(rng, typo(rng, p["local"]) if u < 0.45 else p["local"], p["domain"], first, last)
    phone = None if rng.random() < 0.15 else write_phone(rng, p["country"], p["nsn"])
    date = None if rng.random() < 0.1 else write_date(rng, p["country"], p["day"])
    return [p["country"], write_name(rng, first, last), email, phone, date]


def generate_contacts(n, seed=42):
    """n records (id, country, full_name, email, phone, signup_date, duplicate_of): 10 %
    duplicates of earlier people, ids shuffled so duplicates are not at the end."""
    rng = random.Random(seed)
    pools, countries = name_pools(), list(COUNTRY_WEIGHTS)
    weights = [COUNTRY_WEIGHTS[c] for c in countries]
    n_dup = n // 10
    taken = set()
    people = [make_person(rng, pools, countries, weights, taken) for _ in range(n - n_dup)]
    rows = [(i, original_record(rng, p), None) for i, p in enumerate(people)]
    for j in range(n_dup):
        source = rng.randrange(len(people))
        rows.append((len(people) + j, duplicate_record(rng, people[source]), source))
    ids = list(range(1, n + 1))
    rng.shuffle(ids)
    return [[ids[i]] + fields + [None if of is None else ids[of]] for i, fields, of in rows]


def load_contacts(conn, rows):
    conn.execute("DROP TABLE IF EXISTS unify_scale_raw, unify_scale")
    conn.execute("CREATE TABLE unify_scale_raw (id bigint, country text, full_name text, email text, phone text, signup_date text, duplicate_of bigint)")
    with conn.cursor().copy("COPY unify_scale_raw FROM STDIN") as cp:
        for r in rows:
            cp.write_row(r)


def clean_contacts(conn):
    """The demo's cleaning SELECT over the generated contacts."""
    conn.execute("""CREATE TABLE unify_scale AS
        SELECT id, country, duplicate_of, crm.clean_name(full_name) AS name, crm.clean_email(email) AS email,
               crm.clean_phone(phone, country) AS phone,
               crm.parse_date(signup_date, CASE country WHEN 'US' THEN 'MDY' ELSE 'DMY' END) AS signup_date
        FROM unify_scale_raw""")
    conn.execute("ANALYZE unify_scale")


def backend_hwm_mb(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def measured_call(sql, params=()):
    """Runs one statement on a fresh backend: (rows, seconds, VmHWM MB after, VmHWM MB of
    the fresh backend before)."""
    with psycopg.connect(DSN, autocommit=True) as conn:
        pid = conn.execute("SELECT pg_backend_pid()").fetchone()[0]
        before = backend_hwm_mb(pid)
        rows, secs = timed(lambda: conn.execute(sql, params).fetchall())
        return rows, secs, backend_hwm_mb(pid), before


def splink_child(rows, term_frequencies):
    """Splink on the rows in a child process (so its peak RSS is Splink's alone): time
    and peak RSS, clusters read back."""
    with tempfile.TemporaryDirectory() as tmp:
        data, out = os.path.join(tmp, "contacts.csv"), os.path.join(tmp, "clusters.csv")
        with open(data, "w", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(["id"] + CONTACT_COLUMNS)
            writer.writerows(rows)
        done = subprocess.run([sys.executable, os.path.abspath(__file__), "--splink-worker", data, out, "1" if term_frequencies else "0"],
                              capture_output=True, text=True)
        if done.returncode != 0:
            raise RuntimeError((done.stderr.strip().splitlines() or ["splink worker failed"])[-1])
        report = json.loads(done.stdout.strip().splitlines()[-1])
        with open(out, newline="") as f:
            report["clusters"] = {r[0]: r[1] for r in csv.reader(f)}
        return report


def own_peak_mb():
    """This process's peak RSS: VmHWM (reset by exec, unlike ru_maxrss, which a child
    inherits from the parent it was forked from), else ru_maxrss."""
    return backend_hwm_mb("self") or resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def splink_worker(data, out, term_frequencies):
    """Child process: reads the contacts, runs Splink, writes clusters, prints JSON."""
    import pandas as pd

    df = pd.read_csv(data, dtype=str, keep_default_na=False).replace("", None)
    loaded_mb = own_peak_mb()
    (clusters, n_pairs), secs = timed(splink_contacts, df, term_frequencies)
    with open(out, "w", newline="") as f:
        csv.writer(f).writerows(clusters.items())
    print(json.dumps({"seconds": secs, "peak_mb": own_peak_mb(),
                      "loaded_mb": loaded_mb, "pairs": n_pairs}))


def scale_part(conn):
    n = SCALE_N
    print(f"4. Scale: {n:,} generated contacts (seed 42, 10 % duplicates), cleaned as the demo cleans, then matched")
    rows, gen_s = timed(generate_contacts, n)
    truth = planted_pairs([(r[0], r[-1]) for r in rows])
    _, load_s = timed(load_contacts, conn, rows)
    _, clean_s = timed(clean_contacts, conn)
    print(f"  generated {gen_s:.1f} s, COPY {load_s:.1f} s, cleaned (crm.clean_name/email/phone, parse_date) {clean_s:.1f} s; {len(truth):,} true pairs")
    del rows
    source = "SELECT id, name, email, phone, country, signup_date FROM unify_scale"
    got, secs, hwm, fresh = measured_call("SELECT id, cluster_id FROM crm.dedupe(%s, 'id')", (source,))
    p, r, f = scores(cluster_pairs(dict(got)), truth)
    RESULTS.append(dict(part="scale", method="pg_crm dedupe", secs=secs, peak_mb=hwm, fresh_mb=fresh, precision=p, recall=r, f1=f, pairs=None))
    print(f"    pg_crm dedupe        {secs:7.2f} s, backend VmHWM {hwm or 0:.0f} MB (fresh backend {fresh or 0:.0f} MB); precision {p:.4f} recall {r:.4f} F1 {f:.4f}")
    drop_matcher(conn, "unify_scale")
    got, secs, hwm, fresh = measured_call("SELECT metrics FROM crm.train_matcher('unify_scale', %s, 'id')", (source,))
    pairs = got[0][0].get("candidate_pairs")
    RESULTS.append(dict(part="scale", method="pg_crm train_matcher", secs=secs, peak_mb=hwm, fresh_mb=fresh, precision=None, recall=None, f1=None, pairs=pairs))
    print(f"    pg_crm train_matcher {secs:7.2f} s, backend VmHWM {hwm or 0:.0f} MB; {pairs:,} candidate pairs (key store of {n:,} records written)")
    drop_matcher(conn, "unify_scale")
    contacts = conn.execute(f"{source} ORDER BY id").fetchall()
    try:
        report = splink_child([[str(c[0])] + [None if v is None else str(v) for v in c[1:]] for c in contacts], True)
        p, r, f = scores(cluster_pairs(report["clusters"]), truth)
        RESULTS.append(dict(part="scale", method="splink (tf on name, email)", secs=report["seconds"], peak_mb=report["peak_mb"],
                            fresh_mb=report["loaded_mb"], precision=p, recall=r, f1=f, pairs=report["pairs"]))
        print(f"    splink               {report['seconds']:7.2f} s, process peak RSS {report['peak_mb']:.0f} MB (data loaded {report['loaded_mb']:.0f} MB); "
              f"precision {p:.4f} recall {r:.4f} F1 {f:.4f}")
    except Exception as e:
        RESULTS.append(dict(part="scale", method="splink", error=f"{type(e).__name__}: {e}"))
        print(f"    splink failed: {type(e).__name__}: {e}")


# ---------------------------------------------------------------------------------------
# The closing table

def fmt(v, spec):
    return format(v, spec) if v is not None else "-"


def vs_splink(row, peers):
    """'F1 +0.0012, time 0.31x' against the Splink row this row is measured beside."""
    peer = peers.get((row["part"], row.get("data"), row.get("peer")))
    if not peer or row.get("f1") is None or peer.get("f1") is None:
        return ""
    return f"F1 {row['f1'] - peer['f1']:+.4f}, time {row['secs'] / peer['secs']:.2f}x"


def print_table():
    quality = [r for r in RESULTS if r["part"] in ("febrl", "demo")]
    if quality:
        peers = {(r["part"], r["data"], r.get("key") or r["method"]): r for r in quality}
        print("\nSummary: quality and time (ratios: pg_crm / Splink on the same records in this run)")
        print(f"  {'data':14} {'method':36} {'precision':>9} {'recall':>7} {'F1':>7} {'time s':>8}  vs Splink")
        for r in quality:
            label = f"{r['part']} {r['data']}"
            print(f"  {label:14} {r['method']:36} {fmt(r['precision'], '9.4f')} {fmt(r['recall'], '7.4f')} {fmt(r['f1'], '7.4f')} "
                  f"{fmt(r['secs'], '8.2f')}  {vs_splink(r, peers) or r.get('error', '')}")
    for r in (r for r in RESULTS if r["part"] == "incremental"):
        print(f"  incremental {r['data']}: {r['inserted']} inserts, p50 {r['p50']:.2f} ms p99 {r['p99']:.2f} ms "
              f"(no trigger {r['base_p50']:.2f} / {r['base_p99']:.2f} ms), keys vs batch F1 {r['f1_vs_batch']:.4f}, "
              f"unlogged key changes {r['unlogged']} of {r['changed']}")
    scale = [r for r in RESULTS if r["part"] == "scale"]
    if scale:
        splink = next((r for r in scale if r["method"].startswith("splink") and "error" not in r), None)
        print(f"\nSummary: scale, {SCALE_N:,} records (peak: backend VmHWM for pg_crm, VmHWM of Splink's process)")
        print(f"  {'method':28} {'time s':>8} {'peak MB':>8} {'pairs':>11} {'precision':>9} {'recall':>7} {'F1':>7}  vs Splink")
        for r in scale:
            if "error" in r:
                print(f"  {r['method']:28} {r['error']}")
                continue
            ratio = ""
            if splink and r is not splink:
                ratio = f"time {r['secs'] / splink['secs']:.2f}x, memory {r['peak_mb'] / splink['peak_mb']:.2f}x" if r["peak_mb"] else f"time {r['secs'] / splink['secs']:.2f}x"
            print(f"  {r['method']:28} {r['secs']:8.2f} {fmt(r['peak_mb'], '8.0f')} {fmt(r['pairs'], '11,')} {fmt(r['precision'], '9.4f')} "
                  f"{fmt(r['recall'], '7.4f')} {fmt(r['f1'], '7.4f')}  {ratio}")
        print("  (pairs: crm.train_matcher's candidate_pairs; Splink's: pairs scored ≥ 0.5)")


def main():
    if len(sys.argv) == 5 and sys.argv[1] == "--splink-worker":
        splink_worker(sys.argv[2], sys.argv[3], sys.argv[4] == "1")
        return
    if not DSN:
        sys.exit("PG_CRM_BENCH_DSN is not set (./scripts/bench sets it)")
    missing = splink_available()
    if missing:
        print(f"Splink cannot be imported ({missing}): its rows are reported as not run")
    with psycopg.connect(DSN, autocommit=True) as conn:
        parts = {"febrl": febrl_part, "demo": demo_part, "incremental": incremental_part, "scale": scale_part}
        for name in PARTS:
            t0 = time.perf_counter()
            parts[name](conn)
            print(f"  ({name}: {time.perf_counter() - t0:.0f} s)")
    print_table()


if __name__ == "__main__":
    main()
