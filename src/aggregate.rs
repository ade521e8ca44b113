//! Helpers shared by the aggregates whose state is `internal`: a Rust value placed in
//! the aggregate's memory context and dropped when that context is reset (DESIGN.md:
//! a `PostgresType` state would be (de)serialised on every row, about 8x slower).

use pgrx::prelude::*;
use pgrx::{Internal, PgMemoryContexts};

use crate::error::CrmError;

/// The aggregate memory context of the current call, or an ERROR outside an aggregate.
pub(crate) fn aggregate_context(fcinfo: pg_sys::FunctionCallInfo, function: &str) -> pg_sys::MemoryContext {
    let mut context: pg_sys::MemoryContext = std::ptr::null_mut();
    // SAFETY: fcinfo is the live call info Postgres passed to this function.
    let is_aggregate = unsafe { pg_sys::AggCheckCallContext(fcinfo, &mut context) } != 0;
    if !is_aggregate {
        CrmError::InvalidArgument(format!("{function} can only be called as part of an aggregate")).raise();
    }
    context
}

/// Moves `state` into `context` (dropped when the context is reset or deleted).
pub fn into_context<T: 'static>(state: T, context: pg_sys::MemoryContext) -> Internal {
    Internal::from(Some(leak_into(state, context)))
}

/// As `into_context`, as a raw datum for V1 functions.
pub fn leak_into<T: 'static>(state: T, context: pg_sys::MemoryContext) -> pg_sys::Datum {
    let ptr = PgMemoryContexts::For(context).leak_and_drop_on_delete(state);
    pg_sys::Datum::from(ptr)
}

/// The finfo record every raw V1 function exports.
pub const V1_FINFO: pg_sys::Pg_finfo_record = pg_sys::Pg_finfo_record { api_version: 1 };
