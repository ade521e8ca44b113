#!/usr/bin/env python3
"""International contact data: throughput of parse_date, clean_postcode, parse_address,
normalize_address and address_key on one core, against Python dateparser and usaddress on
the same strings, measured in one run.

The strings are the valid cases of the hand-written corpora (tests/data/date_cases.tsv,
postcode_cases.tsv, address_cases.tsv), repeated to PG_CRM_BENCH_ROWS rows (default
500,000) in a table. SQL timings are medians of RUNS runs of `SELECT count(f(x)) FROM t`,
serial (max_parallel_workers_per_gather = 0); rows/s is rows over that time, and also over
the time minus the same scan with `count(x)` (the function's own cost). The Python peers
run over a sample of the same strings (they are far slower) and their rate is rows over
time.

Run through ./scripts/bench --only international, which starts the cluster and the venv.
"""
import csv
import os
import statistics
import sys
import time

import psycopg

DSN = os.environ["PG_CRM_BENCH_DSN"]
ROWS = int(os.environ.get("PG_CRM_BENCH_ROWS", "500000"))
RUNS = int(os.environ.get("PG_CRM_BENCH_RUNS", "5"))
SAMPLE = int(os.environ.get("PG_CRM_BENCH_PEER_SAMPLE", "3000"))
DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "data")


def read_tsv(name):
    with open(os.path.join(DATA, name), newline="", encoding="utf-8") as f:
        return [[None if v == "\\N" else v for v in row] for row in csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE)]


def timed_sql(conn, sql, runs=RUNS):
    with conn.cursor() as cur:
        cur.execute("SET max_parallel_workers_per_gather = 0")
        cur.execute(sql)
        cur.fetchall()
        times = []
        for _ in range(runs):
            t0 = time.perf_counter()
            cur.execute(sql)
            cur.fetchall()
            times.append(time.perf_counter() - t0)
    return statistics.median(times)


def fill(conn, table, columns, rows):
    """`rows` repeated to ROWS rows in an unlogged table."""
    conn.execute(f"DROP TABLE IF EXISTS {table}")
    conn.execute(f"CREATE UNLOGGED TABLE {table} ({', '.join(c + ' text' for c in columns)})")
    with conn.cursor() as cur:
        with cur.copy(f"COPY {table} FROM STDIN") as copy:
            for i in range(ROWS):
                copy.write_row(rows[i % len(rows)])
    conn.execute(f"VACUUM ANALYZE {table}")


def peer_rate(fn, strings):
    sample = [strings[i % len(strings)] for i in range(SAMPLE)]
    t0 = time.perf_counter()
    for s in sample:
        fn(s)
    return len(sample) / (time.perf_counter() - t0)


def main():
    import dateparser
    import usaddress
    from datetime import datetime

    dates = [r for r in read_tsv("date_cases.tsv") if r[3] is not None]
    postcodes = [r for r in read_tsv("postcode_cases.tsv") if r[2] is not None]
    addresses = read_tsv("address_cases.tsv")
    us = [r for r in addresses if r[0] == "US"]
    print(f"{ROWS:,} rows per table, from {len(dates)} date, {len(postcodes)} postcode and {len(addresses)} address strings "
          f"({len(us)} US); SQL: median of {RUNS} runs, one core; peers: {SAMPLE:,} strings\n")

    with psycopg.connect(DSN, autocommit=True) as conn:
        fill(conn, "intl_dates", ["input", "field_order"], [(r[2], r[1]) for r in dates])
        fill(conn, "intl_postcodes", ["input", "country"], [(r[1], r[0]) for r in postcodes])
        fill(conn, "intl_addresses", ["input", "country"], [(r[1], r[0]) for r in addresses])
        fill(conn, "intl_us", ["input"], [(r[1],) for r in us])
        scans = {t: timed_sql(conn, f"SELECT count(input) FROM {t}") for t in ["intl_dates", "intl_postcodes", "intl_addresses", "intl_us"]}
        cases = [
            ("crm.parse_date(input, field_order)", "intl_dates"),
            ("crm.clean_postcode(input, country)", "intl_postcodes"),
            ("crm.parse_address(input, country)", "intl_addresses"),
            ("crm.normalize_address(input, country)", "intl_addresses"),
            ("crm.address_key(input, country)", "intl_addresses"),
            ("crm.parse_address(input, 'US')", "intl_us"),
        ]
        rates = {}
        print(f"{'SQL (one core)':44} {'median s':>9} {'rows/s':>12} {'rows/s, scan removed':>22}")
        for expr, table in cases:
            t = timed_sql(conn, f"SELECT count({expr}) FROM {table}")
            own = max(t - scans[table], 1e-9)
            rates[expr] = ROWS / t
            print(f"{expr:44} {t:9.3f} {ROWS / t:12,.0f} {ROWS / own:22,.0f}")

    settings = {"STRICT_PARSING": True, "PREFER_DATES_FROM": "past", "RELATIVE_BASE": datetime(2026, 11, 30)}
    dp = peer_rate(lambda r: dateparser.parse(r[2], settings={**settings, "DATE_ORDER": r[1]}), dates)

    def tag(s):
        try:
            return usaddress.tag(s)
        except usaddress.RepeatedLabelError:
            return usaddress.parse(s)

    ua_us = peer_rate(lambda r: tag(r[1]), us)
    ua_all = peer_rate(lambda r: tag(r[1]), addresses)
    print(f"\n{'Python peer (one core)':44} {'rows/s':>12}")
    print(f"{'dateparser.parse (DATE_ORDER, strict)':44} {dp:12,.0f}")
    print(f"{'usaddress.tag, US addresses':44} {ua_us:12,.0f}")
    print(f"{'usaddress.tag, all addresses':44} {ua_all:12,.0f}")
    print()
    print(f"parse_date vs dateparser:                {rates['crm.parse_date(input, field_order)'] / dp:8.1f}x faster  (target >= 10x)")
    us_rate = rates["crm.parse_address(input, 'US')"]
    print(f"parse_address vs usaddress (US strings): {us_rate / ua_us:8.1f}x faster  (target >= 10x)")
    for expr, _ in cases:
        ok = "ok" if rates[expr] >= 500_000 else "BELOW 500k rows/s"
        print(f"  {expr:42} {rates[expr]:12,.0f} rows/s  {ok}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
