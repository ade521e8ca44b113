//! Supervised classifiers for churn and other yes/no targets: feature preparation,
//! algorithms, holdout metrics, and the SQL surface (`train_classifier`, `score`,
//! `churn_score`, `explain`).

pub mod boosting;
pub mod calibration;
pub mod features;
pub mod forest;
pub mod logistic;
pub mod metrics;
pub mod model;
pub mod options;
pub mod sql;
pub mod tree;
pub mod trigger;
pub mod tune;
