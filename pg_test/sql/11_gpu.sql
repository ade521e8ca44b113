-- crm.device and crm.gpu_info(). These run on machines with and without a GPU: what is
-- printed does not depend on which (the GPU kernels are not in this build).
SELECT (crm.gpu_info() ? 'available') AS reports_availability,
       (crm.gpu_info()->>'available')::bool = (crm.gpu_info()->>'reason' IS NULL) AS reason_iff_unavailable,
       crm.gpu_info()->'kernels' AS kernels;
-- (the setting exists once the library is loaded, as for every extension's settings)
SHOW crm.device;
SET crm.device = 'cpu';
CREATE TABLE gpu_accounts AS
SELECT i AS id, (i % 10)::float8 AS calls, ((i % 10) + (i % 7) > 9) AS churned FROM generate_series(1, 300) i;
SELECT deployed FROM crm.train_classifier('gpu_acct', 'gpu_accounts', 'churned', 'logistic', '{"key": "id"}');
SELECT count(*) FROM crm.score_batch('gpu_acct', 'gpu_accounts', 'id');
SET crm.device = 'auto';
SELECT count(*) FROM crm.score_batch('gpu_acct', 'gpu_accounts', 'id');
-- An explicit cuda request that cannot be served is an error, never a silent CPU run.
SET crm.device = 'cuda';
\set VERBOSITY sqlstate
SELECT count(*) FROM crm.score_batch('gpu_acct', 'gpu_accounts', 'id');
\set VERBOSITY default
SET crm.device = 'tpu';
RESET crm.device;
