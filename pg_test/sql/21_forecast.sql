-- Forecasting: train_forecast over many series (frequency and columns detected), forecast
-- with intervals, components, evaluation on later actuals; monthly and daily data; edge
-- series (all zero, negative, short, intermittent); bad input.
SET client_min_messages = warning;
SET TIME ZONE 'UTC';
-- Weekly sales of 3 stores x 2 departments over three years (Fridays), with a yearly
-- season, a trend per store and noise; plus a holiday flag (not a series id: boolean).
CREATE TABLE fc_sales AS
SELECT s AS store, d AS dept, date '2021-01-01' + 7 * w AS week_of, w,
       round((1000 * s + 300 * d + 4 * w * s
              + 250 * sin(2 * pi() * w / 52.0) + 120 * cos(4 * pi() * w / 52.0)
              + (abs(hashtext(s || '/' || d || '/' || w)) % 100) - 50)::numeric, 2) AS sales,
       (w % 52 IN (47, 51)) AS holiday
FROM generate_series(1, 3) s, generate_series(1, 2) d, generate_series(0, 155) w;
SELECT count(*) AS rows, count(DISTINCT (store, dept)) AS series FROM fc_sales;

-- Trained on all but the last 13 weeks; time and value columns and the weekly frequency
-- detected; integer ids are named (integer columns are never guessed to be ids)
SELECT name, version, deployed, metrics->>'series' AS series, metrics->>'frequency' AS frequency,
       metrics->>'season_length' AS season, metrics->>'horizon' AS horizon, metrics->>'origin' AS origin
FROM crm.train_forecast('fc_weekly', 'SELECT store, dept, week_of, sales, holiday FROM fc_sales WHERE w < 143', '{"series": ["store", "dept"]}');
-- Not named: one series (the sum per week), and a WARNING names the integer columns
SELECT metrics->>'series' AS series FROM crm.train_forecast('fc_total', 'SELECT store, dept, week_of, sales FROM fc_sales');
SELECT kind, target, features FROM crm.models WHERE name = 'fc_weekly';
-- One row per series and future week, starting the week after the training data, on Fridays
SELECT count(*) AS rows, count(DISTINCT series) AS series, min(period_start)::date AS first, max(period_start)::date AS last,
       bool_and(extract(dow FROM period_start) = 5) AS fridays, bool_and(lo <= forecast AND forecast <= hi) AS ordered,
       bool_and(model IS NOT NULL) AS named
FROM crm.forecast('fc_weekly');
SELECT series, count(*) FROM crm.forecast('fc_weekly', 4) GROUP BY series ORDER BY series;
-- Wider intervals at a higher level
SELECT bool_and(h.hi - h.lo >= l.hi - l.lo) AS wider
FROM crm.forecast('fc_weekly', 13, 0.95) h JOIN crm.forecast('fc_weekly', 13, 0.5) l USING (series, period_start);
-- Against the 13 held-out weeks: better than the seasonal naive scale, intervals cover
SELECT (e->>'series')::int AS series, (e->>'points')::int AS points, (e->>'mase')::float8 < 1 AS beats_naive,
       (e->>'wape')::float8 < 10 AS wape_under_10pct, (e->>'coverage')::float8 >= 0.5 AS covers
FROM crm.evaluate_forecast('fc_weekly', 'fc_sales') e;
SELECT count(*) AS series, bool_and(level IS NOT NULL OR model IN ('ensemble', 'decomposed', 'seasonal_average')) AS states
FROM crm.forecast_components('fc_weekly');

-- Covariates known in the future: the holiday flag, read for the history and, from rows
-- whose sales are NULL after a series' last sale, for the weeks to forecast
SELECT metrics->>'series' AS series, metrics->>'periods' AS periods
FROM crm.train_forecast('fc_holiday', 'SELECT store, dept, week_of, CASE WHEN w < 143 THEN sales END AS sales, holiday FROM fc_sales',
                        '{"series": ["store", "dept"], "covariates": ["holiday"]}');
SELECT features->'covariates' AS covariates FROM crm.models WHERE name = 'fc_holiday';
SELECT count(*) AS rows, min(period_start)::date AS first, max(period_start)::date AS last FROM crm.forecast('fc_holiday');
-- The global gradient-boosting model over all series, with the covariate
SELECT algorithm, metrics->'models' AS models
FROM crm.train_forecast('fc_holiday_gb', 'SELECT store, dept, week_of, CASE WHEN w < 143 THEN sales END AS sales, holiday FROM fc_sales',
                        '{"series": ["store", "dept"], "covariates": ["holiday"], "models": ["global"]}');
SELECT count(*) AS rows, bool_and(lo <= forecast AND forecast <= hi) AS ordered, bool_and(model = 'global') AS global FROM crm.forecast('fc_holiday_gb');

-- Monthly, one series, named columns; forecasts start on the first of each month
CREATE TABLE fc_monthly AS
SELECT timestamptz '2019-01-15 10:00+00' + make_interval(months => m) AS booked_at, 500 + 10 * m + 80 * sin(2 * pi() * m / 12.0) AS revenue, 'x' AS note
FROM generate_series(0, 59) m;
SELECT metrics->>'frequency' AS frequency, metrics->>'series' AS series, metrics->>'origin' AS origin
FROM crm.train_forecast('fc_month', 'fc_monthly', '{"time": "booked_at", "value": "revenue", "series": [], "horizon": 6}');
SELECT series, period_start::date, forecast > 0 AS positive FROM crm.forecast('fc_month') ORDER BY period_start;

-- Monthly sales whose season grows with the level, in three regions: a season of ratios
-- by name; selection 'global' gives every region the one model best across the panel
CREATE TABLE fc_growth AS
SELECT r AS region, date '2018-01-01' + make_interval(months => m) AS month,
       (100 + 6 * m * r) * (1 + 0.4 * sin(2 * pi() * m / 12.0)) + (abs(hashtext(r || '/' || m)) % 7) AS sales
FROM generate_series(1, 3) r, generate_series(0, 59) m;
SELECT algorithm, metrics->'models' AS models
FROM crm.train_forecast('fc_growth_ratio', 'fc_growth', '{"series": ["region"], "horizon": 6, "models": ["holt_winters_multiplicative"]}');
SELECT count(*) AS rows, bool_and(lo <= forecast AND forecast <= hi) AS ordered, bool_and(forecast > 0) AS positive FROM crm.forecast('fc_growth_ratio');
SELECT metrics->>'series' AS series FROM crm.train_forecast('fc_growth_one', 'fc_growth', '{"series": ["region"], "horizon": 6, "selection": "global"}');
SELECT hyperparameters->>'selection' AS selection FROM crm.models WHERE name = 'fc_growth_one';
SELECT count(DISTINCT model) AS models, count(*) AS series FROM crm.forecast_components('fc_growth_one');

-- Edge series: all zero, negative values (returns), short, intermittent, gaps filled
CREATE TABLE fc_edge AS
SELECT 'zero' AS sku, date '2024-01-01' + g AS day, 0 AS units FROM generate_series(0, 59) g
UNION ALL SELECT 'returns', date '2024-01-01' + g, -5 - (g % 7) FROM generate_series(0, 59) g
UNION ALL SELECT 'short', date '2024-02-27' + g, 3 FROM generate_series(0, 1) g
UNION ALL SELECT 'rare', date '2024-01-01' + g, CASE WHEN g % 9 = 0 THEN 4 ELSE 0 END FROM generate_series(0, 59) g
UNION ALL SELECT 'gappy', date '2024-01-01' + g, 10 FROM generate_series(0, 59) g WHERE g % 5 <> 3;
SELECT metrics->>'frequency' AS frequency, metrics->>'series' AS series FROM crm.train_forecast('fc_edge', 'fc_edge', '{"horizon": 7}');
SELECT series, round(min(forecast)::numeric, 3) AS min_f, round(max(forecast)::numeric, 3) AS max_f, bool_and(lo <= hi) AS ordered, count(*) AS days
FROM crm.forecast('fc_edge') GROUP BY series ORDER BY series;

-- Bad input: arguments and options named, SQLSTATEs
\set VERBOSITY terse
SELECT * FROM crm.train_forecast('fc_bad', 'fc_sales', '{"horizn": 4}');
SELECT * FROM crm.train_forecast('fc_bad', 'fc_sales', '{"series": ["store", "dept"], "covariates": ["nope"]}');
SELECT * FROM crm.train_forecast('fc_bad', 'fc_sales', '{"series": ["store", "dept"], "covariates": ["week_of"]}');
SELECT * FROM crm.train_forecast('fc_bad', 'fc_sales', '{"frequency": "hourly"}');
SELECT * FROM crm.train_forecast('fc_bad', 'fc_sales', '{"selection": "best"}');
SELECT * FROM crm.train_forecast('fc_bad', 'fc_sales', '{"value": "holiday"}');
SELECT * FROM crm.train_forecast('fc_bad', 'fc_sales', '{"time": "nope"}');
SELECT * FROM crm.train_forecast('fc_bad', 'SELECT date ''2024-01-01'' + 40 * g AS day, g AS units FROM generate_series(1, 20) g');
SELECT * FROM crm.train_forecast('fc_bad', 'fc_missing');
SELECT * FROM crm.forecast('fc_weekly', 14);
SELECT * FROM crm.forecast('fc_weekly', 0);
SELECT * FROM crm.forecast('fc_weekly', 4, 1.5);
SELECT * FROM crm.forecast('fc_nope');
SELECT crm.evaluate_forecast('fc_weekly', 'SELECT * FROM fc_sales WHERE w < 100');
\set VERBOSITY sqlstate
SELECT * FROM crm.train_forecast('fc_bad', 'fc_sales', '{"horizn": 4}');
SELECT * FROM crm.train_forecast('fc_bad', 'fc_sales', '{"series": ["store", "dept"], "covariates": ["nope"]}');
SELECT * FROM crm.train_forecast('fc_bad', 'fc_sales', '{"time": "nope"}');
SELECT * FROM crm.forecast('fc_nope');
\set VERBOSITY default
DROP TABLE fc_sales, fc_monthly, fc_growth, fc_edge;
