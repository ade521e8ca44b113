#!/usr/bin/env python3
"""pg_crm recommendation benchmark: the MovieLens protocol of ../shared/datasets/README.md,
pg_crm's algorithms (trained in SQL on the train rows) beside the `implicit` library's
ALS, BPR and item-item recommenders (installed in the venv by ./scripts/bench), with the
same split, the same metric code and, for ALS, the same hyperparameters; plus timings:
ALS training including reading the table against implicit's CPU ALS, `recommend` for one
customer (p50 once the model is cached), and `recommend_all` for every customer.

Protocol: every rating row is one interaction (weight 1); per user, rows sorted by
timestamp (ties in file order), users with < 5 rows all train, otherwise the last
ceil(20%) rows are test; catalogue = items with a train row; relevant = distinct test items
not in the user's train rows (users left with none are not evaluated); top-10 unseen items;
Precision@10, Recall@10, NDCG@10, HitRate@10, catalogue coverage.

Run through ./scripts/bench (it starts the cluster and the venv).
"""
import json
import math
import os
import statistics
import sys
import time
import warnings

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # implicit warns (and slows) otherwise
warnings.filterwarnings("ignore", message="Method expects CSR input")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import psycopg  # noqa: E402
import scipy.sparse as sp  # noqa: E402

DSN = os.environ["PG_CRM_BENCH_DSN"]
DATASETS = os.environ.get("PG_CRM_DATASETS", os.path.join(os.path.dirname(__file__), "..", "..", "shared", "datasets"))
K = 10
THREADS = os.cpu_count() or 2


def test_count(n):
    """ceil(20% of n) with a tolerance (20% of 15 is 3, not 4), clamped to [1, n - 1]."""
    x = 0.2 * n
    count = round(x) if abs(x - round(x)) < 1e-9 else math.ceil(x)
    return int(min(max(count, 1), n - 1))


def split(frame):
    frame = frame.assign(row=np.arange(len(frame)))
    frame = frame.sort_values(["userId", "timestamp", "row"], kind="stable")
    position = frame.groupby("userId").cumcount().to_numpy()
    size = frame.groupby("userId")["row"].transform("size").to_numpy()
    n_test = np.array([test_count(n) if n >= 5 else 0 for n in size])
    is_test = position >= size - n_test
    return frame[~is_test], frame[is_test]


def metrics(recommended, relevant, catalogue_size):
    precision = recall = ndcg = hits_any = 0.0
    distinct = set()
    for user, rel in relevant.items():
        recs = recommended.get(user, [])[:K]
        distinct.update(recs)
        gains = [1.0 if item in rel else 0.0 for item in recs]
        hits = sum(gains)
        dcg = sum(g / math.log2(rank + 2) for rank, g in enumerate(gains))
        idcg = sum(1.0 / math.log2(rank + 2) for rank in range(min(K, len(rel))))
        precision += hits / K
        recall += hits / len(rel)
        ndcg += dcg / idcg
        hits_any += 1.0 if hits > 0 else 0.0
    n = len(relevant)
    return precision / n, recall / n, ndcg / n, hits_any / n, len(distinct) / catalogue_size


def row(name, m, fit):
    p, r, n, h, c = m
    print(f"  {name:44} {p:7.4f} {r:7.4f} {n:8.4f} {h:7.4f} {c:7.4f} {fit:8.3f}")


def main():
    path = os.path.join(DATASETS, "movielens.csv")
    if not os.path.exists(path):
        print(f"MovieLens: skipped ({path} not found; ../shared/datasets is not part of the product)")
        return
    from implicit.als import AlternatingLeastSquares
    from implicit.bpr import BayesianPersonalizedRanking
    from implicit.nearest_neighbours import BM25Recommender, CosineRecommender

    frame = pd.read_csv(path, usecols=["userId", "movieId", "timestamp"])
    train, test = split(frame)
    users = np.sort(frame["userId"].unique())
    user_index = {u: i for i, u in enumerate(users)}
    items = np.sort(train["movieId"].unique())
    item_index = {m: i for i, m in enumerate(items)}
    seen = {u: set() for u in users}
    for u, m in zip(train["userId"], train["movieId"]):
        seen[u].add(m)
    relevant = {}
    for u, m in zip(test["userId"], test["movieId"]):
        if m not in seen[u]:
            relevant.setdefault(u, set()).add(m)
    eval_users = sorted(relevant)
    print(f"== MovieLens: {len(frame):,} interactions, train {len(train):,}, test {len(test):,}; "
          f"{len(users)} users, catalogue {len(items):,}, evaluated users {len(eval_users)} ==")
    print(f"  {'model':44} {'P@10':>7} {'R@10':>7} {'NDCG@10':>8} {'HR@10':>7} {'cover':>7} {'fit s':>8}")

    with psycopg.connect(DSN, autocommit=True) as conn:
        conn.execute("DROP TABLE IF EXISTS ml_train")
        conn.execute("CREATE TABLE ml_train (row_number int, user_id int, movie_id int, ts bigint)")
        with conn.cursor().copy("COPY ml_train FROM STDIN") as copy:
            for r in train.itertuples():
                copy.write_row((int(r.row), int(r.userId), int(r.movieId), int(r.timestamp)))
        conn.execute("VACUUM ANALYZE ml_train")
        source = "SELECT user_id, movie_id, ts FROM ml_train ORDER BY row_number"
        ours = [
            ("pg_crm popular", "popular", {}),
            ("pg_crm item_knn (cosine)", "item_knn", {"similarity": "cosine"}),
            ("pg_crm item_knn (bm25)", "item_knn", {"similarity": "bm25"}),
            ("pg_crm als (default)", "als", {}),
            ("pg_crm als (implicit's hyperparameters)", "als", {"regularization": 0.01, "scale_regularization": False}),
            ("pg_crm auto", "auto", {}),
        ]
        ids = "ARRAY[" + ",".join(f"'{u}'" for u in eval_users) + "]"
        best_ours = (0.0, 0.0)
        als_fit = None
        for label, algorithm, options in ours:
            # Explicit algorithms are fitted on the train rows only (no inner holdout);
            # auto splits the train rows again to choose, then refits on all of them.
            opts = json.dumps(options if algorithm == "auto" else {**options, "evaluate": False})
            fits = []
            for _ in range(3 if algorithm == "als" else 1):
                t0 = time.perf_counter()
                chosen = conn.execute("SELECT algorithm FROM crm.train_recommender('bench_ml', %s, %s, %s)", (source, algorithm, opts)).fetchone()[0]
                fits.append(time.perf_counter() - t0)
            recs = {}
            for customer, item in conn.execute(f"SELECT customer, item FROM crm.recommend_all('bench_ml', {K}, customers => {ids}) ORDER BY customer, rank"):
                recs.setdefault(int(customer), []).append(int(item))
            m = metrics(recs, relevant, len(items))
            best_ours = max(best_ours, (m[2], m[0]))
            fit = statistics.median(fits)
            if label == "pg_crm als (implicit's hyperparameters)":
                als_fit = fit
            row(label + (f" -> {chosen}" if algorithm == "auto" else ""), m, fit)

        # Serving: the model of the last training (auto) is deployed; one customer, then all.
        conn.execute("SELECT count(*) FROM crm.recommend('bench_ml', '1')").fetchone()
        times = []
        for u in users[:300]:
            t0 = time.perf_counter()
            conn.execute("SELECT item FROM crm.recommend('bench_ml', %s, 10)", (str(u),)).fetchall()
            times.append(time.perf_counter() - t0)
        t_all = []
        for _ in range(5):
            t0 = time.perf_counter()
            n_rows = conn.execute("SELECT count(*) FROM crm.recommend_all('bench_ml', 10)").fetchone()[0]
            t_all.append(time.perf_counter() - t0)

    rows = train["userId"].map(user_index).to_numpy()
    cols = train["movieId"].map(item_index).to_numpy()
    user_items = sp.csr_matrix((np.ones(len(rows), dtype=np.float32), (rows, cols)), shape=(len(users), len(items)))
    user_items.sum_duplicates()
    peers = {
        "implicit Cosine (K=20, default)": lambda: CosineRecommender(K=20, num_threads=THREADS),
        "implicit BM25 (K=20, default)": lambda: BM25Recommender(K=20, num_threads=THREADS),
        "implicit BM25 (K=100)": lambda: BM25Recommender(K=100, num_threads=THREADS),
        "implicit ALS (64 f, reg 0.01, alpha 1, 15 it)": lambda: AlternatingLeastSquares(
            factors=64, regularization=0.01, alpha=1.0, iterations=15, num_threads=THREADS, random_state=42),
        "implicit BPR (64 factors)": lambda: BayesianPersonalizedRanking(factors=64, num_threads=THREADS, random_state=42),
    }
    best_peer = (0.0, 0.0)
    implicit_als_fit = None
    eval_index = np.array([user_index[u] for u in eval_users], dtype=np.int32)
    for name, make in peers.items():
        fits = []
        for _ in range(3):
            model = make()
            t0 = time.perf_counter()
            model.fit(user_items, show_progress=False)
            fits.append(time.perf_counter() - t0)
        found, _ = model.recommend(eval_index, user_items[eval_index], N=K, filter_already_liked_items=True)
        recs = {u: [int(items[i]) for i in found[r] if i >= 0 and items[i] not in seen[u]] for r, u in enumerate(eval_users)}
        m = metrics(recs, relevant, len(items))
        best_peer = max(best_peer, (m[2], m[0]))
        fit = statistics.median(fits)
        if name.startswith("implicit ALS"):
            implicit_als_fit = fit
        row(name, m, fit)

    print(f"  best NDCG@10 / its P@10: pg_crm {best_ours[0]:.4f} / {best_ours[1]:.4f}, implicit {best_peer[0]:.4f} / {best_peer[1]:.4f} (target: pg_crm >= implicit)")
    print(f"  ALS training, same hyperparameters, medians of 3: pg_crm {als_fit:.3f} s (reads the table, SQL call) vs implicit {implicit_als_fit:.3f} s "
          f"-> ratio {als_fit / implicit_als_fit:.2f}x (target <= 1x)")
    print(f"  crm.recommend for one customer (cached model, client round trip included): p50 {1000 * statistics.median(times):.2f} ms, "
          f"p95 {1000 * sorted(times)[int(0.95 * len(times))]:.2f} ms (target p50 < 5 ms)")
    print(f"  crm.recommend_all for every customer ({n_rows:,} rows): median {statistics.median(t_all):.3f} s (target < 1 s)")


if __name__ == "__main__":
    sys.exit(main())
