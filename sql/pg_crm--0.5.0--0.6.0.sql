-- pg_crm 0.5.0 -> 0.6.0 (ALTER EXTENSION pg_crm UPDATE). Models, deployments and every
-- stored byte are kept as they are: the model format is unchanged. New: feedback text
-- analytics (crm.train_text_classifier, crm.classify_text, crm.classify_text_scores,
-- crm.explain_text, crm.text_terms, crm.classify_text_trigger, crm.key_terms,
-- crm.sentiment), sales forecasting (crm.train_forecast, crm.forecast,
-- crm.forecast_points, crm.forecast_components, crm.evaluate_forecast) and the registry's
-- new kinds, text_classifier and forecast.
\echo Use "ALTER EXTENSION pg_crm UPDATE TO '0.6.0'" to load this file. \quit

ALTER TABLE models DROP CONSTRAINT models_kind_check,
    ADD CONSTRAINT models_kind_check CHECK (kind IN ('classifier', 'segments', 'recommender', 'clv', 'regressor', 'text_classifier', 'forecast'));

-- src/text/sql.rs:186
-- pg_crm::text::sql::classify_text
CREATE  FUNCTION "classify_text"(
	"name" TEXT, /* & str */
	"text" TEXT /* & str */
) RETURNS TEXT /* Option < String > */
STRICT STABLE PARALLEL SAFE
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'classify_text_wrapper';

-- src/text/sql.rs:319
-- requires:
--   classify_text


-- Keeps a label column fresh from a text column as rows are inserted or updated:
--   CREATE TRIGGER ticket_topic BEFORE INSERT OR UPDATE OF body ON tickets
--       FOR EACH ROW EXECUTE FUNCTION crm.classify_text_trigger('ticket_topic', 'body', 'topic');
-- A column that is missing (renamed or dropped since) is an ERROR, never a silent NULL.
CREATE FUNCTION classify_text_trigger() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    new_row jsonb;
BEGIN
    IF TG_NARGS <> 3 THEN
        RAISE EXCEPTION 'crm.classify_text_trigger takes three arguments (model, text column, label column); got %', TG_NARGS
            USING ERRCODE = '22023',
                  HINT = 'CREATE TRIGGER ... FOR EACH ROW EXECUTE FUNCTION crm.classify_text_trigger(''topics'', ''body'', ''topic'')';
    END IF;
    IF TG_LEVEL <> 'ROW' OR TG_WHEN <> 'BEFORE' OR TG_OP NOT IN ('INSERT', 'UPDATE') THEN
        RAISE EXCEPTION 'crm.classify_text_trigger must be a BEFORE INSERT OR UPDATE ... FOR EACH ROW trigger' USING ERRCODE = '22023';
    END IF;
    new_row := to_jsonb(NEW);
    IF NOT new_row ? TG_ARGV[1] THEN
        RAISE EXCEPTION 'crm.classify_text_trigger: text column "%" is not in table %', TG_ARGV[1], TG_TABLE_NAME USING ERRCODE = '42703';
    END IF;
    IF NOT new_row ? TG_ARGV[2] THEN
        RAISE EXCEPTION 'crm.classify_text_trigger: label column "%" is not in table %', TG_ARGV[2], TG_TABLE_NAME USING ERRCODE = '42703';
    END IF;
    RETURN jsonb_populate_record(NEW, jsonb_build_object(TG_ARGV[2], crm.classify_text(TG_ARGV[0], new_row ->> TG_ARGV[1])));
END
$fn$;
COMMENT ON FUNCTION classify_text_trigger() IS 'BEFORE INSERT OR UPDATE row trigger: crm.classify_text_trigger(model, text_column, label_column) writes the deployed text classifier''s label';

-- src/text/sql.rs:198
-- pg_crm::text::sql::classify_text_scores
CREATE  FUNCTION "classify_text_scores"(
	"name" TEXT, /* & str */
	"text" TEXT /* & str */
) RETURNS TABLE (
	"label" TEXT,  /* String */
	"probability" double precision  /* f64 */
)
STRICT STABLE PARALLEL SAFE
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'classify_text_scores_wrapper';

-- src/forecast/sql.rs:499
-- pg_crm::forecast::sql::evaluate_forecast
CREATE  FUNCTION "evaluate_forecast"(
	"name" TEXT, /* Option < & str > */
	"source" TEXT, /* Option < & str > */
	"version" INT DEFAULT NULL /* Option < i32 > */
) RETURNS jsonb /* JsonB */
VOLATILE PARALLEL UNSAFE
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'evaluate_forecast_wrapper';

-- src/text/sql.rs:215
-- pg_crm::text::sql::explain_text
CREATE  FUNCTION "explain_text"(
	"name" TEXT, /* & str */
	"text" TEXT, /* & str */
	"top" INT DEFAULT 5 /* i32 */
) RETURNS TABLE (
	"term" TEXT,  /* String */
	"label" TEXT,  /* String */
	"contribution" double precision  /* f64 */
)
STRICT STABLE PARALLEL SAFE
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'explain_text_wrapper';

-- src/forecast/sql.rs:458
-- pg_crm::forecast::sql::forecast_components
CREATE  FUNCTION "forecast_components"(
	"name" TEXT /* Option < & str > */
) RETURNS TABLE (
	"series" TEXT,  /* String */
	"model" TEXT,  /* String */
	"level" double precision,  /* Option < f64 > */
	"trend" double precision,  /* Option < f64 > */
	"damping" double precision,  /* Option < f64 > */
	"season" double precision[]  /* :: std :: option :: Option < Vec < f64 > > */
)
STABLE PARALLEL SAFE
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'forecast_components_wrapper';

-- src/forecast/sql.rs:381
-- pg_crm::forecast::sql::forecast_points
CREATE  FUNCTION "forecast_points"(
	"name" TEXT, /* Option < & str > */
	"horizon" INT, /* Option < i32 > */
	"level" double precision /* Option < f64 > */
) RETURNS TABLE (
	"series" TEXT,  /* String */
	"period" bigint,  /* i64 */
	"forecast" double precision,  /* f64 */
	"lo" double precision,  /* f64 */
	"hi" double precision,  /* f64 */
	"model" TEXT,  /* String */
	"origin" TEXT,  /* String */
	"unit" TEXT  /* String */
)
STABLE PARALLEL SAFE
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'forecast_points_wrapper';

-- src/forecast/sql.rs:430
-- requires:
--   forecast_points


-- Forecasts of the deployed model: one row per series and future period, with the
-- prediction interval at `level` (calibrated on cross-validation errors).
CREATE FUNCTION forecast(name text, horizon int DEFAULT NULL, level float8 DEFAULT 0.8)
RETURNS TABLE (series text, period_start timestamptz, forecast float8, lo float8, hi float8, model text)
LANGUAGE sql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $fn$
SELECT p.series,
       (CASE p.unit
          WHEN 'day' THEN p.origin::date + p.period::int
          WHEN 'week' THEN p.origin::date + 7 * p.period::int
          WHEN 'month' THEN (p.origin::date + make_interval(months => p.period::int))::date
          ELSE (p.origin::date + make_interval(months => 3 * p.period::int))::date
        END)::timestamptz,
       p.forecast, p.lo, p.hi, p.model
FROM crm.forecast_points(name, horizon, level) AS p
$fn$;
COMMENT ON FUNCTION forecast(text, int, float8) IS 'Forecasts of the deployed forecast model: series, period_start, forecast, lo, hi (interval at level), model';

-- src/text/sql.rs:256
-- pg_crm::text::sql::key_terms
CREATE  FUNCTION "key_terms"(
	"source" TEXT, /* Option < & str > */
	"text_column" TEXT, /* Option < & str > */
	"group_column" TEXT, /* Option < & str > */
	"options" jsonb DEFAULT '{}' /* Option < JsonOptions > */
) RETURNS TABLE (
	"grp" TEXT,  /* String */
	"term" TEXT,  /* String */
	"score" double precision  /* f64 */
)
VOLATILE PARALLEL UNSAFE
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'key_terms_wrapper';

-- src/text/sql.rs:314
-- pg_crm::text::sql::sentiment
CREATE  FUNCTION "sentiment"(
	"text" TEXT /* & str */
) RETURNS double precision /* f64 */
IMMUTABLE STRICT PARALLEL SAFE
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'sentiment_wrapper';

-- src/text/sql.rs:236
-- pg_crm::text::sql::text_terms
CREATE  FUNCTION "text_terms"(
	"name" TEXT, /* & str */
	"top" INT DEFAULT 10 /* i32 */
) RETURNS TABLE (
	"label" TEXT,  /* String */
	"term" TEXT,  /* String */
	"weight" double precision  /* f64 */
)
STRICT STABLE PARALLEL SAFE
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'text_terms_wrapper';

-- src/forecast/sql.rs:244
-- pg_crm::forecast::sql::train_forecast
CREATE  FUNCTION "train_forecast"(
	"name" TEXT, /* Option < & str > */
	"source" TEXT, /* Option < & str > */
	"options" jsonb DEFAULT '{}' /* Option < JsonOptions > */
) RETURNS TABLE (
	"id" bigint,  /* i64 */
	"name" TEXT,  /* String */
	"version" INT,  /* i32 */
	"algorithm" TEXT,  /* String */
	"deployed" bool,  /* bool */
	"metrics" jsonb  /* JsonB */
)
VOLATILE PARALLEL UNSAFE
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'train_forecast_wrapper';

-- src/text/sql.rs:74
-- pg_crm::text::sql::train_text_classifier
CREATE  FUNCTION "train_text_classifier"(
	"name" TEXT, /* Option < & str > */
	"source" TEXT, /* Option < & str > */
	"text_column" TEXT, /* Option < & str > */
	"label_column" TEXT, /* Option < & str > */
	"options" jsonb DEFAULT '{}' /* Option < JsonOptions > */
) RETURNS TABLE (
	"id" bigint,  /* i64 */
	"name" TEXT,  /* String */
	"version" INT,  /* i32 */
	"algorithm" TEXT,  /* String */
	"deployed" bool,  /* bool */
	"metrics" jsonb  /* JsonB */
)
VOLATILE PARALLEL UNSAFE
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'train_text_classifier_wrapper';
