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

/// Which statement of this backend is running: its local transaction, its start time and
/// the command within it. Two calls with the same key see the same snapshot of the
/// registry, so what one resolved from it holds for the other.
#[derive(Clone, Copy, PartialEq)]
struct StatementKey {
    transaction: u32,
    started: i64,
    command: u32,
}

fn statement_key() -> StatementKey {
    // SAFETY: reads of the backend's own transaction state, valid inside any function call.
    unsafe {
        StatementKey {
            transaction: if pg_sys::MyProc.is_null() { 0 } else { (*pg_sys::MyProc).lxid },
            started: pg_sys::GetCurrentStatementStartTimestamp(),
            command: pg_sys::GetCurrentCommandId(false),
        }
    }
}

struct StatementMemo {
    key: StatementKey,
    type_id: TypeId,
    name: String,
    value: std::rc::Rc<dyn std::any::Any>,
}

thread_local! {
    /// One memo per backend: the last statement's.
    static STATEMENT_MEMO: std::cell::RefCell<Option<StatementMemo>> = const { std::cell::RefCell::new(None) };
}

/// A per-statement memo for the functions that cannot keep one at their call site
/// (set-returning functions: pgrx keeps its own state in `fn_extra`): the value `make`
/// built for `name` earlier in this statement, or a new one. Only the last one is kept, so
/// a statement alternating between names rebuilds, never grows.
pub fn statement<T: 'static>(name: &str, make: impl FnOnce() -> Result<std::rc::Rc<T>>) -> Result<std::rc::Rc<T>> {
    let key = statement_key();
    let kept = STATEMENT_MEMO.with_borrow(|memo| {
        memo.as_ref().filter(|m| m.key == key && m.type_id == TypeId::of::<T>() && m.name == name).and_then(|m| m.value.clone().downcast::<T>().ok())
    });
    if let Some(value) = kept {
        return Ok(value);
    }
    let value = make()?;
    STATEMENT_MEMO.with_borrow_mut(|memo| *memo = Some(StatementMemo { key, type_id: TypeId::of::<T>(), name: name.to_string(), value: value.clone() }));
    Ok(value)
}
