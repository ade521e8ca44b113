-- pg_crm 0.4.0 -> 0.5.0 (ALTER EXTENSION pg_crm UPDATE). Models, deployments and every
-- stored byte are kept as they are: the model format is unchanged. New: postcodes and postal
-- addresses (crm.clean_postcode, crm.parse_address, crm.normalize_address, crm.address_key)
-- and golden records (crm.golden_records).
\echo Use "ALTER EXTENSION pg_crm UPDATE TO '0.5.0'" to load this file. \quit

-- pg_crm::clean::sql::address_key
CREATE  FUNCTION "address_key"(
	"raw" TEXT, /* Option < & str > */
	"country" TEXT DEFAULT NULL /* Option < & str > */
) RETURNS TEXT /* Option < String > */
IMMUTABLE PARALLEL SAFE
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'address_key_wrapper';

-- pg_crm::clean::sql::clean_postcode
CREATE  FUNCTION "clean_postcode"(
	"raw" TEXT, /* & str */
	"country" TEXT /* & str */
) RETURNS TEXT /* Option < String > */
IMMUTABLE STRICT PARALLEL SAFE
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'clean_postcode_wrapper';

-- pg_crm::unify::sql::golden_records
CREATE  FUNCTION "golden_records"(
	"source" TEXT, /* Option < & str > */
	"id" TEXT, /* Option < & str > */
	"clusters" TEXT, /* Option < & str > */
	"rules" jsonb DEFAULT '{}' /* Option < JsonOptions > */
) RETURNS TABLE (
	"cluster_id" TEXT,  /* String */
	"record" jsonb,  /* pgrx :: JsonB */
	"lineage" jsonb,  /* pgrx :: JsonB */
	"records" bigint  /* i64 */
)
VOLATILE PARALLEL RESTRICTED
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'golden_records_wrapper';

-- pg_crm::clean::sql::normalize_address
CREATE  FUNCTION "normalize_address"(
	"raw" TEXT, /* Option < & str > */
	"country" TEXT DEFAULT NULL /* Option < & str > */
) RETURNS TEXT /* Option < String > */
IMMUTABLE PARALLEL SAFE
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'normalize_address_wrapper';

-- pg_crm::clean::sql::parse_address
CREATE  FUNCTION "parse_address"(
	"raw" TEXT, /* Option < & str > */
	"country" TEXT DEFAULT NULL /* Option < & str > */
) RETURNS jsonb /* Option < pgrx :: JsonB > */
IMMUTABLE PARALLEL SAFE
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'parse_address_wrapper';

