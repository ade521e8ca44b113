-- Recommendations: crm.train_recommender / recommend / recommend_all / similar_items on a
-- small synthetic shop: 300 customers in 3 taste groups, each buying items of its group
-- (a0..a9, b0..b9, c0..c9) and some of everyone's favourite 'hit'.
CREATE TABLE purchases AS
SELECT 'cust' || c AS customer_id,
       CASE WHEN (c * 7 + n) % 5 = 0 THEN 'hit' ELSE (ARRAY['a', 'b', 'c'])[1 + c % 3] || ((c * 3 + n * 7) % 10) END AS product_id,
       timestamptz '2026-01-01' + (c * 13 + n * 29) % 300 * interval '1 day' AS ordered_at,
       1 + (c + n) % 3 AS quantity
FROM generate_series(1, 300) c, generate_series(1, 8) n;
-- Rows the reader must skip: NULL customer or item.
INSERT INTO purchases VALUES (NULL, 'a1', now(), 1), ('cust1', NULL, now(), 1);
-- auto: every candidate evaluated on the last 20% of each customer's purchases by time.
SELECT name, version, algorithm IN ('item_knn', 'als') AS personalised, deployed,
       metrics->'interactions' AS interactions, metrics->'rows_skipped' AS rows_skipped,
       metrics->'customers' AS customers, metrics->'items' AS items, metrics->'columns' AS columns,
       metrics->>'holdout' AS holdout, jsonb_array_length(metrics->'candidates') AS candidates,
       (metrics->>'ndcg_at_10')::float8 > (SELECT (c->>'ndcg_at_10')::float8 FROM jsonb_array_elements(metrics->'candidates') c WHERE c->>'candidate' = 'popular') AS beats_popular
FROM crm.train_recommender('shop', 'purchases');
-- A customer of group a gets unseen items of group a.
SELECT count(*) AS recommended, bool_and(item LIKE 'a%') AS all_from_own_group, min(rank), max(rank),
       bool_and(item NOT IN (SELECT product_id FROM purchases WHERE customer_id = 'cust3')) AS all_unseen
FROM crm.recommend('shop', 'cust3', 3);
-- Seen items come back when asked; exclude and candidates filter.
SELECT count(*) > 0 AS some_seen FROM crm.recommend('shop', 'cust3', 10, exclude_seen => false)
WHERE item IN (SELECT product_id FROM purchases WHERE customer_id = 'cust3');
SELECT count(*) AS excluded_present FROM crm.recommend('shop', 'cust3', 10, exclude => ARRAY['a1', 'a2']) WHERE item IN ('a1', 'a2');
SELECT array_agg(item ORDER BY rank) <@ ARRAY['b1', 'b2', 'c3', 'hit', 'nope'] AS only_candidates
FROM crm.recommend('shop', 'cust3', 5, exclude_seen => false, candidates => ARRAY['b1', 'b2', 'c3', 'hit', 'nope']);
-- Unknown and NULL customers get the popular items (hit first).
SELECT item, score, rank FROM crm.recommend('shop', 'stranger', 3) ORDER BY rank;
SELECT item, rank FROM crm.recommend('shop', NULL, 1);
-- Everyone at once: k rows per customer, ranks 1..k.
SELECT count(*) AS rows, count(DISTINCT customer) AS customers, max(rank) AS max_rank FROM crm.recommend_all('shop', 4);
SELECT customer, count(*) FROM crm.recommend_all('shop', 2, customers => ARRAY['cust1', 'stranger']) GROUP BY 1 ORDER BY 1;
-- Similar items stay in their group; an unknown item has none.
SELECT count(*) AS similar, bool_and(item LIKE 'b%' OR item = 'hit') AS same_group FROM crm.similar_items('shop', 'b4', 5);
SELECT count(*) AS for_unknown_item FROM crm.similar_items('shop', 'zzz');
-- Explicit algorithms; a weight column; popular is the plain count of customers.
SELECT algorithm, metrics->'columns'->>'weight' AS weight FROM crm.train_recommender('shop_pop', 'SELECT customer_id, product_id, quantity AS weight FROM purchases', 'popular');
SELECT item, score FROM crm.recommend('shop_pop', 'cust1', 2, exclude_seen => false);
SELECT count(DISTINCT customer_id) AS customers_with_hit FROM purchases WHERE product_id = 'hit';
SELECT algorithm FROM crm.train_recommender('shop_knn', 'purchases', 'item_knn', '{"similarity": "bm25", "neighbours": 20, "evaluate": false}');
SELECT algorithm FROM crm.train_recommender('shop_als', 'purchases', 'als', '{"factors": 8, "iterations": 10, "customer": "customer_id", "item": "product_id"}');
SELECT count(*) AS als_list FROM crm.recommend('shop_als', 'cust2', 5);
SELECT name, kind, algorithm, ndcg_at_10 > 0 AS evaluated, deployed FROM crm.model_summary WHERE kind = 'recommender' ORDER BY name;
-- Bad input: clear errors.
\set VERBOSITY sqlstate
SELECT * FROM crm.recommend('shop', 'cust1', 0);
SELECT * FROM crm.train_recommender('bad', 'purchases', 'svd');
SELECT * FROM crm.train_recommender('bad', 'SELECT 1 AS x');
SELECT * FROM crm.recommend('no_such_model', 'cust1');
\set VERBOSITY default
SELECT * FROM crm.recommend('shop', 'cust1', 100000);
SELECT * FROM crm.train_recommender('bad', 'purchases', 'als', '{"factors": 0}');
SELECT * FROM crm.train_recommender('bad', 'purchases', 'auto', '{"epochs": 3}');
SELECT * FROM crm.train_recommender('bad', 'SELECT customer_id, product_id FROM purchases WHERE false');
SELECT * FROM crm.train_recommender('bad', 'purchases', 'auto', '{"item": "nope"}');
SELECT * FROM crm.train_recommender('bad', 'purchases', 'auto', '{"weight": "product_id"}');
SELECT * FROM crm.recommend('shop_knn', 'cust1') LIMIT 0;
SELECT count(*) FROM crm.models WHERE name = 'bad';
-- NULL where a value is required: an error naming the argument.
SELECT * FROM crm.recommend(NULL, 'cust1');
SELECT * FROM crm.recommend('shop', 'cust1', NULL);
SELECT * FROM crm.recommend_all('shop', 10, NULL);
SELECT * FROM crm.train_segments('s', NULL);
SELECT * FROM crm.deploy(NULL, 1);
