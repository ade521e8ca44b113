//! Registry SQL surface: `deploy`, `drop_model`, `cache_stats`. The model cache itself is
//! `pg::model_cache`.

use pgrx::prelude::*;

use crate::error::sql::OrRaise;
use crate::error::{CrmError, Result as CrmResult};
use crate::pg::model_cache::{cache_usage, MODEL_CACHE_MB};

extension_sql_file!("../../sql/registry.sql", name = "registry", bootstrap);

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
    crate::pg::source::check_writable(&format!("deploy model \"{name}\""))?;
    let model_id = Spi::get_one_with_args::<i64>(
        "SELECT id FROM crm.models WHERE name OPERATOR(pg_catalog.=) $1 AND version OPERATOR(pg_catalog.=) $2",
        &[name.into(), version.into()],
    )
    .ok()
    .flatten()
    .ok_or_else(|| CrmError::UnknownModel(format!("model \"{name}\" has no version {version}")))?;
    let previous = Spi::get_one_with_args::<i32>(
        "SELECT m.version FROM crm.deployments d JOIN crm.models m ON m.id OPERATOR(pg_catalog.=) d.model_id WHERE d.name OPERATOR(pg_catalog.=) $1 FOR UPDATE OF d",
        &[name.into()],
    )
    .ok()
    .flatten();
    Spi::run_with_args(
        "INSERT INTO crm.deployments (name, model_id, reason) VALUES ($1, $2, $3)
         ON CONFLICT (name) DO UPDATE SET model_id = EXCLUDED.model_id, deployed_at = pg_catalog.now(), deployed_by = current_user, reason = EXCLUDED.reason",
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
    crate::pg::source::check_writable(&format!("drop model \"{name}\""))?;
    let model_id = Spi::get_one_with_args::<i64>(
        "SELECT id FROM crm.models WHERE name OPERATOR(pg_catalog.=) $1 AND version OPERATOR(pg_catalog.=) $2",
        &[name.into(), version.into()],
    )
    .ok()
    .flatten()
    .ok_or_else(|| CrmError::UnknownModel(format!("model \"{name}\" has no version {version}")))?;
    let deployed = Spi::get_one_with_args::<bool>("SELECT EXISTS (SELECT 1 FROM crm.deployments WHERE model_id OPERATOR(pg_catalog.=) $1)", &[model_id.into()])
        .ok()
        .flatten()
        .unwrap_or(false);
    if deployed && !force {
        return Err(CrmError::InvalidArgument(format!(
            "model \"{name}\" version {version} is deployed; deploy another version first, or call crm.drop_model('{name}', {version}, force => true)"
        )));
    }
    Spi::run_with_args("DELETE FROM crm.deployments WHERE model_id OPERATOR(pg_catalog.=) $1", &[model_id.into()])
        .and_then(|_| Spi::run_with_args("DELETE FROM crm.models WHERE id OPERATOR(pg_catalog.=) $1", &[model_id.into()]))
        .map_err(|e| CrmError::InvalidArgument(format!("cannot drop model \"{name}\" version {version}: {e}")))
}

/// This backend's caches: decoded models (count and stored bytes, bounded by
/// `crm.model_cache_mb`) and row layouts (bounded by count). For operators and tests.
#[pg_extern(volatile, parallel_safe)]
fn cache_stats() -> pgrx::JsonB {
    let (models, model_bytes) = cache_usage();
    pgrx::JsonB(serde_json::json!({
        "models": models,
        "model_bytes": model_bytes,
        "model_cache_limit_bytes": MODEL_CACHE_MB.get().max(0) as usize * 1024 * 1024,
        "row_layouts": crate::pg::row_reader::cached_layouts(),
        "row_layouts_limit": crate::pg::row_reader::MAX_LAYOUTS,
    }))
}
