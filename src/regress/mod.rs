//! Supervised regression for real-valued targets (spend, order counts, tenure): ridge,
//! gradient-boosted trees (squared error, Poisson or Tweedie loss) and random forests on
//! the classifier's feature preparation and tree code, with holdout metrics. Pure Rust
//! but for `sql.rs`, the SQL surface (`crm.train_regressor`).

pub mod boosting;
pub mod forest;
pub mod linear;
pub mod metrics;
pub mod model;
pub mod options;
pub mod sql;
