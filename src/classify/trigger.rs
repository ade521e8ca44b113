//! `crm.score_trigger(model, column)`: keeps a score column fresh as rows change.
//!
//! ```sql
//! CREATE TRIGGER churn_score BEFORE INSERT OR UPDATE ON customers
//!     FOR EACH ROW EXECUTE FUNCTION crm.score_trigger('churn', 'churn_score');
//! ```

use pgrx::prelude::*;
use pgrx::{AllocatedByRust, PgTrigger, PgTriggerError};

use crate::error::sql::OrRaise;
use crate::error::CrmError;

#[pg_trigger]
fn score_trigger<'a>(trigger: &'a PgTrigger<'a>) -> std::result::Result<Option<PgHeapTuple<'a, AllocatedByRust>>, PgTriggerError> {
    let args = trigger.extra_args()?;
    let [model, column] = args.as_slice() else {
        CrmError::InvalidArgument(format!(
            "crm.score_trigger takes two arguments, the model name and the float8 column to write: EXECUTE FUNCTION crm.score_trigger('churn', 'churn_score'); got {}",
            args.len()
        ))
        .raise()
    };
    if !matches!(trigger.level(), pgrx::PgTriggerLevel::Row) || !matches!(trigger.when()?, pgrx::PgTriggerWhen::Before) {
        CrmError::InvalidArgument("crm.score_trigger must be a BEFORE ... FOR EACH ROW trigger".into()).raise()
    }
    let Some(row) = trigger.new() else {
        CrmError::InvalidArgument("crm.score_trigger fires on INSERT or UPDATE only".into()).raise()
    };
    let Some(datum) = row.into_composite_datum() else {
        CrmError::InvalidArgument("crm.score_trigger: the new row cannot be read".into()).raise()
    };
    // SAFETY: a composite datum made from the new row, valid for this call.
    let score = unsafe { super::sql::score_composite(model, datum) }.or_raise();
    let mut updated = trigger.new().ok_or(PgTriggerError::NotTrigger)?.into_owned();
    if updated.set_by_name(column, score).is_err() {
        CrmError::InvalidArgument(format!(
            "crm.score_trigger: column \"{column}\" must exist in the table and be of type double precision (float8)"
        ))
        .raise()
    }
    Ok(Some(updated))
}
