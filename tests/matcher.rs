//! Client integration tests of the stored matcher: keys assigned one row at a time through
//! the trigger agree with the batch (FEBRL dataset 3: 90 % trained, 10 % inserted), and two
//! sessions inserting the same new person at once get one key.

mod common;

use std::collections::{HashMap, HashSet};

use common::{connect, fresh_database};

const FIELDS: &str = "given_name text, surname text, street_number text, address_1 text, address_2 text, suburb text, postcode text, state text, date_of_birth text, soc_sec_id text";

#[test]
fn keys_assigned_at_insert_agree_with_the_batch_and_change_only_by_logged_merges() {
    let Some(path) = common::shared_dataset("febrl/dataset3.csv") else { return };
    let Some(url) = fresh_database("it_matcher_febrl") else { return };
    let mut c = connect(&url);
    c.batch_execute(&format!("CREATE TABLE people (rec_id text PRIMARY KEY, {FIELDS}, customer_key text)")).unwrap();
    c.batch_execute(&format!("CREATE TABLE arriving (rec_id text, {FIELDS})")).unwrap();
    let text = std::fs::read_to_string(&path).unwrap().replace(", ", ",");
    let mut writer = c.copy_in("COPY arriving FROM STDIN WITH (FORMAT csv, HEADER true)").unwrap();
    std::io::Write::write_all(&mut writer, text.as_bytes()).unwrap();
    writer.finish().unwrap();
    // 90 % known and matched in batch, keys written to the table; the trigger takes over.
    c.batch_execute(
        "INSERT INTO people SELECT *, NULL FROM arriving WHERE abs(hashtext(rec_id)) % 10 <> 0;
         SELECT * FROM crm.train_matcher('people', 'people', 'rec_id', '{\"exclude\": [\"customer_key\"]}');
         UPDATE people p SET customer_key = k.cluster_key FROM crm.matcher_keys('people') k WHERE k.id = p.rec_id;
         CREATE TRIGGER people_key BEFORE INSERT OR UPDATE OR DELETE ON people FOR EACH ROW EXECUTE FUNCTION crm.match_trigger('people', 'customer_key');",
    )
    .unwrap();
    let keys_before: HashMap<String, String> =
        c.query("SELECT rec_id, customer_key FROM people", &[]).unwrap().into_iter().map(|r| (r.get(0), r.get(1))).collect();
    // The other 10 %, one row per statement, as sign-ups arrive.
    let arriving: Vec<String> =
        c.query("SELECT rec_id FROM arriving WHERE abs(hashtext(rec_id)) % 10 = 0 ORDER BY rec_id", &[]).unwrap().into_iter().map(|r| r.get(0)).collect();
    assert!(arriving.len() > 400, "{} arriving records", arriving.len());
    let insert = c.prepare("INSERT INTO people SELECT *, NULL FROM arriving WHERE rec_id = $1").unwrap();
    for id in &arriving {
        c.execute(&insert, &[id]).unwrap();
    }
    let incremental: Vec<(String, String)> =
        c.query("SELECT rec_id, customer_key FROM people", &[]).unwrap().into_iter().map(|r| (r.get(0), r.get(1))).collect();
    assert_eq!(incremental.len(), 5000);
    assert!(incremental.iter().all(|(_, k)| !k.is_empty()), "every row has a key");
    // The key store agrees with the table.
    let stored: HashMap<String, String> =
        c.query("SELECT id, cluster_key FROM crm.matcher_keys('people')", &[]).unwrap().into_iter().map(|r| (r.get(0), r.get(1))).collect();
    assert!(incremental.iter().all(|(r, k)| stored.get(r) == Some(k)), "key store and table disagree");
    // Against the batch over all 5,000 records with the same matcher's options.
    let batch: Vec<(String, String)> = c
        .query("SELECT id, cluster_id FROM crm.dedupe('SELECT rec_id, given_name, surname, street_number, address_1, address_2, suburb, postcode, state, date_of_birth, soc_sec_id FROM people', 'rec_id')", &[])
        .unwrap()
        .into_iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    let as_pairs = |rows: &[(String, String)]| common::cluster_pairs(rows.iter().map(|(r, k)| (r.as_str(), k.as_str())));
    let (inc_pairs, batch_pairs) = (as_pairs(&incremental), as_pairs(&batch));
    let (p, r, f1) = common::pairwise_scores(&inc_pairs, &batch_pairs);
    eprintln!("incremental vs batch: {} vs {} pairs, precision {p:.4} recall {r:.4} F1 {f1:.4}", inc_pairs.len(), batch_pairs.len());
    assert!(f1 >= 0.99, "pairwise F1 between trigger-assigned keys and the batch: {f1}");
    // No key of an old record changed without a logged merge.
    let merged: HashSet<String> = c.query("SELECT old_key FROM crm.match_log WHERE matcher = 'people'", &[]).unwrap().into_iter().map(|r| r.get(0)).collect();
    let now: HashMap<&str, &str> = incremental.iter().map(|(r, k)| (r.as_str(), k.as_str())).collect();
    for (record, old_key) in &keys_before {
        if now[record.as_str()] != old_key {
            assert!(merged.contains(old_key), "record {record}: key {old_key} became {} with no merge logged", now[record.as_str()]);
        }
    }
}

#[test]
fn two_sessions_inserting_one_new_person_get_one_key() {
    let Some(url) = fresh_database("it_matcher_race") else { return };
    let mut setup = connect(&url);
    setup
        .batch_execute(
            "CREATE TABLE people (id int PRIMARY KEY, name text, email text, phone text, customer_key text);
             INSERT INTO people SELECT i, 'person ' || i, 'p' || i || '@example.org', '+4930' || (100000 + i), NULL FROM generate_series(1, 300) i;
             INSERT INTO people SELECT 1000 + i, 'person ' || i, 'p' || i || '@example.org', NULL, NULL FROM generate_series(1, 300, 3) i;
             SELECT * FROM crm.train_matcher('people', 'people', 'id', '{\"exclude\": [\"customer_key\"]}');
             CREATE TRIGGER people_key BEFORE INSERT OR UPDATE OR DELETE ON people FOR EACH ROW EXECUTE FUNCTION crm.match_trigger('people', 'customer_key');",
        )
        .unwrap();
    for round in 0..5 {
        let (mut a, mut b) = (connect(&url), connect(&url));
        a.batch_execute("BEGIN").unwrap();
        b.batch_execute("BEGIN").unwrap();
        let (ida, idb) = (5000 + 2 * round, 5001 + 2 * round);
        let (name, email) = (format!("newcomer {round}"), format!("new{round}@example.net"));
        a.execute("INSERT INTO people VALUES ($1, $2, $3, '+4931999', NULL)", &[&ida, &name, &email]).unwrap();
        // b waits for a's lock on the matcher, then must see a's row once a commits.
        let (name_b, email_b) = (name.clone(), email.clone());
        let waiter = std::thread::spawn(move || {
            b.execute("INSERT INTO people VALUES ($1, $2, $3, NULL, NULL)", &[&idb, &name_b, &email_b]).unwrap();
            b.batch_execute("COMMIT").unwrap();
        });
        std::thread::sleep(std::time::Duration::from_millis(300));
        a.batch_execute("COMMIT").unwrap();
        waiter.join().unwrap();
        let keys: i64 = setup.query_one("SELECT count(DISTINCT customer_key) FROM people WHERE id IN ($1, $2)", &[&ida, &idb]).unwrap().get(0);
        assert_eq!(keys, 1, "round {round}: two sessions gave one new person two keys");
    }
}
