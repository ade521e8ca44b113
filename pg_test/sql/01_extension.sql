-- The extension installs into schema crm and everything it creates lives there.
CREATE EXTENSION pg_crm;
SELECT extname, extversion IS NOT NULL AS has_version, n.nspname AS schema
FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace
WHERE extname = 'pg_crm';
-- Objects outside schema crm (none expected)
SELECT p.proname FROM pg_proc p JOIN pg_depend d ON d.objid = p.oid AND d.deptype = 'e'
JOIN pg_extension e ON e.oid = d.refobjid AND e.extname = 'pg_crm'
WHERE p.pronamespace <> 'crm'::regnamespace;
-- The contract's data-preparation functions: IMMUTABLE, STRICT, PARALLEL SAFE
SELECT p.proname, pg_get_function_identity_arguments(p.oid) AS args,
       p.provolatile AS volatility, p.proisstrict AS strict, p.proparallel AS parallel
FROM pg_proc p
WHERE p.pronamespace = 'crm'::regnamespace
  AND p.proname IN ('clean_email','clean_phone','clean_name','clean_text','parse_date','similarity','phonetic_key','scale','unscale')
ORDER BY 1, 2;
-- Aggregates are parallel safe with combine, serial and deserial functions
SELECT a.aggfnoid::regprocedure AS aggregate, a.aggcombinefn <> 0 AS combine,
       a.aggserialfn <> 0 AS serial, a.aggdeserialfn <> 0 AS deserial, p.proparallel AS parallel
FROM pg_aggregate a JOIN pg_proc p ON p.oid = a.aggfnoid
WHERE p.pronamespace = 'crm'::regnamespace ORDER BY a.aggfnoid::regprocedure::text COLLATE "C";
