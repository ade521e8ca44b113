//! Customer data unification: deduplication (`crm.dedupe`) and linkage (`crm.link`) of
//! records without labels, and golden records from the clusters. `matching.rs` and
//! `golden.rs` are plain Rust, `sql.rs` their SQL surface.

pub mod golden;
pub mod matcher;
pub mod matcher_sql;
pub mod matching;
pub mod sql;
