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

/// How a training function decides whether its new version replaces the deployed one.
pub struct DeployRule<'a> {
    /// The training function, for the deploy log's reason (`train_classifier`).
    pub function: &'a str,
    /// The holdout measure compared, as messages name it (`ROC AUC`, `rmse`).
    pub measure: &'a str,
    pub higher_is_better: bool,
    /// Decimals shown in the reason and the notice.
    pub digits: usize,
    /// The new version's holdout value.
    pub new_value: f64,
    /// The deployed version's value of the same measure, when something is deployed and
    /// has it.
    pub current: Option<f64>,
}

/// Deploys `version` of `name` when nothing is deployed yet or when it beats the deployed
/// version by `rule`; otherwise keeps it undeployed with a NOTICE saying how to deploy it.
/// Returns whether it was deployed. Called after `store_model`, whose lock on the name
/// makes the check sound.
pub fn deploy_if_better(name: &str, version: i32, rule: &DeployRule<'_>) -> CrmResult<bool> {
    let deployed_now =
        crate::pg::source::read_one::<bool>("SELECT EXISTS (SELECT 1 FROM crm.deployments WHERE name OPERATOR(pg_catalog.=) $1)", &[name.into()])?
            .unwrap_or(false);
    let (new, d, measure) = (rule.new_value, rule.digits, rule.measure);
    let better = |c: f64| if rule.higher_is_better { new > c } else { new < c };
    let deploy = !deployed_now || rule.current.is_none_or(better);
    if deploy {
        let reason = match rule.current {
            Some(c) if deployed_now => {
                format!("{}: holdout {measure} {new:.d$} {} {c:.d$}", rule.function, if rule.higher_is_better { ">" } else { "<" })
            }
            _ => format!("{}: first deployed version", rule.function),
        };
        deploy_version(name, version, &reason)?;
    } else {
        pgrx::notice!(
            "model \"{name}\" version {version} kept undeployed: holdout {measure} {new:.d$} does not beat the deployed version's {:.d$}; deploy it with crm.deploy('{name}', {version})",
            rule.current.unwrap_or(f64::NAN)
        );
    }
    Ok(deploy)
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
        .map_err(|e| CrmError::InvalidArgument(format!("cannot drop model \"{name}\" version {version}: {e}")))?;
    // The last version of a stored matcher takes its key store (copies of customer data)
    // with it; its merge log stays, for the tables that followed it.
    let versions_left = Spi::get_one_with_args::<bool>("SELECT EXISTS (SELECT 1 FROM crm.models WHERE name OPERATOR(pg_catalog.=) $1)", &[name.into()])
        .ok()
        .flatten()
        .unwrap_or(true);
    if !versions_left {
        crate::unify::matcher_sql::forget_key_store(name)?;
    }
    Ok(())
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
