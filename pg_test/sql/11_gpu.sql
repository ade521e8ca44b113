-- crm.device and crm.gpu_info(). These run on machines with and without a GPU: what is
-- printed does not depend on which.
SELECT (crm.gpu_info() ? 'available') AS reports_availability,
       (crm.gpu_info()->>'available')::bool = (crm.gpu_info()->>'reason' IS NULL) AS reason_iff_unavailable,
       crm.gpu_info()->'kernels' AS kernels,
       crm.gpu_info()->'settings' AS settings;
-- (the setting exists once the library is loaded, as for every extension's settings)
SHOW crm.device;
SET crm.device = 'cpu';
CREATE TABLE gpu_accounts AS
SELECT i AS id, (i % 10)::float8 AS calls, (i % 13)::float8 AS tenure, ((i % 10) + (i % 7) > 9) AS churned FROM generate_series(1, 300) i;
SELECT deployed FROM crm.train_classifier('gpu_acct', 'gpu_accounts', 'churned', 'logistic', '{"key": "id"}');
SELECT deployed FROM crm.train_classifier('gpu_gb', 'gpu_accounts', 'churned', 'gradient_boosting', '{"key": "id"}');
SELECT deployed FROM crm.train_regressor('gpu_reg', 'gpu_accounts', 'tenure', 'gradient_boosting', '{"key": "id", "exclude": ["churned"]}');
SELECT count(*) FROM crm.score_batch('gpu_acct', 'gpu_accounts', 'id');
SET crm.device = 'auto';
SELECT count(*) FROM crm.score_batch('gpu_acct', 'gpu_accounts', 'id');
-- An explicit cuda request is served by a GPU that passed its self-test, or is an error
-- (0A000 without a GPU), never a silent CPU run.
SET crm.device = 'cuda';
DO $$
BEGIN
  PERFORM count(*) FROM crm.score_batch('gpu_acct', 'gpu_accounts', 'id');
  RAISE NOTICE 'served: %', (crm.gpu_info()->'self_test'->>'passed')::bool;
EXCEPTION WHEN feature_not_supported THEN
  RAISE NOTICE 'served: %', (crm.gpu_info()->>'available')::bool;
END $$;
SET crm.device = 'tpu';
SET crm.gpu_min_rows = 0;
SET crm.gpu_batch_rows = 0;
RESET crm.device;

-- The whole GPU path but the driver calls, with the CPU reference executor standing in
-- for the device (crm.gpu_emulation, superuser only): the self-test, the move to the
-- device at crm.gpu_min_rows rows, transfers of crm.gpu_batch_rows rows. The scores must
-- be the CPU path's, to the bit.
SET crm.gpu_emulation = 'reference';
SELECT crm.gpu_info()->'self_test'->'passed' AS self_test_passed,
       (SELECT array_agg(k->>'kernel' ORDER BY k->>'kernel') FROM jsonb_array_elements(crm.gpu_info()->'self_test'->'kernels') k) AS kernels_tested,
       crm.gpu_info()->>'executor' AS executor;
SET crm.device = 'cpu';
CREATE TABLE gpu_cpu_scores AS
SELECT m.model, s.key, s.score FROM (VALUES ('gpu_acct'), ('gpu_gb'), ('gpu_reg')) m(model), crm.score_batch(m.model, 'gpu_accounts', 'id') s;
SET crm.gpu_batch_rows = 64;
-- Each model under each setting: rows scored, rows that differ from the CPU path, and
-- rows this backend sent to the device (crm.gpu_info()'s counter, which reports the
-- process it runs in: kept out of parallel workers here).
SET force_parallel_mode = off;
CREATE FUNCTION gpu_compare(device text, min_rows int, model text) RETURNS TABLE (rows bigint, different bigint, on_device bigint)
LANGUAGE plpgsql AS $$
DECLARE
  before bigint := (crm.gpu_info()->'this_backend'->>'rows_on_device')::bigint;
BEGIN
  PERFORM set_config('crm.device', device, true), set_config('crm.gpu_min_rows', min_rows::text, true);
  RETURN QUERY SELECT count(*), count(*) FILTER (WHERE c.score IS DISTINCT FROM s.score), NULL::bigint
    FROM crm.score_batch(model, 'gpu_accounts', 'id') s JOIN gpu_cpu_scores c ON c.model = gpu_compare.model AND c.key = s.key;
  RETURN QUERY SELECT NULL::bigint, NULL::bigint, (crm.gpu_info()->'this_backend'->>'rows_on_device')::bigint - before;
END $$;
SELECT d.device, d.min_rows, m.model, max(r.rows) AS rows, max(r.different) AS different, max(r.on_device) AS on_device
FROM (VALUES ('auto', 50), ('auto', 1000), ('cuda', 1000), ('cpu', 1)) d(device, min_rows)
CROSS JOIN (VALUES ('gpu_acct'), ('gpu_gb'), ('gpu_reg')) m(model)
CROSS JOIN LATERAL gpu_compare(d.device, d.min_rows, m.model) r
GROUP BY 1, 2, 3 ORDER BY 1, 2, 3;
RESET force_parallel_mode;
RESET crm.device;
RESET crm.gpu_min_rows;

-- ALS recommendations for every customer through the emulated device equal the CPU's.
CREATE TABLE gpu_purchases AS
SELECT 'c' || (i % 40) AS customer_id, 'p' || ((i * 7 + i / 40) % 25) AS product_id FROM generate_series(1, 600) i;
SELECT deployed FROM crm.train_recommender('gpu_als', 'gpu_purchases', 'als', '{"factors": 8, "evaluate": false}');
SET crm.device = 'cpu';
CREATE TABLE gpu_cpu_recs AS SELECT * FROM crm.recommend_all('gpu_als', 5);
SET crm.device = 'cuda';
SET crm.gpu_batch_rows = 16;
SELECT count(*) AS lists, count(*) FILTER (WHERE c.item IS DISTINCT FROM g.item OR abs(c.score - g.score) > 1e-6 * abs(c.score)) AS different
FROM gpu_cpu_recs c FULL JOIN crm.recommend_all('gpu_als', 5) g USING (customer, rank);
-- the kernel has no candidate lists, item_knn has no kernel: an error under cuda ...
\set VERBOSITY sqlstate
SELECT count(*) FROM crm.recommend_all('gpu_als', 5, candidates => ARRAY['p1', 'p2']);
\set VERBOSITY default
-- ... the CPU under auto
SET crm.device = 'auto';
SET crm.gpu_min_rows = 1;
SELECT count(*) FROM crm.recommend_all('gpu_als', 5, candidates => ARRAY['p1', 'p2']);

-- crm.segment_batch gives crm.segment's segments and crm.segment_distance's distances, on
-- the CPU and through the emulated device (a row of NULLs: NULL, as crm.segment gives).
SELECT deployed FROM crm.train_segments('gpu_seg', 'SELECT id, calls, tenure FROM gpu_accounts', 3, '{"key": "id"}');
CREATE TABLE gpu_seg_rows AS SELECT id, calls, tenure FROM gpu_accounts UNION ALL SELECT 0, NULL, NULL;
CREATE FUNCTION gpu_segments(device text) RETURNS TABLE (rows bigint, segmented bigint, different bigint, on_device bigint)
LANGUAGE plpgsql AS $$
DECLARE
  before bigint := (crm.gpu_info()->'this_backend'->>'rows_on_device')::bigint;
BEGIN
  PERFORM set_config('crm.device', device, true), set_config('force_parallel_mode', 'off', true);
  RETURN QUERY SELECT count(*), count(b.segment),
      count(*) FILTER (WHERE b.segment IS DISTINCT FROM crm.segment('gpu_seg', r) OR b.distance IS DISTINCT FROM crm.segment_distance('gpu_seg', r)),
      NULL::bigint
    FROM crm.segment_batch('gpu_seg', 'gpu_seg_rows', 'id') b JOIN gpu_seg_rows r ON r.id::text = b.key;
  RETURN QUERY SELECT NULL::bigint, NULL::bigint, NULL::bigint, (crm.gpu_info()->'this_backend'->>'rows_on_device')::bigint - before;
END $$;
SELECT d.device, max(g.rows) AS rows, max(g.segmented) AS segmented, max(g.different) AS different, max(g.on_device) AS on_device
FROM (VALUES ('cpu'), ('cuda')) d(device) CROSS JOIN LATERAL gpu_segments(d.device) g GROUP BY 1 ORDER BY 1;
\set VERBOSITY terse
SELECT count(*) FROM crm.segment_batch('gpu_seg', 'gpu_seg_rows', 'no_such_column');
SELECT count(*) FROM crm.segment_batch('no_such_model', 'gpu_seg_rows', 'id');
\set VERBOSITY default
RESET crm.device;
RESET crm.gpu_batch_rows;

-- A device that fails its self-test (one kernel made wrong): auto warns once per backend
-- and scores on the CPU; cuda is an error (58000) naming the kernel and the difference.
SET crm.gpu_emulation = 'faulty';
SET crm.gpu_min_rows = 1;
SELECT crm.gpu_info()->'self_test'->'passed' AS self_test_passed,
       (SELECT k->>'kernel' FROM jsonb_array_elements(crm.gpu_info()->'self_test'->'kernels') k WHERE NOT (k->>'passed')::bool) AS failed_kernel;
\set VERBOSITY terse
SELECT count(*) FILTER (WHERE c.score IS DISTINCT FROM s.score) AS different
FROM crm.score_batch('gpu_gb', 'gpu_accounts', 'id') s JOIN gpu_cpu_scores c ON c.model = 'gpu_gb' AND c.key = s.key;
SELECT count(*) FROM crm.score_batch('gpu_gb', 'gpu_accounts', 'id');
\set VERBOSITY default
SET crm.device = 'cuda';
DO $$
BEGIN
  PERFORM count(*) FROM crm.score_batch('gpu_gb', 'gpu_accounts', 'id');
EXCEPTION WHEN system_error THEN
  RAISE NOTICE '58000, names the kernel: %, gives the difference: %', SQLERRM LIKE '%kernel crm_tree_score: row %', SQLERRM LIKE '%relative difference 1.0e-3%';
END $$;
RESET crm.device;
RESET crm.gpu_min_rows;
RESET crm.gpu_emulation;
-- the emulation is for superusers (tests) only
CREATE ROLE gpu_tester;
SET ROLE gpu_tester;
SET crm.gpu_emulation = 'reference';
RESET ROLE;
DROP ROLE gpu_tester;
