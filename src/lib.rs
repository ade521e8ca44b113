//! pg_crm: the machine learning of a CRM inside PostgreSQL.
//!
//! One folder per capability; inside each, the algorithm code is plain Rust and a thin
//! `sql.rs` holds that capability's SQL-facing functions. Errors travel as
//! `error::CrmError` and become Postgres errors with a SQLSTATE at the boundary.

::pgrx::pg_module_magic!(name, version);

pub mod aggregate;
pub mod classify;
pub mod clean;
pub mod error;
pub mod features;
pub mod gpu;
pub mod options;
pub mod recommend;
pub mod registry;
pub mod row_reader;
pub mod row_rewrite;
pub mod segment;
pub mod source;
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
    registry::sql::register_invalidation();
}

mod pg_tests;

/// Required by `cargo pgrx test`.
#[cfg(test)]
pub mod pg_test {
    pub fn setup(_options: Vec<&str>) {}

    #[must_use]
    pub fn postgresql_conf_options() -> Vec<&'static str> {
        vec![]
    }
}
