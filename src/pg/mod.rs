//! The boundary between Postgres and the Rust core, in one place.
//!
//! Everything that touches Postgres internals lives here, each concern once:
//! - `memo`: per-call-site memos in `fn_extra` (typed, replaced in place, never grown);
//! - `invalidation`: the catalog-change generation every cache checks before use;
//! - `row_reader`: reading a model's features out of a row, with layouts that are
//!   revalidated after any catalog change (never a decode with a stale column type);
//! - `row_rewrite`: the planner rewrite of `crm.score(name, row)` into its column form;
//! - `aggregate`: helpers of the `internal`-state aggregates;
//! - `source`: SPI reading of training sources and storing of models;
//! - `owner`: reading the registry's model bytes as the extension's owner;
//! - `model_cache`: deployed models, typed, resolved per statement, bounded;
//! - `json_options`: the `options jsonb` argument, read without panics;
//! - `jsonb`: jsonb results built from JSON text or copied from SPI, without serde_json;
//! - `tuple`: the scoring trigger's reading and writing of heap tuples;
//! - `threads`: `crm.max_threads`, the worker pool's cap.
//!
//! Algorithm code under the capability folders never imports pgrx.

pub mod aggregate;
pub mod invalidation;
pub mod json_options;
pub mod jsonb;
pub mod memo;
pub mod model_cache;
pub mod owner;
pub mod row_reader;
pub mod row_rewrite;
pub mod source;
pub mod threads;
pub mod tuple;
