#!/usr/bin/env python3
"""pg_crm segmentation benchmark, measured in one run:

  1. rfm_agg over 1M orders (~130k customers) against the same figures computed by a
     plain SQL GROUP BY, serial and with 2 workers (plan shown);
  2. the CDNOW protocol (../shared/datasets/README.md): RFM per customer, log1p, z-score,
     k = 5; inertia and silhouette beside scikit-learn KMeans(n_init=10) on the same matrix;
  3. 1M rows x 8 float columns in a table, k = 8: crm.train_segments (reading the table
     included) against scikit-learn KMeans on the same data already in memory (same
     n_init, max_iter, tol), and crm.segment over the 1M rows against a plain SQL
     expression that computes the nearest of the 8 centroids.

Run through ./scripts/bench (it starts the cluster and the venv).
"""
import os
import statistics
import time

import numpy as np
import psycopg

DSN = os.environ["PG_CRM_BENCH_DSN"]
DATASETS = os.environ.get("PG_CRM_DATASETS", os.path.join(os.path.dirname(__file__), "..", "..", "shared", "datasets"))
ROWS = int(os.environ.get("PG_CRM_BENCH_SEGMENT_ROWS", "1000000"))
RUNS = int(os.environ.get("PG_CRM_BENCH_RUNS", "5"))


def timed(conn, sql, parallel=0, runs=RUNS):
    conn.execute(f"SET max_parallel_workers_per_gather = {parallel}")
    conn.execute("SET parallel_setup_cost = 0")
    conn.execute("SET parallel_tuple_cost = 0")
    conn.execute(sql).fetchall()  # warm-up
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        conn.execute(sql).fetchall()
        times.append(time.perf_counter() - t0)
    conn.execute("RESET max_parallel_workers_per_gather")
    return statistics.median(times)


def rfm(conn):
    print("== rfm_agg: 1M orders, GROUP BY customer ==")
    conn.execute("SET timezone = 'UTC'")
    conn.execute("DROP TABLE IF EXISTS bench_orders")
    conn.execute("""CREATE TABLE bench_orders AS
        SELECT (hashint4(i) & 131071) AS customer_id,
               '2023-01-01'::timestamptz + ((hashint4(i * 7) & 1048575) * interval '1 minute') AS order_at,
               ((hashint4(i * 13) & 65535) / 100.0)::float8 AS amount
        FROM generate_series(1, 1000000) i""")
    conn.execute("VACUUM ANALYZE bench_orders")
    ours = "SELECT count(r) FROM (SELECT customer_id, crm.rfm_agg(order_at, amount, '2025-01-01') r FROM bench_orders GROUP BY 1) s"
    plain = """SELECT count(*) FROM (SELECT customer_id, '2025-01-01'::date - max(order_at)::date,
        count(DISTINCT order_at::date), sum(amount), sum(amount) / count(DISTINCT order_at::date),
        min(order_at), max(order_at), '2025-01-01'::date - min(order_at)::date, count(*)
        FROM bench_orders WHERE order_at <= '2025-01-01' AND amount IS NOT NULL GROUP BY 1) s"""
    for workers in (0, 2):
        t_ours = timed(conn, ours, workers)
        t_plain = timed(conn, plain, workers)
        print(f"  {workers} workers: rfm_agg {t_ours:.3f} s, plain SQL {t_plain:.3f} s -> ratio {t_ours / t_plain:.2f}x (target <= 2x)")
    conn.execute("SET max_parallel_workers_per_gather = 2")
    plan = conn.execute("EXPLAIN (COSTS OFF) " + ours).fetchall()
    print("  plan with 2 workers:\n    " + "\n    ".join(r[0] for r in plan))
    conn.execute("RESET max_parallel_workers_per_gather")
    print()


def cdnow(conn):
    from sklearn.cluster import KMeans
    from sklearn.metrics import silhouette_score

    path = os.path.join(DATASETS, "cdnow_master.txt")
    if not os.path.exists(path):
        print(f"CDNOW: skipped ({path} not found; ../shared/datasets is not part of the product)\n")
        return
    print("== CDNOW protocol: RFM, log1p, z-score, k = 5 ==")
    conn.execute("SET timezone = 'UTC'")
    conn.execute("DROP TABLE IF EXISTS cdnow_orders, cdnow_rfm")
    conn.execute("CREATE TABLE cdnow_orders (customer_id int, order_at timestamptz, amount float8)")
    rows = []
    with open(path) as f:
        next(f)
        for line in f:
            c, d, _, v = line.split()
            rows.append((int(c), f"{d[:4]}-{d[4:6]}-{d[6:]}", float(v)))
    with conn.cursor().copy("COPY cdnow_orders FROM STDIN") as copy:
        for r in rows:
            copy.write_row(r)
    conn.execute("""CREATE TABLE cdnow_rfm AS
        SELECT customer_id, (r).recency_days AS recency, (r).frequency::float8 AS frequency, (r).monetary_mean AS monetary
        FROM (SELECT customer_id, crm.rfm_agg(order_at, amount, '1998-06-30') r FROM cdnow_orders GROUP BY 1) s""")
    data = conn.execute("SELECT customer_id, recency, frequency, monetary FROM cdnow_rfm ORDER BY customer_id").fetchall()
    ids = np.array([r[0] for r in data])
    x = np.log1p(np.array([r[1:] for r in data], dtype=float))
    x = (x - x.mean(axis=0)) / x.std(axis=0)
    print(f"  {len(x):,} customers from {len(rows):,} orders")

    t0 = time.perf_counter()
    m = conn.execute("""SELECT metrics FROM crm.train_segments('bench_cdnow', 'cdnow_rfm', 5,
        '{"log1p": true, "key": "customer_id", "n_init": 10, "seed": 0, "silhouette_sample": 1000000}')""").fetchone()[0]
    t_ours = time.perf_counter() - t0
    labels = dict(conn.execute("SELECT customer_id, crm.segment('bench_cdnow', c) FROM cdnow_rfm c").fetchall())
    our_labels = np.array([labels[i] for i in ids])
    our_inertia_np = sum(((x[our_labels == s] - x[our_labels == s].mean(axis=0)) ** 2).sum() for s in set(our_labels))

    t0 = time.perf_counter()
    km = KMeans(n_clusters=5, n_init=10, random_state=0).fit(x)
    t_sk = time.perf_counter() - t0
    sk_sil = silhouette_score(x, km.labels_)
    our_sil_sk = silhouette_score(x, our_labels)
    print(f"  {'':28} {'inertia':>12} {'silhouette':>11} {'seconds':>8}")
    print(f"  {'pg_crm train_segments':28} {m['inertia']:12.2f} {m['silhouette']:11.4f} {t_ours:8.2f}  (incl. reading the table)")
    print(f"  {'scikit-learn KMeans':28} {km.inertia_:12.2f} {sk_sil:11.4f} {t_sk:8.2f}")
    print(f"  inertia ratio pg_crm / scikit-learn: {m['inertia'] / km.inertia_:.5f} (target <= 1.005)")
    print(f"  cross-checks: our labels' inertia by numpy {our_inertia_np:.2f}, their silhouette by scikit-learn {our_sil_sk:.4f}")
    print()


def blobs(conn):
    from sklearn.cluster import KMeans

    print(f"== {ROWS:,} rows x 8 float columns, k = 8 ==")
    conn.execute("DROP TABLE IF EXISTS bench_blobs")
    conn.execute("SELECT setseed(0.42)")
    cols = ", ".join(
        f"(b * {3 + j} % 11) - 5 + sqrt(-2 * ln(1 - random())) * cos(2 * pi() * random()) AS c{j + 1}" for j in range(8)
    )
    conn.execute(f"CREATE TABLE bench_blobs AS SELECT i AS id, {cols} FROM (SELECT i, (i % 8) AS b FROM generate_series(1, {ROWS}) i) s")
    conn.execute("VACUUM ANALYZE bench_blobs")
    x = np.array(conn.execute("SELECT c1, c2, c3, c4, c5, c6, c7, c8 FROM bench_blobs ORDER BY id").fetchall(), dtype=float)
    z = (x - x.mean(axis=0)) / x.std(axis=0)

    ours, theirs = [], []
    for run in range(3):
        t0 = time.perf_counter()
        m = conn.execute("""SELECT metrics FROM crm.train_segments('bench_blobs', 'bench_blobs', 8,
            '{"key": "id", "n_init": 10, "max_iter": 300, "tol": 0.0001, "seed": 1}')""").fetchone()[0]
        ours.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        km = KMeans(n_clusters=8, n_init=10, max_iter=300, tol=1e-4, random_state=run).fit(z)
        theirs.append(time.perf_counter() - t0)
    t_ours, t_sk = statistics.median(ours), statistics.median(theirs)
    print(f"  train_segments (reads the table, standardises, 10 restarts): {t_ours:.2f} s, inertia {m['inertia']:.1f}")
    print(f"  scikit-learn KMeans (data in memory, standardised):           {t_sk:.2f} s, inertia {km.inertia_:.1f}")
    print(f"  ratio pg_crm / scikit-learn: {t_ours / t_sk:.2f}x (target <= 1x; medians of 3)")

    # The nearest of the 8 centroids as plain SQL, with the model's own standardisation.
    feats = conn.execute("SELECT features FROM crm.models m JOIN crm.deployments d ON d.model_id = m.id WHERE d.name = 'bench_blobs'").fetchone()[0]
    prof = conn.execute("SELECT segment, feature, centroid_z FROM crm.segment_profile('bench_blobs')").fetchall()
    centre = {(s, f): c for s, f, c in prof}
    # Standardise once per row in a LATERAL, then 8 squared distances as products.
    zcols = ", ".join(f"(b.{f['column']} - {f['mean']!r}) / {f['std']!r} AS z_{f['column']}" for f in feats)
    dists = [" + ".join(f"(z_{f['column']} - {centre[(s, f['column'])]!r}) * (z_{f['column']} - {centre[(s, f['column'])]!r})" for f in feats) for s in range(1, 9)]
    sql_expr = (f"SELECT sum(array_position(a, least({', '.join(f'a[{i}]' for i in range(1, 9))}))) "
                f"FROM (SELECT ARRAY[{', '.join(dists)}] AS a FROM (SELECT {zcols} FROM bench_blobs b OFFSET 0) z OFFSET 0) d")
    # (OFFSET 0 keeps the planner from inlining the array into each of its 9 uses.)
    ours_sql = "SELECT sum(crm.segment('bench_blobs', b)) FROM bench_blobs b"
    same = conn.execute(f"SELECT ({ours_sql}) = ({sql_expr})").fetchone()[0]
    for workers in (0, 2):
        t_seg = timed(conn, ours_sql, workers)
        t_expr = timed(conn, sql_expr, workers)
        print(f"  crm.segment over {ROWS:,} rows, {workers} workers: {t_seg:.3f} s; SQL nearest-centroid expression {t_expr:.3f} s -> ratio {t_seg / t_expr:.2f}x (target <= 2x)")
    print(f"  same segments as the SQL expression: {same}")
    print()


def main():
    with psycopg.connect(DSN, autocommit=True) as conn:
        rfm(conn)
        cdnow(conn)
        blobs(conn)


if __name__ == "__main__":
    main()
