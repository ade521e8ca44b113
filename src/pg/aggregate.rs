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

/// An aggregate state that parallel aggregation can split and merge.
pub trait PartialState: Clone + 'static {
    fn merge_from(&mut self, other: &Self) -> crate::error::Result<()>;
    fn to_bytes(&self) -> Vec<u8>;
    fn from_bytes(bytes: &[u8]) -> crate::error::Result<Self>;
}

/// The combine function of every `internal`-state aggregate: `right` merged into `left`.
pub fn combine<T: PartialState>(mut left: Internal, right: Internal, fcinfo: pg_sys::FunctionCallInfo, function: &str) -> Internal {
    use crate::error::sql::OrRaise;
    // SAFETY: both states were made by this aggregate's functions, as a T.
    let right_state = unsafe { right.get::<T>() };
    match (unsafe { left.get_mut::<T>() }, right_state) {
        (Some(l), Some(r)) => {
            l.merge_from(r).or_raise();
            left
        }
        // The right state may live in a shorter-lived context: copy it into ours.
        (None, Some(r)) => into_context(r.clone(), aggregate_context(fcinfo, function)),
        _ => left,
    }
}

/// The serial function: the state as bytes.
pub fn serial<T: PartialState>(state: Internal) -> Option<Vec<u8>> {
    // SAFETY: the state was made by this aggregate's functions, as a T.
    unsafe { state.get::<T>() }.map(T::to_bytes)
}

/// The deserial function: bytes back into a state in the current memory context.
pub fn deserial<T: PartialState>(bytes: &[u8]) -> Internal {
    use crate::error::sql::OrRaise;
    let state = T::from_bytes(bytes).or_raise();
    // SAFETY: CurrentMemoryContext is valid during a function call.
    into_context(state, unsafe { pg_sys::CurrentMemoryContext })
}
