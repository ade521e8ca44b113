//! Registry SQL surface: `deploy`, `drop_model`, the per-backend model cache and its
//! invalidation.
//!
//! The cache maps a model name to its deployed, deserialised model, so scoring a million
//! rows reads and decodes the model once. It is never stale: a statement trigger on
//! `crm.models` and `crm.deployments` queues a relcache invalidation of the changed table
//! at every write (`deploy`, `drop_model`, training, a hand-written UPDATE, a restore);
//! Postgres delivers it to every backend when the writing transaction commits, and each
//! backend's callback (registered in `_PG_init`) empties its cache before its next
//! statement takes its locks.

use std::any::Any;
use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

use pgrx::prelude::*;

use super::Kind;
use crate::error::sql::OrRaise;
use crate::error::{CrmError, Result as CrmResult};

extension_sql_file!("../../sql/registry.sql", name = "registry", bootstrap);

/// A deployed model as scoring sees it.
pub struct Deployed {
    pub id: i64,
    pub kind: Kind,
    pub name: String,
    pub version: i32,
    pub model: Rc<dyn Any>,
}

#[derive(Default)]
struct Cache {
    /// Looked up by `&str` on every scored row: no allocation on a hit.
    by_name: HashMap<String, Rc<Deployed>>,
    registry_oids: Vec<pg_sys::Oid>,
}

thread_local! {
    static CACHE: RefCell<Cache> = RefCell::new(Cache::default());
}

/// Registered once per backend in `_PG_init`.
pub fn register_invalidation() {
    // SAFETY: called from _PG_init on the backend thread; the callback is a plain fn.
    unsafe { pg_sys::CacheRegisterRelcacheCallback(Some(relcache_callback), pg_sys::Datum::from(0)) };
}

#[pg_guard]
unsafe extern "C-unwind" fn relcache_callback(_arg: pg_sys::Datum, relid: pg_sys::Oid) {
    CACHE.with(|c| {
        if let Ok(mut cache) = c.try_borrow_mut() {
            if relid == pg_sys::InvalidOid || cache.registry_oids.contains(&relid) {
                cache.by_name.clear();
            }
        }
    });
}

/// Statement trigger on crm.models and crm.deployments: queue the invalidation.
#[pg_trigger]
fn registry_changed<'a>(trigger: &'a pgrx::PgTrigger<'a>) -> std::result::Result<Option<PgHeapTuple<'a, pgrx::AllocatedByPostgres>>, pgrx::PgTriggerError> {
    let relid = trigger.relation()?.oid();
    // SAFETY: a valid relation oid inside a transaction.
    unsafe { pg_sys::CacheInvalidateRelcacheByRelid(relid) };
    Ok(None)
}

extension_sql!(
    r#"
CREATE TRIGGER registry_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON models
    FOR EACH STATEMENT EXECUTE FUNCTION registry_changed();
CREATE TRIGGER registry_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON deployments
    FOR EACH STATEMENT EXECUTE FUNCTION registry_changed();
"#,
    name = "registry_triggers",
    requires = ["registry", registry_changed]
);

/// The deployed row of `name`: (id, version, kind, bytes, registry table oids).
///
/// Raw SPI with `read_only = true`, always: scoring runs inside parallel queries (in
/// workers and in the leader, also under CREATE TABLE AS), where any read-write SPI call
/// fails ("cannot start commands during a parallel operation"); pgrx's `select` decides
/// read-only-ness per transaction, so it cannot be used here.
type DeployedRow = (i64, i32, String, Vec<u8>, Vec<pg_sys::Oid>);

fn read_deployed(name: &str) -> CrmResult<Option<DeployedRow>> {
    use pgrx::{FromDatum, IntoDatum};
    const QUERY: &std::ffi::CStr = c"SELECT m.id, m.version, m.kind, m.model, to_regclass('crm.models')::oid, to_regclass('crm.deployments')::oid FROM crm.deployments d JOIN crm.models m ON m.id = d.model_id WHERE d.name = $1";
    // SAFETY: SPI is connected and finished around the query on the backend thread; the
    // values are copied out before SPI_finish frees the tuple table.
    unsafe {
        if pg_sys::SPI_connect() != pg_sys::SPI_OK_CONNECT as i32 {
            return Err(CrmError::UndefinedTable("cannot read the model registry (SPI_connect failed)".into()));
        }
        let mut argtypes = [pg_sys::TEXTOID];
        let mut values = [name.into_datum().unwrap_or(pg_sys::Datum::from(0))];
        let nulls = [b' ' as std::ffi::c_char];
        let rc = pg_sys::SPI_execute_with_args(QUERY.as_ptr(), 1, argtypes.as_mut_ptr(), values.as_mut_ptr(), nulls.as_ptr(), true, 1);
        let mut out = None;
        if rc == pg_sys::SPI_OK_SELECT as i32 && pg_sys::SPI_processed == 1 && !pg_sys::SPI_tuptable.is_null() {
            let table = &*pg_sys::SPI_tuptable;
            let tuple = *table.vals;
            let get = |col: i32| {
                let mut isnull = false;
                let d = pg_sys::SPI_getbinval(tuple, table.tupdesc, col, &mut isnull);
                (d, isnull)
            };
            let (id, n1) = get(1);
            let (version, n2) = get(2);
            let (kind, n3) = get(3);
            let (bytes, n4) = get(4);
            let (models_oid, n5) = get(5);
            let (deployments_oid, n6) = get(6);
            if !(n1 || n2 || n3 || n4) {
                let oids =
                    [(models_oid, n5), (deployments_oid, n6)].into_iter().filter(|(_, n)| !n).map(|(d, _)| pg_sys::Oid::from(d.value() as u32)).collect();
                out = Some((
                    i64::from_datum(id, false).unwrap_or(0),
                    i32::from_datum(version, false).unwrap_or(0),
                    String::from_datum(kind, false).unwrap_or_default(),
                    Vec::<u8>::from_datum(bytes, false).unwrap_or_default(),
                    oids,
                ));
            }
        }
        pg_sys::SPI_finish();
        if rc < 0 {
            return Err(CrmError::UndefinedTable(format!("cannot read the model registry (SPI error {rc})")));
        }
        Ok(out)
    }
}

/// The deployed model called `name`, decoded with `decode` on a cache miss.
pub fn deployed<T: 'static>(name: &str, kind: Kind, decode: impl FnOnce(&[u8], &str) -> CrmResult<T>) -> CrmResult<Rc<Deployed>> {
    if let Some(hit) = CACHE.with(|c| c.borrow().by_name.get(name).filter(|d| d.kind == kind).cloned()) {
        return Ok(hit);
    }
    let Some((id, version, stored_kind, bytes, oids)) = read_deployed(name)? else {
        return Err(CrmError::UnknownModel(format!(
            "no deployed {} model named \"{name}\"; train one with crm.{} or deploy a version with crm.deploy",
            kind.name(),
            kind.training_function()
        )));
    };
    if stored_kind != kind.name() {
        return Err(CrmError::InvalidArgument(format!("model \"{name}\" is a {stored_kind} model, not a {} model", kind.name())));
    }
    let who = format!("model \"{name}\" version {version}");
    let model: T = decode(&bytes, &who)?;
    let entry = Rc::new(Deployed { id, kind, name: name.to_string(), version, model: Rc::new(model) });
    CACHE.with(|c| {
        let mut cache = c.borrow_mut();
        cache.registry_oids = oids;
        cache.by_name.insert(name.to_string(), entry.clone());
    });
    Ok(entry)
}

/// Deploys `version` of `name` (rollback is deploying an older version).
#[pg_extern(volatile, parallel_unsafe)]
fn deploy(
    name: Option<&str>,
    version: Option<i32>,
    reason: default!(Option<&str>, "NULL"),
) -> TableIterator<'static, (name!(name, String), name!(version, i32), name!(previous_version, Option<i32>))> {
    let (name, version) = (crate::error::required(name, "name").or_raise(), crate::error::required(version, "version").or_raise());
    let previous = deploy_version(name, version, reason.unwrap_or("crm.deploy")).or_raise();
    TableIterator::once((name.to_string(), version, previous))
}

/// Points `name` at `version`; returns the version deployed before, if any.
pub fn deploy_version(name: &str, version: i32, reason: &str) -> CrmResult<Option<i32>> {
    let model_id = Spi::get_one_with_args::<i64>("SELECT id FROM crm.models WHERE name = $1 AND version = $2", &[name.into(), version.into()])
        .ok()
        .flatten()
        .ok_or_else(|| CrmError::UnknownModel(format!("model \"{name}\" has no version {version}")))?;
    let previous = Spi::get_one_with_args::<i32>(
        "SELECT m.version FROM crm.deployments d JOIN crm.models m ON m.id = d.model_id WHERE d.name = $1 FOR UPDATE OF d",
        &[name.into()],
    )
    .ok()
    .flatten();
    Spi::run_with_args(
        "INSERT INTO crm.deployments (name, model_id, reason) VALUES ($1, $2, $3)
         ON CONFLICT (name) DO UPDATE SET model_id = EXCLUDED.model_id, deployed_at = now(), deployed_by = current_user, reason = EXCLUDED.reason",
        &[name.into(), model_id.into(), reason.into()],
    )
    .map_err(|e| CrmError::InvalidArgument(format!("cannot deploy model \"{name}\" version {version}: {e}")))?;
    Ok(previous)
}

/// Removes a model version; the deployed version only with `force` (its deployment goes too).
#[pg_extern(volatile, parallel_unsafe)]
fn drop_model(name: &str, version: i32, force: default!(bool, false)) {
    drop_version(name, version, force).or_raise()
}

fn drop_version(name: &str, version: i32, force: bool) -> CrmResult<()> {
    let model_id = Spi::get_one_with_args::<i64>("SELECT id FROM crm.models WHERE name = $1 AND version = $2 FOR UPDATE", &[name.into(), version.into()])
        .ok()
        .flatten()
        .ok_or_else(|| CrmError::UnknownModel(format!("model \"{name}\" has no version {version}")))?;
    let deployed =
        Spi::get_one_with_args::<bool>("SELECT EXISTS (SELECT 1 FROM crm.deployments WHERE model_id = $1)", &[model_id.into()]).ok().flatten().unwrap_or(false);
    if deployed && !force {
        return Err(CrmError::InvalidArgument(format!(
            "model \"{name}\" version {version} is deployed; deploy another version first, or call crm.drop_model('{name}', {version}, force => true)"
        )));
    }
    Spi::run_with_args("DELETE FROM crm.deployments WHERE model_id = $1", &[model_id.into()])
        .and_then(|_| Spi::run_with_args("DELETE FROM crm.models WHERE id = $1", &[model_id.into()]))
        .map_err(|e| CrmError::InvalidArgument(format!("cannot drop model \"{name}\" version {version}: {e}")))
}
