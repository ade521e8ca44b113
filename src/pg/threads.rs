//! `crm.max_threads`: the most threads one computation of this backend may use (the
//! worker pool's cap, `crate::pool::set_max_threads`). Several sessions training at once
//! otherwise each start a thread per core.

use std::ffi::{c_int, c_void};

use pgrx::{GucContext, GucFlags, GucRegistry, GucSetting};

pub static MAX_THREADS: GucSetting<i32> = GucSetting::<i32>::new(0);

pub fn register_gucs() {
    // SAFETY: the assign hook stores an integer and cannot panic or raise.
    unsafe {
        GucRegistry::define_int_guc_with_hooks(
            c"crm.max_threads",
            c"Most threads one training or batch computation uses, the backend's own included; 0 = one per core.",
            c"Trainings, recommend_all and record matching run on worker threads of the backend; this caps how many.",
            &MAX_THREADS,
            0,
            1024,
            GucContext::Userset,
            GucFlags::default(),
            None,
            Some(assign_max_threads),
            None,
        );
    }
}

/// Postgres calls it for every value the setting takes (its default at registration,
/// SET, RESET, a rollback, role and database defaults), so the pool always has the
/// value in force.
unsafe extern "C-unwind" fn assign_max_threads(value: c_int, _extra: *mut c_void) {
    crate::pool::set_max_threads(usize::try_from(value).unwrap_or(0));
}
