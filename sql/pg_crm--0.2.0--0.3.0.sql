-- pg_crm 0.2.0 -> 0.3.0 (ALTER EXTENSION pg_crm UPDATE). Models, deployments and every
-- stored byte are kept as they are: the model format is unchanged. Models trained by 0.2.0
-- evaluate and explain their importance on a source; drift and stored holdout importances
-- need the training profiles that 0.3.0 stores with new models (retrain to get them).
\echo Use "ALTER EXTENSION pg_crm UPDATE TO '0.3.0'" to load this file. \quit

-- New: model lifecycle (evaluate on new labelled rows, feature importance, drift).
CREATE FUNCTION evaluate(
	"name" TEXT,
	"source" TEXT,
	"version" INT DEFAULT NULL
) RETURNS jsonb
STABLE PARALLEL RESTRICTED
LANGUAGE c
AS 'MODULE_PATHNAME', 'evaluate_wrapper';

CREATE FUNCTION feature_importance(
	"name" TEXT,
	"source" TEXT DEFAULT NULL,
	"method" TEXT DEFAULT 'contribution'
) RETURNS TABLE (
	"feature" TEXT,
	"importance" double precision,
	"share" double precision,
	"direction" TEXT,
	"method" TEXT,
	"rows" bigint
)
STABLE PARALLEL RESTRICTED
LANGUAGE c
AS 'MODULE_PATHNAME', 'feature_importance_wrapper';

CREATE FUNCTION drift(
	"name" TEXT,
	"source" TEXT
) RETURNS TABLE (
	"feature" TEXT,
	"psi" double precision,
	"flagged" bool,
	"status" TEXT,
	"null_share_training" double precision,
	"null_share_now" double precision,
	"mean_training" double precision,
	"mean_now" double precision,
	"rows" bigint,
	"bins" jsonb
)
STABLE PARALLEL RESTRICTED
LANGUAGE c
AS 'MODULE_PATHNAME', 'drift_wrapper';

-- New: regressors (purchase prediction: next-period spend, order value).
ALTER TABLE models DROP CONSTRAINT models_kind_check,
    ADD CONSTRAINT models_kind_check CHECK (kind IN ('classifier', 'segments', 'recommender', 'clv', 'regressor'));

CREATE FUNCTION train_regressor(
	"name" TEXT,
	"source" TEXT,
	"target" TEXT,
	"algorithm" TEXT DEFAULT 'auto',
	"options" jsonb DEFAULT '{}'
) RETURNS TABLE (
	"id" bigint,
	"name" TEXT,
	"version" INT,
	"algorithm" TEXT,
	"deployed" bool,
	"metrics" jsonb
)
VOLATILE PARALLEL UNSAFE
LANGUAGE c
AS 'MODULE_PATHNAME', 'train_regressor_wrapper';

CREATE FUNCTION predict(name text, "row" anyelement) RETURNS float8
    AS 'MODULE_PATHNAME', 'crm_predict' LANGUAGE C STABLE STRICT PARALLEL SAFE
    SUPPORT row_columns_support;
COMMENT ON FUNCTION predict(text, anyelement) IS 'The deployed model''s output for a row: a regressor''s prediction, a classifier''s probability';
CREATE FUNCTION predict_columns(name text, column_names text[], VARIADIC "columns" "any") RETURNS float8
    AS 'MODULE_PATHNAME', 'crm_predict_columns' LANGUAGE C STABLE PARALLEL SAFE;
COMMENT ON FUNCTION predict_columns(text, text[], "any") IS 'crm.predict with the row given as its columns: what the planner makes of crm.predict(name, t) for a table row t';

-- model_summary gains the regression metrics (new columns last, as CREATE OR REPLACE VIEW needs).
CREATE OR REPLACE VIEW model_summary AS
SELECT m.id, m.name, m.version, m.kind, m.algorithm, m.target,
       (m.metrics ->> 'roc_auc')::float8   AS roc_auc,
       (m.metrics ->> 'pr_auc')::float8    AS pr_auc,
       (m.metrics ->> 'log_loss')::float8  AS log_loss,
       (m.metrics ->> 'f1')::float8        AS f1,
       (m.metrics ->> 'accuracy')::float8  AS accuracy,
       (m.metrics ->> 'silhouette')::float8 AS silhouette,
       (m.metrics ->> 'ndcg_at_10')::float8 AS ndcg_at_10,
       m.training_rows, m.holdout_rows,
       (d.model_id IS NOT NULL)           AS deployed,
       d.deployed_at,
       m.created_at, m.created_by,
       octet_length(m.model)              AS model_bytes,
       (m.metrics ->> 'rmse')::float8     AS rmse,
       (m.metrics ->> 'mae')::float8      AS mae,
       (m.metrics ->> 'r2')::float8       AS r2
FROM models m
LEFT JOIN deployments d ON d.model_id = m.id;
