//! Client integration tests of record unification: the FEBRL protocol when the data is
//! there (../shared/datasets/README.md: pairwise precision, recall and F1 after
//! clustering), and crm.link between the originals and the duplicates.

mod common;

use std::collections::HashSet;

use common::{connect, fresh_database, sqlstate};

const FIELDS: &str = "given_name text, surname text, street_number text, address_1 text, address_2 text, suburb text, postcode text, state text, date_of_birth text, soc_sec_id text";

fn person(rec_id: &str) -> &str {
    rec_id.split('-').nth(1).unwrap_or_default()
}

#[test]
fn febrl_deduplication_and_linkage() {
    let Some(path) = common::shared_dataset("febrl/dataset3.csv") else { return };
    let Some(url) = fresh_database("it_febrl") else { return };
    let mut c = connect(&url);
    c.batch_execute(&format!("CREATE TABLE people (rec_id text, {FIELDS})")).unwrap();
    // The file puts a space after each comma.
    let text = std::fs::read_to_string(&path).unwrap().replace(", ", ",");
    let mut writer = c.copy_in("COPY people FROM STDIN WITH (FORMAT csv, HEADER true)").unwrap();
    std::io::Write::write_all(&mut writer, text.as_bytes()).unwrap();
    writer.finish().unwrap();

    let rows = c.query("SELECT id, cluster_id FROM crm.dedupe('people', 'rec_id')", &[]).unwrap();
    assert_eq!(rows.len(), 5000, "one row per record");
    let ids: Vec<(String, String)> = rows.iter().map(|row| (row.get(0), row.get(1))).collect();
    let predicted = common::cluster_pairs(ids.iter().map(|(id, cluster)| (id.as_str(), cluster.as_str())));
    let truth = common::cluster_pairs(ids.iter().map(|(id, _)| (id.as_str(), person(id))));
    let (p, r, f) = common::pairwise_scores(&predicted, &truth);
    // recordlinkage's ECM pipeline under the same protocol (bench/dedupe.py) stays below
    // this; unsupervised, no option set.
    assert!(f > 0.98, "dedupe precision {p} recall {r} F1 {f}");

    let links = c
        .query(
            "SELECT left_id, right_id FROM crm.link('SELECT * FROM people WHERE rec_id LIKE ''%-org''', 'SELECT * FROM people WHERE rec_id LIKE ''%-dup-%''', 'rec_id')",
            &[],
        )
        .unwrap();
    let linked: HashSet<(String, String)> = links.iter().map(|r| (r.get(0), r.get(1))).collect();
    let true_links: HashSet<(String, String)> = truth
        .iter()
        .filter(|(a, b)| a.ends_with("-org") != b.ends_with("-org"))
        .map(|(a, b)| if a.ends_with("-org") { (a.clone(), b.clone()) } else { (b.clone(), a.clone()) })
        .collect();
    let (p, r, f) = common::pairwise_scores(&linked, &true_links);
    assert!(f > 0.98, "link precision {p} recall {r} F1 {f}");

    // a bad option value is 22023, naming it
    let e = c.query("SELECT * FROM crm.dedupe('people', 'rec_id', '{\"max_pairs\": 0}')", &[]).unwrap_err();
    assert_eq!(sqlstate(&e), "22023");
}
