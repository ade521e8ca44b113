//! Customer data unification: deduplication (`crm.dedupe`) and linkage (`crm.link`) of
//! records without labels. `matching.rs` is the algorithm (plain Rust), `sql.rs` its SQL
//! surface.

pub mod matching;
pub mod sql;
