//! `crm.score_trigger(model, column [, reasons_column])`: keeps a score column fresh as
//! rows change, and optionally the row's top reasons next to it.
//!
//! ```sql
//! CREATE TRIGGER churn_score BEFORE INSERT OR UPDATE ON customers
//!     FOR EACH ROW EXECUTE FUNCTION crm.score_trigger('churn', 'churn_score', 'churn_reasons');
//! ```
//!
//! A raw V1 trigger function: per row it reads the model's columns straight from the new
//! tuple (deformed once) and forms the new tuple with the score once. What does not change
//! between rows (arguments, column numbers and types, the model) is resolved once per
//! statement and kept in `fn_extra`.

use std::ffi::CStr;

use pgrx::prelude::*;
use pgrx::{IntoDatum, JsonB};
use serde_json::json;

use super::features::Value;
use crate::error::sql::OrRaise;
use crate::error::{CrmError, Result as CrmResult};
use crate::pg::aggregate::V1_FINFO;
use crate::pg::invalidation::generation;
use crate::pg::memo;
use crate::pg::row_reader::{for_each_feature_of_tuple, for_each_feature_of_values, Cell, RowMapMemo};
use crate::pg::tuple::{column, in_place_offset, score_is_the_only_null_and_last, with_score_appended};
use crate::supervised::Supervised;

/// Reasons written to the optional third column.
const TOP_REASONS: usize = 3;

#[derive(Clone, Copy, PartialEq)]
enum ReasonsType {
    Text,
    Jsonb,
}

/// What one trigger keeps for the rest of the statement.
struct TriggerMemo {
    trigger_oid: pg_sys::Oid,
    /// The catalog generation the column numbers and types were read at.
    generation: u64,
    /// A classifier (the score is its probability) or a regressor (its prediction).
    model: Supervised,
    score_attnum: i32,
    reasons: Option<(i32, ReasonsType)>,
    /// The model's feature names, for the reasons column.
    feature_names: Vec<String>,
    row_map: RowMapMemo,
    buffer: Vec<f64>,
    /// The deformed row, reused between rows.
    values: Vec<pg_sys::Datum>,
    nulls: Vec<bool>,
}

fn bad(message: String) -> CrmError {
    CrmError::InvalidArgument(format!("crm.score_trigger: {message}"))
}

unsafe fn make_memo(trigger: *mut pg_sys::Trigger, tupdesc: pg_sys::TupleDesc) -> CrmResult<TriggerMemo> {
    // SAFETY (whole fn): the trigger and descriptor of the firing trigger.
    let args: Vec<String> =
        unsafe { (0..(*trigger).tgnargs as usize).map(|i| CStr::from_ptr(*(*trigger).tgargs.add(i)).to_string_lossy().into_owned()).collect() };
    let (model_name, score_column, reasons_column) = match args.as_slice() {
        [m, s] => (m.clone(), s.clone(), None),
        [m, s, r] => (m.clone(), s.clone(), Some(r.clone())),
        _ => {
            return Err(bad(format!(
                "takes the model name, the float8 column to write and optionally a text or jsonb column for the reasons: \
                 EXECUTE FUNCTION crm.score_trigger('churn', 'churn_score' [, 'churn_reasons']); got {} arguments",
                args.len()
            )))
        }
    };
    let score_attnum = match unsafe { column(tupdesc, &score_column) } {
        Some((attnum, pg_sys::FLOAT8OID)) => attnum,
        _ => return Err(bad(format!("column \"{score_column}\" must exist in the table and be of type double precision (float8)"))),
    };
    let reasons = match reasons_column.clone() {
        None => None,
        Some(name) => match unsafe { column(tupdesc, &name) } {
            Some((attnum, pg_sys::TEXTOID)) => Some((attnum, ReasonsType::Text)),
            Some((attnum, pg_sys::JSONBOID)) => Some((attnum, ReasonsType::Jsonb)),
            _ => return Err(bad(format!("reasons column \"{name}\" must exist in the table and be of type text or jsonb"))),
        },
    };
    let model = Supervised::deployed(&model_name)?;
    let feature_names: Vec<String> = model.feature_list().into_iter().map(|(name, _)| name).collect();
    // The trigger writes these columns: writing one the model reads would change the
    // row's features under the score.
    for (what, written) in std::iter::once(("score", &score_column)).chain(reasons_column.iter().map(|r| ("reasons", r))) {
        if feature_names.contains(written) {
            return Err(bad(format!("the {what} column \"{written}\" is one of the model's features; give the trigger a column of its own")));
        }
    }
    if reasons_column.as_ref() == Some(&score_column) {
        return Err(bad(format!("the score and reasons columns must differ (both \"{score_column}\")")));
    }
    Ok(TriggerMemo {
        trigger_oid: unsafe { (*trigger).tgoid },
        generation: generation(),
        model,
        feature_names,
        score_attnum,
        reasons,
        row_map: None,
        buffer: Vec::new(),
        values: Vec::new(),
        nulls: Vec::new(),
    })
}

/// The row's top reasons, as "feature = value (+0.84)" lines or a jsonb array
/// (contributions in log-odds for a classifier, in the prediction's units for a regressor).
fn reasons_datum(model: &Supervised, names: &[String], cells: &[Cell<'_>], kind: ReasonsType) -> pg_sys::Datum {
    let values: Vec<Value<'_>> = cells.iter().map(Cell::as_value).collect();
    let (_, contributions) = model.model().explain(&values);
    let mut top: Vec<usize> = (0..contributions.len()).collect();
    top.sort_by(|&a, &b| contributions[b].abs().total_cmp(&contributions[a].abs()));
    top.truncate(TOP_REASONS);
    let datum = match kind {
        ReasonsType::Text => top
            .iter()
            .map(|&i| {
                let value = cells[i].display().unwrap_or_else(|| "NULL".into());
                format!("{} = {} ({:+.3})", names[i], value, contributions[i])
            })
            .collect::<Vec<_>>()
            .join("; ")
            .into_datum(),
        ReasonsType::Jsonb => {
            JsonB(json!(top.iter().map(|&i| json!({"feature": names[i], "value": cells[i].display(), "contribution": contributions[i]})).collect::<Vec<_>>()))
                .into_datum()
        }
    };
    datum.unwrap_or(pg_sys::Datum::from(0))
}

#[no_mangle]
pub extern "C" fn pg_finfo_crm_score_trigger() -> &'static pg_sys::Pg_finfo_record {
    &V1_FINFO
}

/// # Safety
/// Called by Postgres only, as the trigger function `crm.score_trigger()`.
#[no_mangle]
#[pg_guard]
pub unsafe extern "C-unwind" fn crm_score_trigger(fcinfo: pg_sys::FunctionCallInfo) -> pg_sys::Datum {
    // SAFETY (whole fn): fcinfo is the live call; when its context is TriggerData the
    // executor guarantees the relation, trigger and tuples are valid for this call.
    unsafe {
        let context = (*fcinfo).context;
        if context.is_null() || (*context).type_ != pg_sys::NodeTag::T_TriggerData {
            bad("must be called as a trigger (EXECUTE FUNCTION crm.score_trigger(...))".into()).raise();
        }
        let data = context as *mut pg_sys::TriggerData;
        let event = (*data).tg_event;
        if event & pg_sys::TRIGGER_EVENT_ROW == 0 || event & pg_sys::TRIGGER_EVENT_TIMINGMASK != pg_sys::TRIGGER_EVENT_BEFORE {
            bad("must be a BEFORE ... FOR EACH ROW trigger".into()).raise();
        }
        let tuple = match event & pg_sys::TRIGGER_EVENT_OPMASK {
            pg_sys::TRIGGER_EVENT_INSERT => (*data).tg_trigtuple,
            pg_sys::TRIGGER_EVENT_UPDATE => (*data).tg_newtuple,
            _ => bad("fires on INSERT or UPDATE only".into()).raise(),
        };
        let relation = (*data).tg_relation;
        let tupdesc = (*relation).rd_att;
        let row_type = (*(*relation).rd_rel).reltype;

        let trigger = (*data).tg_trigger;
        // The memo lives for the statement; it is made again after a catalog change (the
        // row layouts it holds are checked by row_reader on their own).
        let memo = memo::call_site(fcinfo, |m: &TriggerMemo| m.trigger_oid == (*trigger).tgoid && m.generation == generation(), || make_memo(trigger, tupdesc))
            .or_raise();
        let entry = memo.model.clone();
        let names = || entry.model_features();
        let features = entry.feature_set();
        memo.buffer.resize(features.width, 0.0);
        let score_at = (memo.score_attnum - 1) as usize;

        if memo.reasons.is_none() {
            let slot = if event & pg_sys::TRIGGER_EVENT_OPMASK == pg_sys::TRIGGER_EVENT_INSERT { (*data).tg_trigslot } else { (*data).tg_newslot };
            if let Some(offset) = in_place_offset(slot, tuple, tupdesc, score_at) {
                // The score column already holds a value (an UPDATE, or a column with a
                // DEFAULT) in the slot's own copy of the row: read the features straight
                // from it, overwrite the score's 8 bytes and return the same tuple, so
                // the executor neither copies the tuple back into the slot nor forms it
                // again (measured on 100k inserts: forming a new tuple alone costs 1.35x
                // a plain insert, returning the same one 1.1x).
                let buffer = &mut memo.buffer;
                for_each_feature_of_tuple(tuple, row_type, entry.id(), names, &mut memo.row_map, |i, cell| features.encode_into(i, (&cell).into(), buffer))
                    .or_raise();
                let score = entry.output_encoded(buffer);
                let data_area = ((*tuple).t_data as *mut u8).add((*(*tuple).t_data).t_hoff as usize);
                std::ptr::write_unaligned(data_area.add(offset) as *mut f64, score);
                // The slot may hold values deformed before this trigger (a WHEN clause):
                // make it deform the row again, so indexes and RETURNING see the score.
                (*slot).tts_nvalid = 0;
                (*(slot as *mut pg_sys::HeapTupleTableSlot)).off = 0;
                return pg_sys::Datum::from(tuple);
            }
        }

        // Otherwise one deform of the new row and the features read from it: cheaper than
        // reading each feature from the tuple (with the score NULL on insert every read is
        // a guarded call into Postgres that walks the null bitmap).
        let natts = (*tupdesc).natts as usize;
        memo.values.resize(natts, pg_sys::Datum::from(0));
        memo.nulls.resize(natts, true);
        pg_sys::heap_deform_tuple(tuple, tupdesc, memo.values.as_mut_ptr(), memo.nulls.as_mut_ptr());
        let reasons = if let Some((attnum, kind)) = memo.reasons {
            let mut cells: Vec<Cell<'_>> = Vec::with_capacity(features.features.len());
            for_each_feature_of_values(&memo.values, &memo.nulls, row_type, entry.id(), names, &mut memo.row_map, |_, cell| cells.push(cell)).or_raise();
            features.encode_cells(&cells, &mut memo.buffer);
            Some((attnum, reasons_datum(&entry, &memo.feature_names, &cells, kind)))
        } else {
            let buffer = &mut memo.buffer;
            for_each_feature_of_values(&memo.values, &memo.nulls, row_type, entry.id(), names, &mut memo.row_map, |i, cell| {
                features.encode_into(i, (&cell).into(), buffer)
            })
            .or_raise();
            None
        };
        if reasons.is_none() && score_is_the_only_null_and_last(tuple, tupdesc, score_at) {
            // The common shape of a new row whose score column was added last and left
            // NULL: the new row is the old one with the score appended (a copy instead
            // of forming it).
            let score = entry.output_encoded(&memo.buffer);
            return pg_sys::Datum::from(with_score_appended(tuple, score));
        }

        // Any other shape: the score (and reasons) put into the deformed row, one form
        // (heap_modify_tuple would deform and form again).
        let score = entry.output_encoded(&memo.buffer);
        memo.values[score_at] = pg_sys::Datum::from(score.to_bits());
        memo.nulls[score_at] = false;
        if let Some((attnum, datum)) = reasons {
            memo.values[(attnum - 1) as usize] = datum;
            memo.nulls[(attnum - 1) as usize] = false;
        }
        let modified = pg_sys::heap_form_tuple(tupdesc, memo.values.as_mut_ptr(), memo.nulls.as_mut_ptr());
        // The new tuple keeps the old one's identity, as heap_modify_tuple does.
        (*(*modified).t_data).t_ctid = (*(*tuple).t_data).t_ctid;
        (*modified).t_self = (*tuple).t_self;
        (*modified).t_tableOid = (*tuple).t_tableOid;
        pg_sys::Datum::from(modified)
    }
}

extension_sql!(
    r#"
CREATE FUNCTION score_trigger() RETURNS trigger
    AS 'MODULE_PATHNAME', 'crm_score_trigger' LANGUAGE C;
COMMENT ON FUNCTION score_trigger() IS
    'BEFORE INSERT OR UPDATE FOR EACH ROW trigger: EXECUTE FUNCTION crm.score_trigger(model, float8_column [, reasons_text_or_jsonb_column])';
"#,
    name = "score_trigger_function"
);
