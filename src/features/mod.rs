//! Feature preparation: normalisation summaries (`scaler_agg`) and their application.

pub mod scaler;
pub mod sketch;
pub mod sql;
