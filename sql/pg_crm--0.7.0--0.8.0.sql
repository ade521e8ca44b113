-- pg_crm 0.7.0 -> 0.8.0 (ALTER EXTENSION pg_crm UPDATE). Models, deployments and every
-- stored byte are kept as they are. New: crm.segment_batch (a segmentation over a whole
-- table, on a GPU when crm.device says so).
\echo Use "ALTER EXTENSION pg_crm UPDATE TO '0.8.0'" to load this file. \quit

-- src/segment/sql.rs:207
-- pg_crm::segment::sql::segment_batch
CREATE  FUNCTION "segment_batch"(
	"name" TEXT, /* & str */
	"source" TEXT, /* & str */
	"key" TEXT /* & str */
) RETURNS TABLE (
	"key" TEXT,  /* Option < String > */
	"segment" INT,  /* Option < i32 > */
	"distance" double precision  /* Option < f64 > */
)
STRICT STABLE PARALLEL RESTRICTED
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'segment_batch_wrapper';
