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
