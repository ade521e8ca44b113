-- pg_crm 0.5.0 -> 0.6.0 (ALTER EXTENSION pg_crm UPDATE). Models, deployments and every
-- stored byte are kept as they are: the model format is unchanged. New: feedback text
-- analytics (crm.train_text_classifier, crm.classify_text, crm.classify_text_scores,
-- crm.explain_text, crm.text_terms, crm.classify_text_trigger, crm.key_terms,
-- crm.sentiment) and the registry's new kind, text_classifier.
\echo Use "ALTER EXTENSION pg_crm UPDATE TO '0.6.0'" to load this file. \quit

ALTER TABLE models DROP CONSTRAINT models_kind_check,
    ADD CONSTRAINT models_kind_check CHECK (kind IN ('classifier', 'segments', 'recommender', 'clv', 'regressor', 'text_classifier'));

-- src/text/sql.rs:189
-- pg_crm::text::sql::classify_text
CREATE  FUNCTION "classify_text"(
	"name" TEXT, /* & str */
	"text" TEXT /* & str */
) RETURNS TEXT /* Option < String > */
STRICT STABLE PARALLEL SAFE
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'classify_text_wrapper';

-- src/text/sql.rs:326
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

-- src/text/sql.rs:201
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

-- src/text/sql.rs:218
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

-- src/text/sql.rs:259
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

-- src/text/sql.rs:321
-- pg_crm::text::sql::sentiment
CREATE  FUNCTION "sentiment"(
	"text" TEXT /* & str */
) RETURNS double precision /* f64 */
IMMUTABLE STRICT PARALLEL SAFE
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'sentiment_wrapper';

-- src/text/sql.rs:239
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
