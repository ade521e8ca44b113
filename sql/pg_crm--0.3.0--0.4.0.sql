-- pg_crm 0.3.0 -> 0.4.0 (ALTER EXTENSION pg_crm UPDATE). Models, deployments and every
-- stored byte are kept as they are: the model format is unchanged. New: customer lifetime
-- value (crm.train_clv; crm.p_alive, crm.expected_purchases, crm.expected_spend and crm.clv
-- for a crm.rfm summary or plain numbers; crm.value_at_risk; crm.customer_profile).
\echo Use "ALTER EXTENSION pg_crm UPDATE TO '0.4.0'" to load this file. \quit

CREATE  FUNCTION "clv"(
	"name" TEXT, /* & str */
	"frequency" double precision, /* f64 */
	"recency" double precision, /* f64 */
	"t" double precision, /* f64 */
	"monetary" double precision, /* f64 */
	"horizon_days" double precision DEFAULT 365, /* f64 */
	"annual_discount" double precision DEFAULT 0 /* f64 */
) RETURNS double precision /* f64 */
STRICT STABLE PARALLEL SAFE 
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'clv_numbers_wrapper';

CREATE  FUNCTION "customer_profile"(
	"orders" TEXT, /* Option < & str > */
	"options" jsonb DEFAULT '{}' /* Option < JsonOptions > */
) RETURNS TABLE (
	"customer" TEXT,  /* String */
	"recency_days" double precision,  /* Option < f64 > */
	"frequency" bigint,  /* Option < i64 > */
	"monetary_total" double precision,  /* Option < f64 > */
	"rfm_segment" TEXT,  /* Option < String > */
	"segment" INT,  /* Option < i32 > */
	"churn_score" double precision,  /* Option < f64 > */
	"p_alive" double precision,  /* Option < f64 > */
	"expected_purchases" double precision,  /* Option < f64 > */
	"clv" double precision,  /* Option < f64 > */
	"value_at_risk" double precision,  /* Option < f64 > */
	"top_products" TEXT[]  /* :: std :: option :: Option < Vec < String > > */
)
STABLE PARALLEL UNSAFE
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'customer_profile_wrapper';

CREATE  FUNCTION "expected_purchases"(
	"name" TEXT, /* & str */
	"frequency" double precision, /* f64 */
	"recency" double precision, /* f64 */
	"t" double precision, /* f64 */
	"horizon_days" double precision /* f64 */
) RETURNS double precision /* f64 */
STRICT STABLE PARALLEL SAFE 
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'expected_purchases_numbers_wrapper';

CREATE  FUNCTION "expected_spend"(
	"name" TEXT, /* & str */
	"frequency" double precision, /* f64 */
	"monetary" double precision /* f64 */
) RETURNS double precision /* f64 */
STRICT STABLE PARALLEL SAFE 
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'expected_spend_numbers_wrapper';

CREATE  FUNCTION "p_alive"(
	"name" TEXT, /* & str */
	"frequency" double precision, /* f64 */
	"recency" double precision, /* f64 */
	"t" double precision /* f64 */
) RETURNS double precision /* f64 */
STRICT STABLE PARALLEL SAFE 
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'p_alive_numbers_wrapper';



CREATE FUNCTION p_alive(name text, summary rfm) RETURNS float8
    AS 'MODULE_PATHNAME', 'crm_p_alive_rfm' LANGUAGE C STABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION p_alive(text, rfm) IS 'Probability that the customer of a crm.rfm summary still buys (CLV model name)';
CREATE FUNCTION expected_purchases(name text, summary rfm, horizon_days float8) RETURNS float8
    AS 'MODULE_PATHNAME', 'crm_expected_purchases_rfm' LANGUAGE C STABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION expected_purchases(text, rfm, float8) IS 'Expected purchase days of the customer in the next horizon_days (CLV model name)';
CREATE FUNCTION expected_spend(name text, summary rfm) RETURNS float8
    AS 'MODULE_PATHNAME', 'crm_expected_spend_rfm' LANGUAGE C STABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION expected_spend(text, rfm) IS 'Expected amount per future purchase day (Gamma-Gamma; CLV model name)';
CREATE FUNCTION clv(name text, summary rfm, horizon_days float8 DEFAULT 365, annual_discount float8 DEFAULT 0) RETURNS float8
    AS 'MODULE_PATHNAME', 'crm_clv_rfm' LANGUAGE C STABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION clv(text, rfm, float8, float8) IS 'Expected spend of the customer over horizon_days, discounted per 30-day period at annual_discount (CLV model name)';



CREATE FUNCTION value_at_risk(churn_model text, clv_model text, customer_row anyelement, summary rfm,
                              horizon_days float8 DEFAULT 365, annual_discount float8 DEFAULT 0) RETURNS float8
    LANGUAGE sql STABLE PARALLEL SAFE
    AS $$ SELECT crm.score(churn_model, customer_row) OPERATOR(pg_catalog.*) crm.clv(clv_model, summary, horizon_days, annual_discount) $$;
COMMENT ON FUNCTION value_at_risk(text, text, anyelement, rfm, float8, float8) IS
    'P(churn) from the churn classifier times CLV: the value a customer''s churn would lose (who to call first)';

CREATE  FUNCTION "train_clv"(
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
AS 'MODULE_PATHNAME', 'train_clv_wrapper';
