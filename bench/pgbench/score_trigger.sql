-- pg_crm soak: a pgbench custom script of writes under crm.score_trigger.
-- Run by scripts/soak (which creates soak_customers, trains the model `soak` and puts
-- the trigger on the table); needs -D rows=N, the number of rows loaded before the run.
-- Every statement is its own transaction: an UPDATE of a random customer (the trigger
-- rescores the row and rewrites its reasons), an INSERT of a new customer (scored on
-- insert), and an upsert of a random existing id (BEFORE INSERT, then the conflict's
-- UPDATE: both trigger paths in one statement).
\set id random(1, :rows)
\set id2 random(1, :rows)
\set calls random(0, 9)
\set tenure random(0, 59)
\set plan random(1, 3)
UPDATE soak_customers SET support_calls = :calls, tenure_months = :tenure WHERE customer_id = :id;
INSERT INTO soak_customers (support_calls, tenure_months, plan) VALUES (:calls, :tenure, (ARRAY['basic', 'plus', 'pro'])[:plan]);
INSERT INTO soak_customers (customer_id, support_calls, tenure_months, plan) VALUES (:id2, :calls, :tenure, (ARRAY['basic', 'plus', 'pro'])[:plan])
    ON CONFLICT (customer_id) DO UPDATE SET plan = EXCLUDED.plan, tenure_months = soak_customers.tenure_months + 1;
