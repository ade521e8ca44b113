#!/usr/bin/env python3
"""pg_crm CLV benchmark: crm.train_clv beside lifetimes on the CLV protocol of
../shared/datasets/README.md, and the speed of fitting and scoring at a million customers.

  1. CDNOW: calibration 1997-01-01..1997-09-30, holdout 1997-10-01..1998-06-30 (273 days),
     same-day orders merged. The per-customer summary (x, t_x, T, mean amount per purchase
     day) is built once in SQL with crm.rfm_agg and handed to lifetimes, so both fit the
     same numbers. Parameters side by side; both parameter sets' log-likelihood computed
     by one formula here (scipy); holdout repeat purchases: total, per-customer MAE, ROC AUC
     of expected purchases and of P(alive) for 'bought again in the holdout'.
  2. Speed: CDNOW's orders copied 43 times under new customer ids (1,013,510 customers,
     about 3M orders): crm.train_clv (reading the orders, summarising, fitting both models
     and the spend model) against lifetimes' BetaGeoFitter on the same summaries; crm.clv
     over the million summaries against a plain SQL aggregate over the same rows.

Seconds are medians of 3 runs (one run when the first takes 30 s or more).
Run through ./scripts/bench --only clv (it starts the cluster and the venv).
"""
import json
import os
import statistics
import time

import numpy as np
import pandas as pd
import psycopg
from scipy.special import gammaln
from sklearn.metrics import roc_auc_score

DSN = os.environ["PG_CRM_BENCH_DSN"]
DATASETS = os.environ.get("PG_CRM_DATASETS", os.path.join(os.path.dirname(__file__), "..", "..", "shared", "datasets"))
HOLDOUT_DAYS = 273
COPIES = 43


def repeated(fn, under=30.0):
    times, result = [], None
    for i in range(3):
        t0 = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t0)
        if i == 0 and times[0] >= under:
            break
    return result, statistics.median(times), len(times)


def bg_ll(p, x, tx, T, shift):
    """Total log-likelihood of BG/NBD (shift 0) or MBG/NBD (shift 1), lifetimes' formulas."""
    r, alpha, a, b = p
    n = x + shift
    a1 = gammaln(r + x) - gammaln(r) + r * np.log(alpha)
    a2 = gammaln(a + b) + gammaln(b + n) - gammaln(b) - gammaln(a + b + n)
    a3 = -(r + x) * np.log(alpha + T)
    with np.errstate(divide="ignore", invalid="ignore"):
        a4 = np.where(n > 0, np.log(a) - np.log(np.maximum(b + n - 1, 1e-300)) - (r + x) * np.log(alpha + tx), -np.inf)
    top = np.maximum(a3, a4)
    return float(np.sum(a1 + a2 + top + np.log(np.exp(a3 - top) + np.exp(a4 - top))))


def gg_ll(p, x, m):
    pp, q, v = p
    return float(np.sum(gammaln(pp * x + q) - gammaln(pp * x) - gammaln(q) + q * np.log(v) + (pp * x - 1) * np.log(m)
                        + pp * x * np.log(x) - (pp * x + q) * np.log(x * m + v)))


def load_cdnow(conn):
    conn.execute("DROP TABLE IF EXISTS cdnow CASCADE")
    conn.execute("CREATE TABLE cdnow (customer_id text, order_date date, cds int, amount float8)")
    with open(os.path.join(DATASETS, "cdnow_master.txt")) as f, conn.cursor().copy("COPY cdnow FROM STDIN") as copy:
        next(f)
        for line in f:
            c, d, n, v = line.split()
            copy.write_row((c, f"{d[:4]}-{d[4:6]}-{d[6:]}", int(n), float(v)))
    conn.execute("ANALYZE cdnow")


def summary(conn):
    rows = conn.execute(f"""
        WITH s AS (SELECT customer_id, crm.rfm_agg(order_date, amount, '1997-09-30') AS r FROM cdnow GROUP BY customer_id),
             h AS (SELECT customer_id, count(DISTINCT order_date) AS n FROM cdnow WHERE order_date > '1997-09-30' AND order_date <= '1998-06-30' GROUP BY 1)
        SELECT s.customer_id, (r).repeat_frequency::float8, (r).t_days - (r).recency_days, (r).t_days, (r).monetary_mean, coalesce(h.n, 0)::float8,
               crm.expected_purchases('cdnow_bg', r, {HOLDOUT_DAYS}), crm.p_alive('cdnow_bg', r),
               crm.expected_purchases('cdnow_mbg', r, {HOLDOUT_DAYS}), crm.p_alive('cdnow_mbg', r),
               crm.expected_spend('cdnow_bg', r), crm.clv('cdnow_bg', r, 365, 0.1)
        FROM s LEFT JOIN h USING (customer_id) WHERE r IS NOT NULL ORDER BY 1""").fetchall()
    return pd.DataFrame(rows, columns=["customer", "x", "tx", "T", "m", "holdout", "bg_pred", "bg_alive", "mbg_pred", "mbg_alive", "bg_spend", "bg_clv"])


def holdout_figures(pred, alive, actual):
    bought = (actual > 0).astype(int)
    return dict(total=float(pred.sum()), total_err=100 * (pred.sum() / actual.sum() - 1), mae=float(np.mean(np.abs(pred - actual))),
                auc_purchases=roc_auc_score(bought, pred), auc_alive=roc_auc_score(bought, alive))


def cdnow_protocol(conn):
    from lifetimes import BetaGeoFitter, GammaGammaFitter, ModifiedBetaGeoFitter

    load_cdnow(conn)
    src = "SELECT * FROM cdnow"
    ours = {}
    for name, model in [("cdnow_bg", "bg_nbd"), ("cdnow_mbg", "mbg_nbd"), ("cdnow_auto", "auto")]:
        def train():
            return conn.execute("SELECT algorithm, metrics FROM crm.train_clv(%s, %s, %s::jsonb)",
                                (name, src, json.dumps({"as_of": "1997-09-30", "model": model}))).fetchone()
        (algorithm, metrics), secs, runs = repeated(train)
        ours[name] = (algorithm, metrics, secs)
    df = summary(conn)
    x, tx, T, m, actual = (df[c].to_numpy() for c in ["x", "tx", "T", "m", "holdout"])
    print(f"CDNOW CLV protocol: {len(df)} customers, {int((x > 0).sum())} with repeat purchases; holdout purchase days {int(actual.sum())}")

    peers = {}
    for label, cls, shift in [("BG/NBD", BetaGeoFitter, 0), ("MBG/NBD", ModifiedBetaGeoFitter, 1)]:
        f = cls(penalizer_coef=0.0)
        _, secs, _ = repeated(lambda: f.fit(x, tx, T))
        p = [f.params_[k] for k in ["r", "alpha", "a", "b"]]
        pred = f.conditional_expected_number_of_purchases_up_to_time(HOLDOUT_DAYS, x, tx, T).to_numpy() if hasattr(
            f.conditional_expected_number_of_purchases_up_to_time(HOLDOUT_DAYS, x, tx, T), "to_numpy") else np.asarray(
            f.conditional_expected_number_of_purchases_up_to_time(HOLDOUT_DAYS, x, tx, T))
        alive = np.asarray(f.conditional_probability_alive(x, tx, T))
        peers[label] = (p, bg_ll(p, x, tx, T, shift), secs, holdout_figures(pred, alive, actual))

    print(f"\n  {'purchase model':<28} {'r':>8} {'alpha':>8} {'a':>8} {'b':>8} {'log-lik':>13} {'fit s':>7}")
    for label, name, shift in [("BG/NBD", "cdnow_bg", 0), ("MBG/NBD", "cdnow_mbg", 1)]:
        algorithm, metrics, secs = ours[name]
        p = [metrics["params"][k] for k in ["r", "alpha", "a", "b"]]
        lp, lll, lsecs, _ = peers[label]
        print(f"  {'pg_crm ' + label:<28} {p[0]:8.4f} {p[1]:8.3f} {p[2]:8.4f} {p[3]:8.4f} {bg_ll(p, x, tx, T, shift):13.3f} {secs:7.3f}")
        print(f"  {'lifetimes ' + label:<28} {lp[0]:8.4f} {lp[1]:8.3f} {lp[2]:8.4f} {lp[3]:8.4f} {lll:13.3f} {lsecs:7.3f}")
        rel = max(abs(a / b - 1) for a, b in zip(p, lp))
        print(f"    largest relative parameter difference {100 * rel:.3f}%; log-likelihood pg_crm - lifetimes {bg_ll(p, x, tx, T, shift) - lll:+.4f}"
              f" (pg_crm reports {metrics['log_likelihood']:.3f}); fit {lsecs / secs:.1f}x faster")
    algorithm, metrics, secs = ours["cdnow_auto"]
    print(f"  'auto' chose {algorithm} (log-likelihoods: " + ", ".join(f"{c['model']} {c['log_likelihood']:.3f}" for c in metrics["candidates"]) + ")")

    rep = x > 0
    gg = GammaGammaFitter(penalizer_coef=0.0)
    _, gsecs, _ = repeated(lambda: gg.fit(x[rep], m[rep]))
    gp = [gg.params_[k] for k in ["p", "q", "v"]]
    sp = [ours["cdnow_bg"][1]["spend"]["params"][k] for k in ["p", "q", "v"]]
    print(f"\n  {'spend model (Gamma-Gamma)':<28} {'p':>8} {'q':>8} {'v':>8} {'log-lik':>13}")
    print(f"  {'pg_crm':<28} {sp[0]:8.4f} {sp[1]:8.4f} {sp[2]:8.4f} {gg_ll(sp, x[rep], m[rep]):13.3f}")
    print(f"  {'lifetimes':<28} {gp[0]:8.4f} {gp[1]:8.4f} {gp[2]:8.4f} {gg_ll(gp, x[rep], m[rep]):13.3f}")
    print(f"    largest relative parameter difference {100 * max(abs(a / b - 1) for a, b in zip(sp, gp)):.3f}%;"
          f" frequency-monetary correlation {ours['cdnow_bg'][1]['frequency_monetary_correlation']:.3f}")
    lt_spend = np.asarray(gg.conditional_expected_average_profit(x, m))
    print(f"    expected spend per customer: largest difference from lifetimes {np.max(np.abs(df['bg_spend'].to_numpy() - lt_spend)):.2e}")

    print(f"\n  holdout ({HOLDOUT_DAYS} days)            {'total':>9} {'vs actual':>9} {'MAE':>7} {'AUC E[X]':>9} {'AUC P(alive)':>12}")
    print(f"  {'actual':<28} {actual.sum():9.0f}")
    for label, pred, alive in [("pg_crm BG/NBD", df["bg_pred"], df["bg_alive"]), ("pg_crm MBG/NBD", df["mbg_pred"], df["mbg_alive"])]:
        h = holdout_figures(pred.to_numpy(), alive.to_numpy(), actual)
        print(f"  {label:<28} {h['total']:9.0f} {h['total_err']:8.1f}% {h['mae']:7.4f} {h['auc_purchases']:9.4f} {h['auc_alive']:12.4f}")
        peer = peers[label.split()[1]][3]
        print(f"  {'lifetimes ' + label.split()[1]:<28} {peer['total']:9.0f} {peer['total_err']:8.1f}% {peer['mae']:7.4f} {peer['auc_purchases']:9.4f} {peer['auc_alive']:12.4f}")
    return df


def million(conn):
    from lifetimes import BetaGeoFitter

    conn.execute("DROP TABLE IF EXISTS cdnow_1m, summaries_1m, rfm_1m")
    conn.execute(f"""CREATE TABLE cdnow_1m AS SELECT k || '-' || customer_id AS customer_id, order_date, amount
                     FROM cdnow, generate_series(1, {COPIES}) k WHERE order_date <= '1997-09-30'""")
    conn.execute("ANALYZE cdnow_1m")
    orders = conn.execute("SELECT count(*) FROM cdnow_1m").fetchone()[0]
    (algorithm, metrics), secs, runs = repeated(lambda: conn.execute(
        "SELECT algorithm, metrics FROM crm.train_clv('clv_1m', 'cdnow_1m', '{\"as_of\": \"1997-09-30\"}')").fetchone())
    print(f"\nA million customers ({metrics['customers']} customers, {orders} orders):")
    print(f"  crm.train_clv, 'auto' (read, summarise with crm.rfm_agg, fit BG/NBD and MBG/NBD and Gamma-Gamma): {secs:.2f} s median of {runs};"
          f" the last call's own training_seconds: {metrics['training_seconds']:.2f} s")
    conn.execute("""CREATE TABLE rfm_1m AS SELECT customer_id, crm.rfm_agg(order_date, amount, '1997-09-30') AS r FROM cdnow_1m GROUP BY 1""")
    conn.execute("""CREATE TABLE summaries_1m AS SELECT customer_id, (r).repeat_frequency::float8 AS frequency,
                        (r).t_days - (r).recency_days AS recency, (r).t_days AS t, (r).monetary_mean AS monetary FROM rfm_1m""")
    conn.execute("VACUUM ANALYZE rfm_1m, summaries_1m")
    df = pd.DataFrame(conn.execute("SELECT frequency, recency, t FROM summaries_1m").fetchall(), columns=["x", "tx", "T"])
    f = BetaGeoFitter(penalizer_coef=0.0)
    t0 = time.perf_counter()
    f.fit(df["x"].to_numpy(), df["tx"].to_numpy(), df["T"].to_numpy())
    lsecs = time.perf_counter() - t0
    print(f"  lifetimes BetaGeoFitter on the same {len(df)} summaries (fit alone, one run): {lsecs:.1f} s; pg_crm's whole call {lsecs / secs:.1f}x faster")

    conn.execute("SET max_parallel_workers_per_gather = 0")  # one core each side: the ratio is per row
    pairs = [
        ("plain numbers: crm.clv(name, frequency, recency, t, monetary)", "SELECT sum(crm.clv('clv_1m', frequency, recency, t, monetary)) FROM summaries_1m",
         "SELECT sum(frequency * monetary + recency + t) FROM summaries_1m"),
        ("a crm.rfm column: crm.clv(name, r)", "SELECT sum(crm.clv('clv_1m', r)) FROM rfm_1m",
         "SELECT sum((r).frequency * (r).monetary_mean + (r).t_days) FROM rfm_1m"),
        ("from the orders: crm.clv(name, crm.rfm_agg(...)) GROUP BY customer",
         "SELECT count(*), sum(v) FROM (SELECT customer_id, crm.clv('clv_1m', crm.rfm_agg(order_date, amount, '1997-09-30')) v FROM cdnow_1m GROUP BY 1) x",
         "SELECT count(*), sum(v) FROM (SELECT customer_id, sum(amount) / count(DISTINCT order_date) + (max(order_date) - min(order_date)) v FROM cdnow_1m GROUP BY 1) x"),
    ]
    print(f"  {'scoring a million customers (one core)':<72} {'pg_crm s':>9} {'plain SQL s':>11} {'ratio':>6}")
    for label, ours_sql, plain_sql in pairs:
        _, ours_s, _ = repeated(lambda: conn.execute(ours_sql).fetchone())
        _, plain_s, _ = repeated(lambda: conn.execute(plain_sql).fetchone())
        print(f"  {label:<72} {ours_s:9.3f} {plain_s:11.3f} {ours_s / plain_s:6.2f}")
    conn.execute("RESET max_parallel_workers_per_gather")


def main():
    with psycopg.connect(DSN, autocommit=True) as conn:
        conn.execute("SET client_min_messages = error")
        cdnow_protocol(conn)
        million(conn)


if __name__ == "__main__":
    main()
