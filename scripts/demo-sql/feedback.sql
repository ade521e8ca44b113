\set ON_ERROR_STOP on
SET client_min_messages = warning;
\pset footer off
-- Customer feedback: support tickets written by the demo's customers (in English, some in
-- Chinese), classified by topic with a trained text classifier, explained, counted, and
-- scored for sentiment; key terms per topic; a trigger labels new tickets as they arrive.
\echo
\echo '--- Support tickets: one or two per customer, each a phrase of its topic with words of other topics mixed in'
DROP TABLE IF EXISTS tickets;
CREATE TABLE tickets AS
WITH phrases(topic, phrase) AS (VALUES
  ('billing', 'I was charged twice for my order'), ('billing', 'please refund the double payment'),
  ('billing', 'the invoice total is wrong'), ('billing', 'my card was billed after I cancelled'),
  ('billing', 'why is the price higher than the offer'), ('billing', 'I want my money back'),
  ('billing', 'the discount code was not applied to my bill'), ('billing', 'you took the payment two times'),
  ('billing', '账单金额不对，请退款'), ('billing', '被重复扣款了'),
  ('delivery', 'my parcel has not arrived'), ('delivery', 'the courier left the box at the wrong address'),
  ('delivery', 'delivery is a week late'), ('delivery', 'tracking says delivered but nothing came'),
  ('delivery', 'the package arrived damaged'), ('delivery', 'the courier never showed up'),
  ('delivery', 'my order is stuck in transit'), ('delivery', 'still waiting for the shipment'),
  ('delivery', '快递一直没有送到'), ('delivery', '包裹送错了地址'),
  ('account', 'I cannot log in to my account'), ('account', 'the password reset email never arrives'),
  ('account', 'the app keeps signing me out'), ('account', 'please update my email address'),
  ('account', 'two factor code is rejected'), ('account', 'I cannot sign in since the update'),
  ('account', 'my account is locked'), ('account', 'how do I change my password'),
  ('account', '账户无法登录'), ('account', '密码重置邮件收不到'),
  ('product', 'the shoes fell apart after a week'), ('product', 'the size runs small'),
  ('product', 'colour is different from the photo'), ('product', 'the zip broke on the first day'),
  ('product', 'quality is poor for the price'), ('product', 'the jacket tore after one wash'),
  ('product', 'the seams are coming loose'), ('product', 'the fabric feels cheap'),
  ('product', '质量太差了'), ('product', '尺码偏小'),
  ('praise', 'great service, thank you so much'), ('praise', 'love the new collection'),
  ('praise', 'fast delivery and friendly support'), ('praise', 'the best shop I know, will buy again'),
  ('praise', 'excellent quality, very happy'), ('praise', 'wonderful staff, thanks'),
  ('praise', 'I am delighted with my order'), ('praise', 'amazing experience as always'),
  ('praise', '服务很好，谢谢'), ('praise', '非常满意')),
numbered AS (SELECT row_number() OVER (ORDER BY topic, phrase) - 1 AS i, topic, phrase FROM phrases),
asks AS (
  -- churned customers (churn.sql's label) complain about billing and delivery more
  -- (sorted by topic: account 0-9, billing 10-19, delivery 20-29, praise 30-39, product 40-49)
  SELECT f.customer_id, k, f.churned,
         CASE WHEN f.churned AND random() < 0.3 THEN 10 + floor(random() * 20)::int ELSE floor(random() * 50)::int END AS pick,
         random() AS mix, floor(random() * 50)::int AS other, floor(random() * 5)::int AS opening, floor(random() * 4)::int AS closing
  FROM churn_features f CROSS JOIN LATERAL generate_series(1, 1 + (abs(hashtext(f.customer_id::text)) % 2)) k
)
SELECT row_number() OVER (ORDER BY a.customer_id, a.k) AS ticket_id, a.customer_id, a.churned,
       -- one ticket in ten also mentions another topic's phrase: labels are what it is mostly about
       concat_ws(' ', (ARRAY['Hi,', 'Hello team,', 'Urgent:', '', ''])[1 + a.opening], p.phrase,
                 CASE WHEN a.mix < 0.1 THEN o.phrase END, (ARRAY['Thanks.', 'Please help!', '', 'This is the second time.'])[1 + a.closing]) AS body,
       p.topic
FROM asks a JOIN numbered p ON p.i = a.pick JOIN numbered o ON o.i = a.other;
SELECT topic, count(*) AS tickets, min(body) AS example FROM tickets GROUP BY topic ORDER BY topic;

\echo '--- crm.train_text_classifier: words, word pairs and character n-grams, TF-IDF, softmax regression; metrics on a 20% holdout'
SELECT name, version, algorithm, deployed, round((metrics->>'accuracy')::numeric, 3) AS accuracy,
       round((metrics->>'macro_f1')::numeric, 3) AS macro_f1, metrics->'training_rows' AS rows, metrics->'vocabulary' AS terms,
       round((metrics->>'train_seconds')::numeric, 2) AS seconds
FROM crm.train_text_classifier('ticket_topics', 'SELECT body, topic FROM tickets', 'body', 'topic');
SELECT c->>'label' AS topic, round((c->>'precision')::numeric, 3) AS precision, round((c->>'recall')::numeric, 3) AS recall,
       round((c->>'f1')::numeric, 3) AS f1, c->'support' AS holdout_tickets
FROM crm.models m JOIN crm.deployments d ON d.model_id = m.id, jsonb_array_elements(m.metrics->'classes') c WHERE m.name = 'ticket_topics';

\echo '--- New tickets, labelled in SQL: crm.classify_text and crm.classify_text_scores'
SELECT body, crm.classify_text('ticket_topics', body) AS topic,
       (SELECT round(max(probability)::numeric, 3) FROM crm.classify_text_scores('ticket_topics', body)) AS probability
FROM (VALUES ('they charged my card twice, I want a refund'), ('the courier lost my package'),
             ('locked out, the password reset does not work'), ('the shoes tore after a week'),
             ('快递还没送到'), ('thank you, great staff!')) AS t(body);
\echo '--- Why: crm.explain_text (each term''s weight x tf-idf towards the label)'
SELECT term, label, round(contribution::numeric, 3) AS contribution
FROM crm.explain_text('ticket_topics', 'they charged my card twice, I want a refund', 5);
\echo '--- The most indicative terms of each topic: crm.text_terms'
SELECT label, string_agg(term, ', ' ORDER BY weight DESC) AS terms FROM crm.text_terms('ticket_topics', 5) GROUP BY label ORDER BY label;

\echo '--- What sets churned customers'' tickets apart: crm.key_terms (weighted log-odds, informative Dirichlet prior)'
SELECT grp AS churned, string_agg(term || ' (' || round(score::numeric, 1) || ')', ', ' ORDER BY score DESC) AS distinctive_terms
FROM crm.key_terms('SELECT body, churned FROM tickets', 'body', 'churned', '{"top": 6}')
GROUP BY grp ORDER BY grp;

\echo '--- Sentiment without a model (crm.sentiment, VADER''s lexicon and rules) by topic'
SELECT topic, round(avg(crm.sentiment(body))::numeric, 3) AS mean_sentiment, count(*) FILTER (WHERE crm.sentiment(body) < -0.05) AS negative
FROM tickets GROUP BY topic ORDER BY mean_sentiment;

\echo '--- A trigger labels new tickets as they are written: crm.classify_text_trigger(model, text column, label column)'
DROP TABLE IF EXISTS inbox;
CREATE TABLE inbox (ticket_id serial, body text, topic text);
CREATE TRIGGER inbox_topic BEFORE INSERT OR UPDATE OF body ON inbox
  FOR EACH ROW EXECUTE FUNCTION crm.classify_text_trigger('ticket_topics', 'body', 'topic');
INSERT INTO inbox (body) VALUES ('refund please, charged twice'), ('my order is lost in transit'), ('love it, thank you!');
SELECT * FROM inbox ORDER BY ticket_id;
