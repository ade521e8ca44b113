//! Client integration tests of record unification: the FEBRL protocol when the data is
//! there (../shared/datasets/README.md: pairwise precision, recall and F1 after
//! clustering), and crm.link between the originals and the duplicates.

mod common;

use std::collections::{HashMap, HashSet};

use common::{connect, fresh_database, sqlstate};

const FIELDS: &str = "given_name text, surname text, street_number text, address_1 text, address_2 text, suburb text, postcode text, state text, date_of_birth text, soc_sec_id text";

fn person(rec_id: &str) -> &str {
    rec_id.split('-').nth(1).unwrap_or_default()
}

fn f1(predicted: &HashSet<(String, String)>, truth: &HashSet<(String, String)>) -> (f64, f64, f64) {
    let tp = predicted.intersection(truth).count() as f64;
    let (p, r) = (tp / predicted.len().max(1) as f64, tp / truth.len().max(1) as f64);
    (p, r, 2.0 * p * r / (p + r).max(1e-12))
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
    let mut members: HashMap<String, Vec<String>> = HashMap::new();
    for row in &rows {
        members.entry(row.get(1)).or_default().push(row.get(0));
    }
    let pairs = |groups: &mut dyn Iterator<Item = Vec<String>>| -> HashSet<(String, String)> {
        let mut out = HashSet::new();
        for mut ids in groups {
            ids.sort();
            for (i, a) in ids.iter().enumerate() {
                for b in &ids[i + 1..] {
                    out.insert((a.clone(), b.clone()));
                }
            }
        }
        out
    };
    let predicted = pairs(&mut members.into_values());
    let mut people: HashMap<String, Vec<String>> = HashMap::new();
    for row in &rows {
        let id: String = row.get(0);
        people.entry(person(&id).to_string()).or_default().push(id);
    }
    let truth = pairs(&mut people.into_values());
    let (p, r, f) = f1(&predicted, &truth);
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
    let (p, r, f) = f1(&linked, &true_links);
    assert!(f > 0.98, "link precision {p} recall {r} F1 {f}");

    // a bad option value is 22023, naming it
    let e = c.query("SELECT * FROM crm.dedupe('people', 'rec_id', '{\"max_pairs\": 0}')", &[]).unwrap_err();
    assert_eq!(sqlstate(&e), "22023");
}
