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
pub fn fresh_database(name: &str) -> Option<String> {
    let url = match server_url() {
        Some(url) => url,
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
