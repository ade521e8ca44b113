//! Per-call-site memos: what one function call expression keeps between the rows of one
//! query, in `flinfo->fn_extra`.
//!
//! One slot per call site, allocated once in `fn_mcxt` (so it is dropped with the query's
//! expression state) and tagged with the memo's type, so a slot is never read as another
//! type. A memo that no longer fits (another model name arrives, a catalog change) is
//! replaced inside the slot, dropping the old one: the memory of a call site stays that of
//! one memo whatever the rows do (`crm.score(c.model_name, c)` with a name per row).

use std::any::TypeId;

use pgrx::pg_sys;
use pgrx::PgMemoryContexts;

use crate::error::Result;

struct Slot<T: 'static> {
    type_id: TypeId,
    value: Option<T>,
}

/// The memo of the call site of `fcinfo`: the one kept there when `keep` says it still
/// fits, or a new one from `make` (replacing the old). An error from `make` leaves the
/// slot empty, so the next row tries again.
///
/// # Safety
/// `fcinfo` must be the live call info of a function called by Postgres; every use of
/// one function's `fn_extra` must go through this helper.
pub unsafe fn call_site<'a, T: 'static>(
    fcinfo: pg_sys::FunctionCallInfo,
    keep: impl FnOnce(&T) -> bool,
    make: impl FnOnce() -> Result<T>,
) -> Result<&'a mut T> {
    // SAFETY: fcinfo and its flinfo are valid for this call; fn_extra belongs to the
    // function being called, and only this helper writes it.
    unsafe {
        let flinfo = (*fcinfo).flinfo;
        let mut slot = (*flinfo).fn_extra as *mut Slot<T>;
        if slot.is_null() || (*slot).type_id != TypeId::of::<T>() {
            let fresh = Slot::<T> { type_id: TypeId::of::<T>(), value: None };
            slot = PgMemoryContexts::For((*flinfo).fn_mcxt).leak_and_drop_on_delete(fresh);
            (*flinfo).fn_extra = slot.cast();
        }
        let slot = &mut *slot;
        if !slot.value.as_ref().is_some_and(keep) {
            // Drop the old memo before making the new one: at most one lives.
            slot.value = None;
            slot.value = Some(make()?);
        }
        Ok(slot.value.as_mut().expect("filled just above"))
    }
}
