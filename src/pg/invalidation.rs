//! The catalog-change generation: a per-backend counter bumped by Postgres's relcache and
//! type-cache invalidation callbacks. Whatever pg_crm caches about a relation or row type
//! (row layouts, the trigger's column numbers) remembers the generation it was checked at
//! and is checked again, against the catalogs, once the generation has moved: an `ALTER
//! TABLE`, `DROP`/`CREATE` of a table, an `ALTER TYPE` — in this session or committed by
//! another — is seen before the next row is read. Checking costs one integer compare per
//! row; revalidation happens only after an invalidation, which Postgres delivers at the
//! start of each statement (lock acquisition) and after each command of a transaction.

use std::cell::Cell;

use pgrx::pg_guard;
use pgrx::pg_sys;

thread_local! {
    static GENERATION: Cell<u64> = const { Cell::new(1) };
}

/// The current generation.
#[inline]
pub fn generation() -> u64 {
    GENERATION.with(Cell::get)
}

fn bump() {
    GENERATION.with(|g| g.set(g.get().wrapping_add(1)));
}

#[pg_guard]
unsafe extern "C-unwind" fn relcache_changed(_arg: pg_sys::Datum, _relid: pg_sys::Oid) {
    bump();
}

#[pg_guard]
unsafe extern "C-unwind" fn type_changed(_arg: pg_sys::Datum, _cache_id: i32, _hash: u32) {
    bump();
}

/// Registered once per backend, in `_PG_init`.
pub fn register() {
    // SAFETY: called from _PG_init on the backend thread; the callbacks are plain fns
    // that only bump a counter (they may run inside any catalog access).
    unsafe {
        pg_sys::CacheRegisterRelcacheCallback(Some(relcache_changed), pg_sys::Datum::from(0));
        pg_sys::CacheRegisterSyscacheCallback(pg_sys::SysCacheIdentifier::TYPEOID as i32, Some(type_changed), pg_sys::Datum::from(0));
    }
}
