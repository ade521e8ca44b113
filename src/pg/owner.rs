//! Reading model bytes as the registry's owner.
//!
//! `crm.models.model` holds customer ids, purchase histories, category values and
//! centroids, so no role but the extension's owner may SELECT it. Scoring functions need
//! the bytes, so they read them here, under the owner's identity, by model id only: the
//! caller has already resolved the deployed model through `crm.deployments` with its own
//! privileges (no SELECT there, no score). The query names everything by schema
//! (`crm.models`, `OPERATOR(pg_catalog.=)`) and takes no text from the caller, so neither
//! the caller's `search_path` nor a shadowing function can change what it runs; the
//! identity switch is SECURITY_RESTRICTED, and Postgres restores the caller's identity on
//! error (transaction and subtransaction abort reset it).

use pgrx::pg_sys;
use pgrx::{FromDatum, IntoDatum};

use crate::error::{CrmError, Result};

/// Restores the caller's identity when dropped (the error path is Postgres's abort).
struct AsOwner {
    user: pg_sys::Oid,
    context: i32,
}

impl AsOwner {
    fn switch_to(owner: pg_sys::Oid) -> AsOwner {
        let mut user = pg_sys::InvalidOid;
        let mut context = 0;
        // SAFETY: plain reads and writes of the backend's current identity.
        unsafe {
            pg_sys::GetUserIdAndSecContext(&mut user, &mut context);
            let restricted = (pg_sys::SECURITY_LOCAL_USERID_CHANGE | pg_sys::SECURITY_RESTRICTED_OPERATION) as i32;
            pg_sys::SetUserIdAndSecContext(owner, context | restricted);
        }
        AsOwner { user, context }
    }
}

impl Drop for AsOwner {
    fn drop(&mut self) {
        // SAFETY: restores what switch_to saved.
        unsafe { pg_sys::SetUserIdAndSecContext(self.user, self.context) };
    }
}

/// The bytes of model `id`, read as `owner` (the owner of `crm.models`); None when no
/// such row is visible.
pub fn model_bytes(id: i64, owner: pg_sys::Oid) -> Result<Option<Vec<u8>>> {
    const QUERY: &std::ffi::CStr = c"SELECT m.model FROM crm.models m WHERE m.id OPERATOR(pg_catalog.=) $1";
    let _owner = AsOwner::switch_to(owner);
    // SAFETY: SPI is connected and finished around one read-only query on the backend
    // thread; the bytes are copied out before SPI_finish frees the tuple table.
    unsafe {
        if pg_sys::SPI_connect() != pg_sys::SPI_OK_CONNECT as i32 {
            return Err(CrmError::UndefinedTable("cannot read the model registry (SPI_connect failed)".into()));
        }
        let mut argtypes = [pg_sys::INT8OID];
        let mut values = [id.into_datum().unwrap_or(pg_sys::Datum::from(0))];
        let nulls = [b' ' as std::ffi::c_char];
        let rc = pg_sys::SPI_execute_with_args(QUERY.as_ptr(), 1, argtypes.as_mut_ptr(), values.as_mut_ptr(), nulls.as_ptr(), true, 1);
        let mut out = None;
        if rc == pg_sys::SPI_OK_SELECT as i32 && pg_sys::SPI_processed == 1 && !pg_sys::SPI_tuptable.is_null() {
            let table = &*pg_sys::SPI_tuptable;
            let mut isnull = false;
            let datum = pg_sys::SPI_getbinval(*table.vals, table.tupdesc, 1, &mut isnull);
            if !isnull {
                out = Vec::<u8>::from_datum(datum, false);
            }
        }
        pg_sys::SPI_finish();
        if rc < 0 {
            return Err(CrmError::UndefinedTable(format!("cannot read the model registry (SPI error {rc})")));
        }
        Ok(out)
    }
}

/// Runs `work` as the owner of `relation` (a pg_crm table named by schema, such as
/// `crm.matcher_records`): the tables of customer data that pg_crm keeps for a model and
/// grants to no role are read and written this way, after the caller's own privileges
/// were checked. `work` runs its own SPI statements, with fixed, schema-qualified text.
pub fn as_owner_of<T>(relation: &str, work: impl FnOnce() -> Result<T>) -> Result<T> {
    let owner = crate::pg::source::read_one::<i64>(
        "SELECT c.relowner::pg_catalog.int8 FROM pg_catalog.pg_class c WHERE c.oid OPERATOR(pg_catalog.=) pg_catalog.to_regclass($1)",
        &[relation.into()],
    )?
    .ok_or_else(|| CrmError::UndefinedTable(format!("{relation} is missing: reinstall or update pg_crm (ALTER EXTENSION pg_crm UPDATE)")))?;
    let _owner = AsOwner::switch_to(pg_sys::Oid::from(owner as u32));
    work()
}
