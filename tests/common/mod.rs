//! Shared helpers for the client integration tests.
//!
//! They connect to the server named by `PG_CRM_TEST_URL` (libpq key=value form), which
//! `scripts/test` starts; each test works in a database of its own.

use postgres::{Client, NoTls};

/// Connection string of the test server, or `None` (the test then says it is skipped).
pub fn server_url() -> Option<String> {
    std::env::var("PG_CRM_TEST_URL").ok().filter(|s| !s.is_empty())
}

/// A fresh database `name` with the extension installed; returns its connection string.
#[allow(dead_code)] // not every test binary that includes this module asks for it
pub fn fresh_database(name: &str) -> Option<String> {
    let url = match server_url() {
        Some(url) => url,
        // Under CI a missing server is a failure, never a silent pass.
        None if std::env::var_os("CI").is_some() => panic!("PG_CRM_TEST_URL is not set under CI (scripts/test sets it)"),
        None => {
            eprintln!("skipped: PG_CRM_TEST_URL is not set (scripts/test sets it)");
            return None;
        }
    };
    let mut admin = Client::connect(&format!("{url} dbname=postgres"), NoTls).expect("connect to test server");
    admin.batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).unwrap();
    admin.batch_execute(&format!("CREATE DATABASE {name}")).unwrap();
    let db_url = format!("{url} dbname={name}");
    let mut client = Client::connect(&db_url, NoTls).unwrap();
    client.batch_execute("CREATE EXTENSION pg_crm").unwrap();
    Some(db_url)
}

pub fn connect(url: &str) -> Client {
    Client::connect(url, NoTls).expect("connect")
}

/// The SQLSTATE of a failed statement.
#[allow(dead_code)] // not every test binary that includes this module asks for it
pub fn sqlstate(error: &postgres::Error) -> String {
    error.code().map(|c| c.code().to_string()).unwrap_or_else(|| format!("no SQLSTATE: {error}"))
}

/// A file of `../shared/datasets`: its path, or None when it is absent (the test says it
/// is skipped), except under CI, where missing data fails the test.
#[allow(dead_code)] // not every test binary that includes this module asks for it
pub fn shared_dataset(relative: &str) -> Option<std::path::PathBuf> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/datasets").join(relative);
    if path.exists() {
        return Some(path);
    }
    assert!(std::env::var_os("CI").is_none(), "{} not found, and CI is set: the test cannot run", path.display());
    eprintln!("skipped: {} not found (../shared/datasets is not part of the product)", path.display());
    None
}

/// Every pair of records in one cluster, from (record, cluster) rows, each pair ordered
/// (smaller id first): what pairwise precision and recall count.
#[allow(dead_code)] // not every test binary that includes this module asks for it
pub fn cluster_pairs<'a>(rows: impl IntoIterator<Item = (&'a str, &'a str)>) -> std::collections::HashSet<(String, String)> {
    let mut members: std::collections::HashMap<&str, Vec<&str>> = std::collections::HashMap::new();
    for (record, cluster) in rows {
        members.entry(cluster).or_default().push(record);
    }
    let mut out = std::collections::HashSet::new();
    for ids in members.values_mut() {
        ids.sort_unstable();
        for (i, a) in ids.iter().enumerate() {
            for b in &ids[i + 1..] {
                out.insert((a.to_string(), b.to_string()));
            }
        }
    }
    out
}

/// Pairwise (precision, recall, F1) of predicted pairs against true ones.
#[allow(dead_code)] // not every test binary that includes this module asks for it
pub fn pairwise_scores(predicted: &std::collections::HashSet<(String, String)>, truth: &std::collections::HashSet<(String, String)>) -> (f64, f64, f64) {
    let tp = predicted.intersection(truth).count() as f64;
    let (p, r) = (tp / predicted.len().max(1) as f64, tp / truth.len().max(1) as f64);
    (p, r, 2.0 * p * r / (p + r).max(1e-12))
}
