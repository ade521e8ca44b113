-- crm.rfm_agg / rfm_quintiles / rfm_score / rfm_segment on a sample of the CDNOW
-- transactions (every customer whose id is 7 mod 40: 1,649 orders, 590 customers).
SET datestyle = 'ISO, YMD';
CREATE TABLE cdnow_raw (customer_id int, order_date text, number_of_cds int, dollar_value float8);
\copy cdnow_raw FROM 'tests/data/cdnow_sample.csv' WITH (FORMAT csv, HEADER true)
CREATE TABLE cdnow AS
SELECT customer_id, to_date(order_date, 'YYYYMMDD')::timestamptz AS order_at, dollar_value AS amount
FROM cdnow_raw;
-- A few orders the aggregate must ignore: NULL amount, NULL time, after as_of.
INSERT INTO cdnow VALUES (7, '1997-03-03', NULL), (7, NULL, 5), (7, '1999-01-01', 1000);
ANALYZE cdnow;
-- The aggregate's fields equal plain SQL GROUP BY figures, in two time zones (days are
-- calendar days of the session zone, as order_at::date).
CREATE FUNCTION rfm_mismatches(as_of timestamptz) RETURNS bigint LANGUAGE sql AS $$
  WITH agg AS (
    SELECT customer_id, crm.rfm_agg(order_at, amount, as_of) AS r FROM cdnow GROUP BY customer_id
  ), plain AS (
    SELECT customer_id,
           as_of::date - max(order_at)::date AS recency_days,
           count(DISTINCT order_at::date) AS frequency,
           sum(amount) AS monetary_total,
           sum(amount) / count(DISTINCT order_at::date) AS monetary_mean,
           min(order_at) AS first_order, max(order_at) AS last_order,
           as_of::date - min(order_at)::date AS t_days,
           count(*) AS orders
    FROM cdnow WHERE order_at <= as_of AND amount IS NOT NULL GROUP BY customer_id
  )
  SELECT count(*) FROM agg FULL JOIN plain p USING (customer_id)
  WHERE (r).recency_days IS DISTINCT FROM p.recency_days::float8
     OR (r).frequency IS DISTINCT FROM p.frequency
     OR (r).repeat_frequency IS DISTINCT FROM p.frequency - 1
     OR abs((r).monetary_total - p.monetary_total) > 1e-9 * abs(p.monetary_total)
     OR abs((r).monetary_mean - p.monetary_mean) > 1e-9 * abs(p.monetary_mean)
     OR (r).first_order IS DISTINCT FROM p.first_order
     OR (r).last_order IS DISTINCT FROM p.last_order
     OR (r).t_days IS DISTINCT FROM p.t_days::float8
     OR (r).orders IS DISTINCT FROM p.orders
     OR (r).as_of IS DISTINCT FROM as_of
     OR (r) IS NULL OR p.customer_id IS NULL
$$;
SET timezone = 'UTC';
SELECT rfm_mismatches('1998-06-30') AS mismatches_utc, rfm_mismatches('1997-06-30 18:00') AS mismatches_utc_mid;
SET timezone = 'America/New_York';
SELECT rfm_mismatches('1998-06-30') AS mismatches_new_york, rfm_mismatches('1997-11-02 12:00') AS mismatches_new_york_dst;
SET timezone = 'Asia/Kolkata';
SELECT rfm_mismatches('1998-06-30 22:00+00') AS mismatches_kolkata;
RESET timezone;
SET timezone = 'UTC';
-- One customer, field by field.
SELECT (crm.rfm_agg(order_at, amount, '1998-06-30')).* FROM cdnow WHERE customer_id = 7;
-- Customers with no countable order get NULL; an empty group too.
SELECT crm.rfm_agg(order_at, amount, '1996-01-01') IS NULL AS before_first_order FROM cdnow WHERE customer_id = 7;
SELECT crm.rfm_agg(order_at, amount, now()) IS NULL AS empty FROM cdnow WHERE false;
-- Parallel aggregation gives the same answer and a partial-aggregate plan.
SET parallel_setup_cost = 0;
SET parallel_tuple_cost = 0;
SET min_parallel_table_scan_size = 0;
SET max_parallel_workers_per_gather = 2;
EXPLAIN (COSTS OFF) SELECT crm.rfm_agg(order_at, amount, '1998-06-30') FROM cdnow;
SELECT (crm.rfm_agg(order_at, amount, '1998-06-30')).* FROM cdnow;
SELECT rfm_mismatches('1998-06-30') AS mismatches_parallel;
RESET parallel_setup_cost;
RESET parallel_tuple_cost;
RESET min_parallel_table_scan_size;
RESET max_parallel_workers_per_gather;
-- Quintile breakpoints equal percentile_disc over the same population.
CREATE TABLE summaries AS
SELECT customer_id, crm.rfm_agg(order_at, amount, '1998-06-30') AS r FROM cdnow GROUP BY customer_id;
SELECT crm.rfm_quintiles(r) FROM summaries;
SELECT crm.rfm_quintiles((r).recency_days, (r).frequency, (r).monetary_total)::text = crm.rfm_quintiles(r)::text AS forms_agree,
       percentile_disc(ARRAY[0.2, 0.4, 0.6, 0.8]) WITHIN GROUP (ORDER BY (r).recency_days) AS recency,
       percentile_disc(ARRAY[0.2, 0.4, 0.6, 0.8]) WITHIN GROUP (ORDER BY (r).frequency) AS frequency,
       percentile_disc(ARRAY[0.2, 0.4, 0.6, 0.8]) WITHIN GROUP (ORDER BY (r).monetary_total) AS monetary
FROM summaries;
-- Scores and segments: how many customers in each.
CREATE TABLE scored AS
WITH q AS (SELECT crm.rfm_quintiles(r) AS q FROM summaries)
SELECT customer_id, (crm.rfm_score(r, q)).* FROM summaries, q;
SELECT r, count(*) FROM scored GROUP BY r ORDER BY r;
SELECT m, count(*) FROM scored GROUP BY m ORDER BY m;
SELECT segment, count(*) FROM scored GROUP BY segment ORDER BY count(*) DESC, segment;
-- Scores agree with the breakpoints: a higher monetary never gets a lower M score.
SELECT count(*) AS monotonic_violations
FROM scored a JOIN summaries sa USING (customer_id), scored b JOIN summaries sb USING (customer_id)
WHERE (sa.r).monetary_total > (sb.r).monetary_total AND a.m < b.m;
-- The float form, and the text form of the quintiles round-trips.
SELECT (crm.rfm_score(10, 3, 100, '{"n":5,"recency":[5,20,60,200],"frequency":[1,1,2,4],"monetary":[20,40,80,160]}')).*;
SELECT '{"n":5,"recency":[5,20,60,200],"frequency":[1,1,2,4],"monetary":[20,40,80,160]}'::crm.rfm_quintiles;
-- The segment grid.
SELECT r, string_agg(crm.rfm_segment(r, fm, fm), ' | ' ORDER BY fm) AS segments_by_fm
FROM generate_series(1, 5) r, generate_series(1, 5) fm GROUP BY r ORDER BY r DESC;
SELECT crm.rfm_segment(5, 1, 2) AS fm_rounds_half_up, crm.rfm_segment(NULL, 1, 1) IS NULL AS null_in_null_out;
-- Errors carry a SQLSTATE and name the argument.
\set VERBOSITY sqlstate
SELECT crm.rfm_segment(0, 3, 3);
\set VERBOSITY default
SELECT crm.rfm_segment(3, 6, 3);
SELECT crm.rfm_agg(order_at, amount, order_at) FROM cdnow;
SELECT crm.rfm_agg(order_at, amount, NULL) FROM cdnow;
SELECT crm.rfm_agg(order_at, 'NaN', '1998-06-30') FROM cdnow;
SELECT crm.rfm_agg(order_at, amount, 'infinity') FROM cdnow;
SELECT '{"n":5}'::crm.rfm_quintiles;
SELECT '{"n":5,"recency":[5,20,6,200],"frequency":[1,1,2,4],"monetary":[20,40,80,160]}'::crm.rfm_quintiles;
