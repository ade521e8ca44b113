//! pg_crm: the machine learning of a CRM inside PostgreSQL.
//!
//! One folder per capability; inside each, the algorithm code is plain Rust and a thin
//! `sql.rs` holds that capability's SQL-facing functions. Errors travel as
//! `error::CrmError` and become Postgres errors with a SQLSTATE at the boundary.

::pgrx::pg_module_magic!(name, version);

pub mod classify;
pub mod clean;
pub mod clv;
pub mod error;
pub mod features;
pub mod forecast;
pub mod gpu;
pub mod lifecycle;
pub mod options;
pub mod pg;
pub mod pool;
pub mod recommend;
pub mod registry;
pub mod regress;
pub mod rng;
pub mod segment;
pub mod supervised;
pub mod text;
pub mod unify;

/// Runs when a backend loads the library: settings and the registry cache's invalidation.
#[pgrx::pg_guard]
pub extern "C-unwind" fn _PG_init() {
    // Errors raised inside SPI come back through pgrx, which would append a Rust
    // backtrace to their DETAIL when the server's environment enables backtraces
    // (RUST_BACKTRACE): users get Postgres's message, never panic text. Set
    // PG_CRM_BACKTRACE in the server's environment to keep them while debugging.
    if std::env::var_os("PG_CRM_BACKTRACE").is_none() {
        // SAFETY: _PG_init runs once, on the backend's only thread, before any worker
        // thread of ours exists.
        unsafe { std::env::set_var("RUST_LIB_BACKTRACE", "0") };
    }
    classify::sql::register_gucs();
    gpu::sql::register_gucs();
    pg::model_cache::register_gucs();
    pg::model_cache::register_invalidation();
    pg::invalidation::register();
    pg::threads::register_gucs();
    pg::source::register_gucs();
    // A typo in a crm.* setting (`SET crm.chrun_model = ...`) is an error, as for other
    // extensions' prefixes, not a silently kept placeholder.
    // SAFETY: called once from _PG_init after the crm.* settings are defined.
    unsafe { pgrx::pg_sys::MarkGUCPrefixReserved(c"crm".as_ptr()) };
}

mod pg_tests;

/// A file of `../shared/datasets` for a test harness: its path, or None when it is absent
/// (the harness says it is skipped), except under CI, where missing data fails the test.
#[cfg(test)]
pub(crate) fn shared_dataset(relative: &str) -> Option<String> {
    let path = format!("{}/../shared/datasets/{relative}", env!("CARGO_MANIFEST_DIR"));
    if std::path::Path::new(&path).exists() {
        return Some(path);
    }
    assert!(std::env::var_os("CI").is_none(), "{path} not found, and CI is set: the dataset harness cannot run");
    eprintln!("skipped: {path} not found (../shared/datasets is not part of the product)");
    None
}

/// Required by `cargo pgrx test`.
#[cfg(test)]
pub mod pg_test {
    pub fn setup(_options: Vec<&str>) {}

    #[must_use]
    pub fn postgresql_conf_options() -> Vec<&'static str> {
        vec![]
    }
}
