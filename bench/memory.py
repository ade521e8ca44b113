#!/usr/bin/env python3
"""pg_crm memory benchmark: peak backend memory against a bound, with the built-ins as the
baseline measured in the same run.

  1. SELECT customer_id, crm.rfm_agg(order_at, amount, as_of) FROM orders GROUP BY 1 over
     N customers (default 5,000,000; 2 orders each) with work_mem = 64MB, serial, against
     the same GROUP BY with built-in aggregates (count, sum, min, max, count(DISTINCT day)
     as a subquery-free equivalent): the backend's peak RSS (VmHWM) for each, and whether
     hash aggregation spilled (EXPLAIN ANALYZE's "Batches" / "Disk Usage").
  2. 1,000 statements scoring with 50 models in turn (crm.score(name, t) over 1,000 rows):
     peak RSS after the first 100 and after all 1,000, and crm.cache_stats() — flat when
     the model cache and the row layouts are bounded.

Reads /proc/<backend pid>/status, so the server must run on this machine (scripts/bench
starts one). Run through ./scripts/bench --only memory, or with PG_CRM_BENCH_DSN set.
"""
import os
import re
import threading
import time

import psycopg

DSN = os.environ["PG_CRM_BENCH_DSN"]
CUSTOMERS = int(os.environ.get("PG_CRM_BENCH_CUSTOMERS", "5000000"))


def status_kb(pid, field):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"{field} not in /proc/{pid}/status")


def reset_peak(pid):
    # Writing 5 to clear_refs resets VmHWM to the current RSS (Linux >= 4.0, root).
    with open(f"/proc/{pid}/clear_refs", "w") as f:
        f.write("5")


def peak_of(conn, pid, sql):
    """Peak total RSS (VmHWM: includes the shared buffers the backend touched) and peak
    private memory (RssAnon, sampled every 50 ms: the backend's own heap, where hash
    tables and aggregate states live), in MiB, with the seconds taken."""
    reset_peak(pid)
    before = status_kb(pid, "RssAnon")
    peak_anon = [before]
    done = threading.Event()

    def sample():
        while not done.wait(0.05):
            peak_anon[0] = max(peak_anon[0], status_kb(pid, "RssAnon"))

    sampler = threading.Thread(target=sample)
    sampler.start()
    t0 = time.perf_counter()
    try:
        with conn.cursor() as cur:
            cur.execute(sql)
            cur.fetchall()
    finally:
        done.set()
        sampler.join()
    return status_kb(pid, "VmHWM") / 1024, peak_anon[0] / 1024, before / 1024, time.perf_counter() - t0


def main():
    with psycopg.connect(DSN, autocommit=True) as conn:
        pid = conn.execute("SELECT pg_backend_pid()").fetchone()[0]
        have = conn.execute("SELECT count(*) FROM pg_class WHERE relname = 'mem_orders'").fetchone()[0]
        n = conn.execute("SELECT coalesce(max(customer_id), 0) FROM mem_orders").fetchone()[0] if have else 0
        if n != CUSTOMERS:
            print(f"generating {CUSTOMERS:,} customers x 2 orders ...", flush=True)
            conn.execute("DROP TABLE IF EXISTS mem_orders")
            conn.execute(
                f"""CREATE UNLOGGED TABLE mem_orders AS
                    SELECT c AS customer_id,
                           timestamptz '2024-01-01' + ((c * 7919 + k * 104729) % 700) * interval '1 day' + k * interval '3 hours' AS order_at,
                           ((c * 31 + k * 17) % 500) / 5.0 AS amount
                    FROM generate_series(1, {CUSTOMERS}::bigint) c, generate_series(1, 2) k"""
            )
            conn.execute("VACUUM ANALYZE mem_orders")
        conn.execute("SET work_mem = '64MB'; SET max_parallel_workers_per_gather = 0; SET TimeZone = 'UTC'")
        group_rfm = "SELECT count(*) FROM (SELECT customer_id, crm.rfm_agg(order_at, amount, timestamptz '2026-01-01') FROM mem_orders GROUP BY 1) q"
        group_builtin = (
            "SELECT count(*) FROM (SELECT customer_id, count(*), sum(amount), min(order_at), max(order_at), "
            "count(DISTINCT order_at::date) FROM mem_orders GROUP BY 1) q"
        )
        group_builtin_hash = (
            "SELECT count(*) FROM (SELECT customer_id, count(*), sum(amount), min(order_at), max(order_at) FROM mem_orders GROUP BY 1) q"
        )
        print(f"\n1. GROUP BY customer over {CUSTOMERS:,} customers, work_mem = 64MB, serial")
        for label, sql in [("crm.rfm_agg", group_rfm), ("built-ins (hash)", group_builtin_hash), ("built-ins + count(DISTINCT day)", group_builtin)]:
            plan = "\n".join(r[0] for r in conn.execute("EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF) " + sql).fetchall())
            batches = re.findall(r"Batches: (\d+)", plan)
            disk = re.findall(r"Disk Usage: (\d+)kB", plan)
            strategy = next((w for line in plan.splitlines() for w in ("HashAggregate", "GroupAggregate") if w in line), "?")
            peak, peak_private, base_private, secs = peak_of(conn, pid, sql)
            print(
                f"   {label:34s} private peak {peak_private:6.0f} MiB (idle {base_private:4.0f})  total RSS peak {peak:6.0f} MiB"
                f"  {secs:5.1f} s  {strategy} batches {','.join(batches) or '-'} spilled {sum(map(int, disk)) // 1024 if disk else 0} MiB"
            )

        print("\n2. 1,000 statements scoring with 50 models in turn (1,000 rows each)")
        conn.execute("DROP TABLE IF EXISTS mem_customers")
        conn.execute(
            """CREATE TABLE mem_customers AS
               SELECT g AS id, (g % 10)::float8 AS calls, (ARRAY['a','b','c'])[1 + g % 3] AS plan, (g % 37)::float8 AS tenure,
                      (g % 10 + g % 7) > 9 AS churned
               FROM generate_series(1, 1000) g"""
        )
        have_models = conn.execute("SELECT count(*) FROM crm.deployments WHERE name LIKE 'mem_m%'").fetchone()[0]
        if have_models < 50:
            for i in range(50):
                conn.execute(
                    "SELECT * FROM crm.train_classifier(%s, 'SELECT calls, plan, tenure, churned FROM mem_customers', 'churned', %s)",
                    (f"mem_m{i}", "gradient_boosting" if i % 2 else "logistic"),
                )
        peaks = []
        reset_peak(pid)
        t0 = time.perf_counter()
        for s in range(1000):
            conn.execute(f"SELECT sum(crm.score('mem_m{s % 50}', c)) FROM mem_customers c").fetchone()
            if s in (99, 999):
                peaks.append((s + 1, status_kb(pid, "VmHWM") / 1024, status_kb(pid, "VmRSS") / 1024))
        secs = time.perf_counter() - t0
        stats = conn.execute("SELECT crm.cache_stats()").fetchone()[0]
        for done, hwm, rss in peaks:
            print(f"   after {done:5d} statements: peak RSS {hwm:6.0f} MiB, RSS {rss:6.0f} MiB")
        print(f"   {secs:.1f} s in all; cache: {stats}")


if __name__ == "__main__":
    main()
