#!/usr/bin/env python3
"""pg_crm foundation benchmark: medians and ratios measured in one run.

  clean_phone / clean_email over N messy strings in a table (serial, one core), against
    - Python `phonenumbers` parse + format E.164 (and parse + is_valid + format) on the same strings,
    - a plain SQL `regexp_replace` normalisation of the same column;
  scaler_agg(x) over 1M rows against avg(x), stddev_pop(x), serial and with 2 workers.

Run through ./scripts/bench, which starts the cluster and the venv.
"""
import os
import statistics
import sys
import time

import phonenumbers
import psycopg

DSN = os.environ["PG_CRM_BENCH_DSN"]
ROWS = int(os.environ.get("PG_CRM_BENCH_ROWS", "1000000"))
RUNS = int(os.environ.get("PG_CRM_BENCH_RUNS", "5"))


def timed_sql(conn, sql, runs=RUNS, parallel=0):
    with conn.cursor() as cur:
        cur.execute(f"SET max_parallel_workers_per_gather = {parallel}")
        if parallel:
            cur.execute("SET parallel_setup_cost = 0; SET parallel_tuple_cost = 0")
        cur.execute(sql)  # warm-up: caches, lazily compiled metadata
        cur.fetchall()
        times = []
        for _ in range(runs):
            t0 = time.perf_counter()
            cur.execute(sql)
            cur.fetchall()
            times.append(time.perf_counter() - t0)
        cur.execute("RESET max_parallel_workers_per_gather; RESET parallel_setup_cost; RESET parallel_tuple_cost")
    return statistics.median(times)


def python_phonenumbers(rows, validate):
    t0 = time.perf_counter()
    ok = 0
    for phone, region in rows:
        try:
            n = phonenumbers.parse(phone, region)
        except phonenumbers.NumberParseException:
            continue
        if validate and not phonenumbers.is_valid_number(n):
            continue
        phonenumbers.format_number(n, phonenumbers.PhoneNumberFormat.E164)
        ok += 1
    return time.perf_counter() - t0, ok


def main():
    with psycopg.connect(DSN, autocommit=True) as conn:
        n = conn.execute("SELECT count(*) FROM bench_contacts").fetchone()[0]
        print(f"rows: {n:,} messy contact strings; {RUNS} timed runs per SQL query (median), one core unless noted\n")
        rows = conn.execute("SELECT phone, country FROM bench_contacts").fetchall()

        phone_sql = timed_sql(conn, "SELECT count(crm.clean_phone(phone, country)) FROM bench_contacts")
        phone_par = timed_sql(conn, "SELECT count(crm.clean_phone(phone, country)) FROM bench_contacts", parallel=2)
        regexp_phone = timed_sql(conn, "SELECT count(nullif(regexp_replace(phone, '[^0-9+]', '', 'g'), '')) FROM bench_contacts")
        email_sql = timed_sql(conn, "SELECT count(crm.clean_email(email)) FROM bench_contacts")
        regexp_email = timed_sql(
            conn,
            "SELECT count(nullif(lower(btrim(regexp_replace(regexp_replace(email, '^.*<|>.*$', '', 'g'), '^mailto:', '', 'i'))), '')) FROM bench_contacts",
        )
        valid_phones = conn.execute("SELECT count(crm.clean_phone(phone, country)) FROM bench_contacts").fetchone()[0]
        valid_emails = conn.execute("SELECT count(crm.clean_email(email)) FROM bench_contacts").fetchone()[0]

        py_fmt, py_fmt_ok = python_phonenumbers(rows, validate=False)
        py_val, py_val_ok = python_phonenumbers(rows, validate=True)

        def rate(seconds):
            return n / seconds

        print(f"{'measurement':58} {'median s':>9} {'rows/s':>12}")
        for label, secs in [
            ("crm.clean_phone(phone, country)  [valid: %d]" % valid_phones, phone_sql),
            ("crm.clean_phone, 2 parallel workers", phone_par),
            ("Python phonenumbers parse+format E.164  [%d]" % py_fmt_ok, py_fmt),
            ("Python phonenumbers parse+is_valid+format  [%d]" % py_val_ok, py_val),
            ("SQL regexp_replace(phone, '[^0-9+]', '')", regexp_phone),
            ("crm.clean_email(email)  [valid: %d]" % valid_emails, email_sql),
            ("SQL regexp_replace/lower/btrim e-mail expression", regexp_email),
        ]:
            print(f"{label:58} {secs:9.3f} {rate(secs):12,.0f}")
        print()
        print(f"clean_phone vs Python phonenumbers parse+format:           {py_fmt / phone_sql:6.2f}x faster  (target >= 5x)")
        print(f"clean_phone vs Python phonenumbers parse+is_valid+format:  {py_val / phone_sql:6.2f}x faster")
        print(f"clean_phone vs SQL regexp_replace:                         {phone_sql / regexp_phone:6.2f}x the time")
        print(f"clean_email vs SQL regexp expression:                      {email_sql / regexp_email:6.2f}x the time")

        print("\nscaler_agg over 1,000,000 float8 rows")
        # Interleaved runs (built-in, ours, robust, repeated) so that drift in machine load
        # hits all three alike; medians of 11.
        for parallel in (0, 2):
            times = {"builtin": [], "zscore": [], "robust": []}
            queries = {
                "builtin": "SELECT avg(x), stddev_pop(x) FROM bench_numbers",
                "zscore": "SELECT crm.scaler_agg(x) FROM bench_numbers",
                "robust": "SELECT crm.scaler_agg(x, 'robust') FROM bench_numbers",
            }
            for _ in range(11):
                for key, sql in queries.items():
                    times[key].append(timed_sql(conn, sql, runs=1, parallel=parallel))
            builtin, ours, robust = (statistics.median(times[k]) for k in ("builtin", "zscore", "robust"))
            mode = "serial" if parallel == 0 else "2 workers"
            print(f"  {mode:10} avg+stddev_pop {builtin * 1000:7.1f} ms | scaler_agg(x) {ours * 1000:7.1f} ms ({ours / builtin:4.2f}x, target <= 1.5x)"
                  f" | scaler_agg(x, 'robust') {robust * 1000:7.1f} ms ({robust / builtin:4.2f}x)")
        with conn.cursor() as cur:
            cur.execute("SET max_parallel_workers_per_gather = 2")
            cur.execute("SET parallel_setup_cost = 0")
            cur.execute("EXPLAIN (COSTS OFF) SELECT crm.scaler_agg(x) FROM bench_numbers")
            print("  parallel plan: " + " / ".join(r[0].strip() for r in cur.fetchall()))


if __name__ == "__main__":
    sys.exit(main())
