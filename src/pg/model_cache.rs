//! The per-backend model cache. It is typed and keyed by model id: `deployed::<Classifier>("churn")` resolves
//! the name to its deployed model id with the caller's privileges and the statement's
//! snapshot (one saved-plan index lookup), then decodes the bytes of that id once per
//! backend. Resolving at every call (a call site resolves once per statement, see
//! `pg::memo`) is what makes the cache correct under every isolation level: a deploy
//! committed elsewhere is seen by the next READ COMMITTED statement, a REPEATABLE READ
//! transaction keeps the deployment of its snapshot, and no invalidation can race a read
//! under an older snapshot, because a cached entry is only ever the bytes of one id. A
//! model row changed in place (a hand-written UPDATE, a restore) queues a relcache
//! invalidation of `crm.models` (statement trigger), which empties the cache. The cache
//! is bounded by `crm.model_cache_mb` (least recently used out first).

use std::any::Any;
use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::ffi::CStr;
use std::rc::Rc;

use pgrx::prelude::*;
use pgrx::{FromDatum, GucContext, GucFlags, GucRegistry, GucSetting, IntoDatum};

use crate::error::{CrmError, Result as CrmResult};
use crate::registry::{decode_model, StoredModel};

/// A deployed model as scoring sees it.
pub struct Deployed<T> {
    pub id: i64,
    pub name: String,
    pub version: i32,
    pub model: T,
}

impl<T> Deployed<T> {
    /// `model "churn" version 3`, for messages.
    pub fn who(&self) -> String {
        format!("model \"{}\" version {}", self.name, self.version)
    }
}

pub static MODEL_CACHE_MB: GucSetting<i32> = GucSetting::<i32>::new(256);

pub fn register_gucs() {
    GucRegistry::define_int_guc(
        c"crm.model_cache_mb",
        c"Size of each backend's cache of decoded models, in MB (stored size).",
        c"Models beyond it are evicted least recently used first and decoded again when next used.",
        &MODEL_CACHE_MB,
        0,
        1 << 20,
        GucContext::Userset,
        GucFlags::UNIT_MB,
    );
}

struct Entry {
    model: Rc<dyn Any>,
    bytes: usize,
    last_used: u64,
}

#[derive(Default)]
struct Cache {
    by_id: HashMap<i64, Entry>,
    bytes: usize,
    tick: u64,
    models_oid: Option<pg_sys::Oid>,
}

thread_local! {
    static CACHE: RefCell<Cache> = RefCell::new(Cache::default());
    static RESOLVE_PLAN: Cell<pg_sys::SPIPlanPtr> = const { Cell::new(std::ptr::null_mut()) };
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
            if relid == pg_sys::InvalidOid || cache.models_oid == Some(relid) {
                cache.by_id.clear();
                cache.bytes = 0;
            }
        }
    });
}

#[no_mangle]
pub extern "C" fn pg_finfo_registry_changed_wrapper() -> &'static pg_sys::Pg_finfo_record {
    &crate::pg::aggregate::V1_FINFO
}

/// Statement trigger on crm.models and crm.deployments: queue the invalidation. A raw V1
/// function (the symbol pgrx's `#[pg_trigger]` gave it in 0.1.0) so that a direct call
/// (`SELECT crm.registry_changed()`) is a 0A000 error like any trigger function's, not
/// pgrx's XX000.
///
/// # Safety
/// Called by Postgres only, as the trigger function `crm.registry_changed()`.
#[no_mangle]
#[pg_guard]
pub unsafe extern "C-unwind" fn registry_changed_wrapper(fcinfo: pg_sys::FunctionCallInfo) -> pg_sys::Datum {
    // SAFETY: fcinfo is the live call; its context, when TriggerData, holds the relation.
    unsafe {
        let context = (*fcinfo).context;
        if context.is_null() || (*context).type_ != pg_sys::NodeTag::T_TriggerData {
            CrmError::Unsupported("crm.registry_changed() is a trigger function: it can only be called as a trigger".into()).raise();
        }
        let data = context as *mut pg_sys::TriggerData;
        pg_sys::CacheInvalidateRelcacheByRelid((*(*data).tg_relation).rd_id);
        // An AFTER trigger's result is ignored; a null pointer, not an SQL NULL (which
        // the trigger manager refuses).
        pg_sys::Datum::from(0)
    }
}

extension_sql!(
    r#"
CREATE FUNCTION registry_changed() RETURNS trigger
    LANGUAGE c AS 'MODULE_PATHNAME', 'registry_changed_wrapper';
CREATE TRIGGER registry_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON models
    FOR EACH STATEMENT EXECUTE FUNCTION registry_changed();
CREATE TRIGGER registry_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON deployments
    FOR EACH STATEMENT EXECUTE FUNCTION registry_changed();
"#,
    name = "registry_triggers",
    requires = ["registry"]
);

/// A model row found in the registry (a deployment, or a named version).
pub struct Resolved {
    id: i64,
    version: i32,
    /// `crm.models.kind`: which `StoredModel` type its bytes decode to.
    pub kind: String,
    models_oid: pg_sys::Oid,
    owner: pg_sys::Oid,
}

/// Resolves `name` to its deployed model with the caller's privileges and snapshot.
///
/// Raw SPI with `read_only = true`, always: scoring runs inside parallel queries (in
/// workers and in the leader, also under CREATE TABLE AS), where any read-write SPI call
/// fails ("cannot start commands during a parallel operation"). The plan is prepared
/// once per backend and kept; Postgres replans it when the registry tables change. Every
/// name in it is schema-qualified, so the caller's search_path cannot redirect it.
fn resolve(name: &str) -> CrmResult<Option<Resolved>> {
    const QUERY: &CStr = c"SELECT d.model_id, m.version, m.kind, c.oid, c.relowner \
        FROM crm.deployments d JOIN crm.models m ON m.id OPERATOR(pg_catalog.=) d.model_id \
        CROSS JOIN pg_catalog.pg_class c \
        WHERE d.name OPERATOR(pg_catalog.=) $1 AND c.oid OPERATOR(pg_catalog.=) 'crm.models'::pg_catalog.regclass";
    // SAFETY: SPI is connected and finished around the query on the backend thread; the
    // values are copied out before SPI_finish frees the tuple table.
    unsafe {
        if pg_sys::SPI_connect() != pg_sys::SPI_OK_CONNECT as i32 {
            return Err(CrmError::UndefinedTable("cannot read the model registry (SPI_connect failed)".into()));
        }
        let mut plan = RESOLVE_PLAN.with(Cell::get);
        if plan.is_null() {
            let mut argtypes = [pg_sys::TEXTOID];
            let prepared = pg_sys::SPI_prepare(QUERY.as_ptr(), 1, argtypes.as_mut_ptr());
            if prepared.is_null() || pg_sys::SPI_keepplan(prepared) != 0 {
                pg_sys::SPI_finish();
                return Err(CrmError::UndefinedTable("cannot read the model registry (SPI_prepare failed)".into()));
            }
            plan = prepared;
            RESOLVE_PLAN.with(|p| p.set(plan));
        }
        let mut values = [name.into_datum().unwrap_or(pg_sys::Datum::from(0))];
        let nulls = [b' ' as std::ffi::c_char];
        let rc = pg_sys::SPI_execute_plan(plan, values.as_mut_ptr(), nulls.as_ptr(), true, 1);
        let mut out = None;
        if rc == pg_sys::SPI_OK_SELECT as i32 && pg_sys::SPI_processed == 1 && !pg_sys::SPI_tuptable.is_null() {
            let table = &*pg_sys::SPI_tuptable;
            let tuple = *table.vals;
            let get = |col: i32| {
                let mut isnull = false;
                let d = pg_sys::SPI_getbinval(tuple, table.tupdesc, col, &mut isnull);
                (!isnull).then_some(d)
            };
            if let (Some(id), Some(version), Some(kind), Some(models_oid), Some(owner)) = (get(1), get(2), get(3), get(4), get(5)) {
                out = Some(Resolved {
                    id: i64::from_datum(id, false).unwrap_or(0),
                    version: i32::from_datum(version, false).unwrap_or(0),
                    kind: String::from_datum(kind, false).unwrap_or_default(),
                    models_oid: pg_sys::Oid::from(models_oid.value() as u32),
                    owner: pg_sys::Oid::from(owner.value() as u32),
                });
            }
        }
        pg_sys::SPI_finish();
        if rc < 0 {
            return Err(CrmError::UndefinedTable(format!("cannot read the model registry (SPI error {rc})")));
        }
        Ok(out)
    }
}

/// The deployed model called `name`, of type `T`: resolved now, decoded (and validated)
/// on a cache miss.
pub fn deployed<T: StoredModel>(name: &str) -> CrmResult<Rc<Deployed<T>>> {
    let kind = T::KIND;
    let resolved = resolve_deployed(name, kind.name(), &format!("crm.{}", kind.training_function()))?;
    load(name, resolved)
}

/// The deployment of `name` now, whatever its kind (`load` checks the kind); 42704 when
/// nothing is deployed, naming `what` model was looked for and how to train one.
pub fn resolve_deployed(name: &str, what: &str, train_with: &str) -> CrmResult<Resolved> {
    resolve(name)?.ok_or_else(|| {
        CrmError::UnknownModel(format!("no deployed {what} model named \"{name}\"; train one with {train_with} or deploy a version with crm.deploy"))
    })
}

/// Version `version` of model `name` (deployed or not), or the deployed version when
/// `version` is None: what evaluation and monitoring read. The row is found with the
/// caller's privileges (the registry's metadata columns), the bytes read as its owner.
pub fn version<T: StoredModel>(name: &str, version: Option<i32>) -> CrmResult<Rc<Deployed<T>>> {
    match version {
        None => deployed::<T>(name),
        Some(v) => load(name, resolve_version(name, v)?),
    }
}

/// Version `version` of `name`, deployed or not; 42704 when there is none.
pub fn resolve_version(name: &str, version: i32) -> CrmResult<Resolved> {
    let found = crate::pg::source::read_one::<pgrx::JsonB>(
        "SELECT pg_catalog.jsonb_build_array(m.id, m.kind, c.oid::pg_catalog.int8, c.relowner::pg_catalog.int8) \
         FROM crm.models m CROSS JOIN pg_catalog.pg_class c \
         WHERE m.name OPERATOR(pg_catalog.=) $1 AND m.version OPERATOR(pg_catalog.=) $2 \
         AND c.oid OPERATOR(pg_catalog.=) 'crm.models'::pg_catalog.regclass",
        &[name.into(), version.into()],
    )?;
    let Some(pgrx::JsonB(row)) = found else {
        return Err(CrmError::UnknownModel(format!("model \"{name}\" has no version {version} (crm.model_summary lists the versions)")));
    };
    Ok(Resolved {
        id: row[0].as_i64().unwrap_or(0),
        version,
        kind: row[1].as_str().unwrap_or_default().to_string(),
        models_oid: pg_sys::Oid::from(row[2].as_i64().unwrap_or(0) as u32),
        owner: pg_sys::Oid::from(row[3].as_i64().unwrap_or(0) as u32),
    })
}

/// The model row `resolved`, from the cache or decoded (and validated) on a miss.
pub fn load<T: StoredModel>(name: &str, resolved: Resolved) -> CrmResult<Rc<Deployed<T>>> {
    let kind = T::KIND;
    if resolved.kind != kind.name() {
        return Err(CrmError::InvalidArgument(format!("model \"{name}\" is a {} model, not a {} model", resolved.kind, kind.name())));
    }
    let hit = CACHE.with(|c| {
        let mut cache = c.borrow_mut();
        cache.tick += 1;
        let tick = cache.tick;
        cache.by_id.get_mut(&resolved.id).and_then(|entry| {
            entry.last_used = tick;
            entry.model.clone().downcast::<Deployed<T>>().ok()
        })
    });
    if let Some(hit) = hit {
        return Ok(hit);
    }
    let who = format!("model \"{name}\" version {}", resolved.version);
    let bytes =
        crate::pg::owner::model_bytes(resolved.id, resolved.owner)?.ok_or_else(|| CrmError::UnknownModel(format!("the row of {who} is not visible")))?;
    let model: T = decode_model(&bytes, &who)?;
    let entry = Rc::new(Deployed { id: resolved.id, name: name.to_string(), version: resolved.version, model });
    let limit = MODEL_CACHE_MB.get().max(0) as usize * 1024 * 1024;
    CACHE.with(|c| {
        let mut cache = c.borrow_mut();
        cache.models_oid = Some(resolved.models_oid);
        // Least recently used out until the new model fits (a model larger than the
        // whole cache is used for this statement and not kept).
        while cache.bytes + bytes.len() > limit && !cache.by_id.is_empty() {
            let Some(oldest) = cache.by_id.iter().min_by_key(|(_, e)| e.last_used).map(|(id, _)| *id) else {
                break;
            };
            if let Some(gone) = cache.by_id.remove(&oldest) {
                cache.bytes -= gone.bytes;
            }
        }
        if bytes.len() <= limit {
            cache.tick += 1;
            let last_used = cache.tick;
            cache.bytes += bytes.len();
            cache.by_id.insert(resolved.id, Entry { model: entry.clone(), bytes: bytes.len(), last_used });
        }
    });
    Ok(entry)
}

/// Models and stored bytes in this backend's cache (for tests of the bound).
pub fn cache_usage() -> (usize, usize) {
    CACHE.with(|c| {
        let cache = c.borrow();
        (cache.by_id.len(), cache.bytes)
    })
}
