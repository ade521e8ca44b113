//! `options jsonb` of `train_classifier`, parsed once into checked values: an unknown key
//! or a bad value is one precise 22023 error naming it and what is accepted.

use serde_json::{Map, Value};

use crate::error::{CrmError, Result};
use crate::options::{number, text};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Algorithm {
    Auto,
    Logistic,
    GradientBoosting,
    RandomForest,
    /// Gradient boosting and random forest, their log-odds averaged.
    Ensemble,
}

impl Algorithm {
    pub fn parse(name: &str) -> Result<Algorithm> {
        match name.trim().to_ascii_lowercase().as_str() {
            "auto" => Ok(Algorithm::Auto),
            "logistic" | "logistic_regression" => Ok(Algorithm::Logistic),
            "gradient_boosting" | "gbt" | "gbm" => Ok(Algorithm::GradientBoosting),
            "random_forest" | "rf" => Ok(Algorithm::RandomForest),
            "ensemble" => Ok(Algorithm::Ensemble),
            _ => Err(CrmError::bad_argument("algorithm", name, "'auto', 'logistic', 'gradient_boosting', 'random_forest' or 'ensemble'")),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct TrainOptions {
    pub algorithm: Algorithm,
    pub test_fraction: f64,
    pub seed: u64,
    pub split: Option<String>,
    pub refit: bool,
    pub exclude: Vec<String>,
    pub key: Option<String>,
    pub positive: Option<String>,
    pub balanced: bool,
    pub max_levels: usize,
    pub min_level_count: usize,
    pub c: f64,
    pub max_iter: u64,
    pub tol: f64,
    pub boosting: super::boosting::BoostingParams,
    pub forest: super::forest::ForestParams,
    /// `options.calibration`: how probabilities are calibrated after training.
    pub calibration: super::calibration::Method,
    /// `options.cv_folds`: folds of the hyperparameter search and of calibration.
    pub cv_folds: usize,
    /// `options.time_budget` in seconds; None: `DEFAULT_TIME_BUDGET`, or no search when
    /// hyperparameters were given.
    pub time_budget: Option<f64>,
    /// Whether any hyperparameter option was given (then nothing is searched unless
    /// `time_budget` asks for it).
    pub hyperparameters_given: bool,
}

/// Seconds of hyperparameter search 'auto' and the tree algorithms get by default: enough
/// for a few dozen fits of a 5,000-row table on two cores, so such a table trains in
/// seconds; larger tables get fewer candidates (the defaults are always among them).
pub const DEFAULT_TIME_BUDGET: f64 = 30.0;

impl TrainOptions {
    /// Seconds of hyperparameter search this training gets (0: none).
    pub fn search_budget(&self) -> f64 {
        match (self.time_budget, self.algorithm) {
            (Some(b), _) => b,
            (None, Algorithm::Logistic) => 0.0,
            (None, _) if self.hyperparameters_given => 0.0,
            (None, _) => DEFAULT_TIME_BUDGET,
        }
    }
}

impl Default for TrainOptions {
    fn default() -> Self {
        TrainOptions {
            algorithm: Algorithm::Auto,
            test_fraction: 0.2,
            seed: 42,
            split: None,
            refit: true,
            exclude: Vec::new(),
            key: None,
            positive: None,
            balanced: false,
            max_levels: 20,
            min_level_count: 5,
            c: 1.0,
            max_iter: 200,
            tol: 1e-6,
            boosting: super::boosting::BoostingParams::default(),
            forest: super::forest::ForestParams::default(),
            calibration: super::calibration::Method::None,
            cv_folds: 5,
            time_budget: None,
            hyperparameters_given: false,
        }
    }
}

pub const KNOWN_OPTIONS: &str = "test_fraction, seed, split, refit, exclude, key, positive, class_weight, max_levels, min_level_count, calibration, cv_folds, time_budget, C, max_iter, tol (logistic), max_trees, learning_rate, l2_regularization, early_stopping, early_stopping_rounds, feature_fraction, subsample (gradient_boosting), n_trees, max_features, max_depth, bootstrap (random_forest), max_leaves, min_samples_leaf (both tree algorithms)";

/// Options that set a hyperparameter: given any, the search stays off unless
/// `time_budget` is given too.
const HYPERPARAMETERS: &[&str] = &[
    "C",
    "c",
    "max_iter",
    "tol",
    "max_trees",
    "learning_rate",
    "max_leaves",
    "min_samples_leaf",
    "l2_regularization",
    "early_stopping",
    "early_stopping_rounds",
    "feature_fraction",
    "subsample",
    "n_trees",
    "max_features",
    "max_depth",
    "bootstrap",
];

/// `max_features`: an integer count, "sqrt", "log2" or a fraction in (0, 1] of the
/// encoded columns (a JSON integer is a count, a JSON number with a fraction part or
/// written as 1.0 a fraction).
pub(crate) fn max_features(v: &Value) -> Result<super::forest::MaxFeatures> {
    use super::forest::MaxFeatures;
    let accepted = "an integer count of columns, 'sqrt', 'log2' or a fraction in (0, 1]";
    let bad = || CrmError::bad_argument("options.max_features", v, accepted);
    match v {
        Value::String(s) => match s.trim().to_ascii_lowercase().as_str() {
            "sqrt" => Ok(MaxFeatures::Sqrt),
            "log2" => Ok(MaxFeatures::Log2),
            _ => Err(bad()),
        },
        Value::Number(n) if n.is_u64() => match n.as_u64() {
            Some(k) if (1..=1_000_000).contains(&k) => Ok(MaxFeatures::Count(k as usize)),
            _ => Err(bad()),
        },
        Value::Number(n) => match n.as_f64() {
            Some(f) if f > 0.0 && f <= 1.0 => Ok(MaxFeatures::Fraction(f)),
            _ => Err(bad()),
        },
        _ => Err(bad()),
    }
}

impl TrainOptions {
    pub fn parse(algorithm: &str, options: &Value) -> Result<TrainOptions> {
        let mut o = TrainOptions { algorithm: Algorithm::parse(algorithm)?, ..Default::default() };
        let empty = Map::new();
        let map = match options {
            Value::Object(m) => m,
            Value::Null => &empty,
            other => return Err(CrmError::bad_argument("options", other, "a JSON object such as '{\"test_fraction\": 0.2}'")),
        };
        for (key, v) in map {
            o.hyperparameters_given |= HYPERPARAMETERS.contains(&key.as_str());
            match key.as_str() {
                "test_fraction" => o.test_fraction = number(key, v, 0.01, 0.9, "a number in [0.01, 0.9]")?,
                "seed" => o.seed = number(key, v, 0.0, 9.007e15, "a non-negative integer")? as u64,
                "split" => o.split = Some(text(key, v)?),
                "refit" => o.refit = v.as_bool().ok_or_else(|| CrmError::bad_argument("options.refit", v, "true or false"))?,
                "exclude" => {
                    o.exclude = match v {
                        Value::Array(items) => items.iter().map(|i| text(key, i)).collect::<Result<_>>()?,
                        Value::String(s) => vec![s.clone()],
                        _ => return Err(CrmError::bad_argument("options.exclude", v, "an array of column names")),
                    }
                }
                "key" | "id" => o.key = Some(text(key, v)?),
                "positive" => {
                    o.positive = Some(match v {
                        Value::String(s) => s.clone(),
                        Value::Bool(b) => b.to_string(),
                        Value::Number(n) => n.to_string(),
                        _ => return Err(CrmError::bad_argument("options.positive", v, "the target value of the positive class")),
                    })
                }
                "class_weight" => {
                    o.balanced = match v.as_str() {
                        Some("balanced") => true,
                        Some("none") => false,
                        _ if v.is_null() => false,
                        _ => return Err(CrmError::bad_argument("options.class_weight", v, "'balanced' or null")),
                    }
                }
                "max_levels" => o.max_levels = number(key, v, 1.0, 1000.0, "an integer in [1, 1000]")? as usize,
                "min_level_count" => o.min_level_count = number(key, v, 1.0, 1e9, "a positive integer")? as usize,
                "C" | "c" => o.c = number(key, v, 1e-9, 1e12, "a positive number")?,
                "max_iter" => o.max_iter = number(key, v, 1.0, 100_000.0, "an integer in [1, 100000]")? as u64,
                "tol" => o.tol = number(key, v, 1e-15, 1.0, "a positive number below 1")?,
                "max_trees" => o.boosting.max_iter = number(key, v, 1.0, 10_000.0, "an integer in [1, 10000]")? as usize,
                "learning_rate" => o.boosting.learning_rate = number(key, v, 1e-4, 1.0, "a number in [0.0001, 1]")?,
                // shared by both tree algorithms (each has its own default)
                "max_leaves" => {
                    o.boosting.max_leaves = number(key, v, 2.0, 4096.0, "an integer in [2, 4096]")? as usize;
                    o.forest.max_leaves = o.boosting.max_leaves;
                }
                "min_samples_leaf" => {
                    o.boosting.min_samples_leaf = number(key, v, 1.0, 1e9, "a positive integer")? as usize;
                    o.forest.min_samples_leaf = o.boosting.min_samples_leaf;
                }
                "l2_regularization" => o.boosting.l2 = number(key, v, 0.0, 1e6, "a non-negative number")?,
                "early_stopping" => {
                    o.boosting.early_stopping = Some(v.as_bool().ok_or_else(|| CrmError::bad_argument("options.early_stopping", v, "true or false"))?)
                }
                "early_stopping_rounds" => o.boosting.early_stopping_rounds = number(key, v, 1.0, 10_000.0, "an integer in [1, 10000]")? as usize,
                "n_trees" => o.forest.n_trees = number(key, v, 1.0, 10_000.0, "an integer in [1, 10000]")? as usize,
                "max_features" => o.forest.max_features = max_features(v)?,
                "max_depth" => {
                    o.forest.max_depth = match v {
                        Value::Null => None,
                        _ => Some(number(key, v, 1.0, 1000.0, "an integer in [1, 1000] or null (unlimited)")? as usize),
                    }
                }
                "bootstrap" => o.forest.bootstrap = v.as_bool().ok_or_else(|| CrmError::bad_argument("options.bootstrap", v, "true or false"))?,
                "feature_fraction" => o.boosting.feature_fraction = number(key, v, 0.01, 1.0, "a fraction in [0.01, 1]")?,
                "subsample" => o.boosting.subsample = number(key, v, 0.05, 1.0, "a fraction in [0.05, 1]")?,
                "calibration" => {
                    use super::calibration::Method;
                    o.calibration = match v.as_str().map(|s| s.trim().to_ascii_lowercase()).as_deref() {
                        Some("none") => Method::None,
                        Some("sigmoid") | Some("platt") => Method::Sigmoid,
                        Some("isotonic") => Method::Isotonic,
                        _ if v.is_null() => Method::None,
                        _ => return Err(CrmError::bad_argument("options.calibration", v, "'none', 'sigmoid' or 'isotonic'")),
                    }
                }
                "cv_folds" => o.cv_folds = number(key, v, 2.0, 20.0, "an integer in [2, 20]")? as usize,
                "time_budget" => o.time_budget = Some(number(key, v, 0.0, 86_400.0, "seconds in [0, 86400] (0: no hyperparameter search)")?),
                other => return Err(CrmError::InvalidArgument(format!("unknown option \"{other}\" for train_classifier; accepted: {KNOWN_OPTIONS}"))),
            }
        }
        Ok(o)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn parses_and_rejects() {
        let o = TrainOptions::parse("logistic", &json!({"test_fraction": 0.3, "exclude": ["id"], "class_weight": "balanced", "C": 0.5})).unwrap();
        assert_eq!(o.test_fraction, 0.3);
        assert!(o.balanced);
        assert_eq!(o.exclude, vec!["id"]);
        let e = TrainOptions::parse("auto", &json!({"momentum": 0.1})).unwrap_err();
        assert!(e.message().contains("momentum") && e.message().contains("test_fraction"));
        assert_eq!(TrainOptions::parse("auto", &json!({"test_fraction": 2})).unwrap_err().sqlstate(), "22023");
        assert_eq!(TrainOptions::parse("svm", &json!({})).unwrap_err().sqlstate(), "22023");
        assert_eq!(TrainOptions::parse("gradient_boosting", &json!({"max_trees": 50})).unwrap().boosting.max_iter, 50);
    }

    #[test]
    fn random_forest_options() {
        use crate::classify::forest::MaxFeatures;
        let o = TrainOptions::parse("random_forest", &json!({})).unwrap();
        assert_eq!(o.algorithm, Algorithm::RandomForest);
        assert_eq!(
            (o.forest.n_trees, o.forest.max_features, o.forest.max_depth, o.forest.min_samples_leaf, o.forest.bootstrap),
            (100, MaxFeatures::Sqrt, None, 1, true)
        );
        assert_eq!(o.boosting.min_samples_leaf, 20, "each tree algorithm keeps its own default");
        let o = TrainOptions::parse(
            "random_forest",
            &json!({"n_trees": 300, "max_features": "log2", "max_depth": 12, "bootstrap": false, "min_samples_leaf": 5, "max_leaves": 1000}),
        )
        .unwrap();
        assert_eq!((o.forest.n_trees, o.forest.max_features, o.forest.max_depth, o.forest.bootstrap), (300, MaxFeatures::Log2, Some(12), false));
        assert_eq!((o.forest.min_samples_leaf, o.forest.max_leaves, o.boosting.min_samples_leaf), (5, 1000, 5));
        let mf = |v: serde_json::Value| TrainOptions::parse("random_forest", &json!({ "max_features": v })).map(|o| o.forest.max_features);
        assert_eq!(mf(json!(7)).unwrap(), MaxFeatures::Count(7));
        assert_eq!(mf(json!(0.5)).unwrap(), MaxFeatures::Fraction(0.5));
        assert_eq!(mf(json!(1.0)).unwrap(), MaxFeatures::Fraction(1.0));
        assert_eq!(mf(json!("SQRT")).unwrap(), MaxFeatures::Sqrt);
        for bad in [json!(0), json!(1.5), json!(-2), json!("all"), json!(true)] {
            assert_eq!(mf(bad).unwrap_err().sqlstate(), "22023");
        }
        assert_eq!(TrainOptions::parse("random_forest", &json!({"max_depth": null})).unwrap().forest.max_depth, None);
        for bad in [json!({"n_trees": 0}), json!({"max_depth": 0}), json!({"bootstrap": "yes"})] {
            assert_eq!(TrainOptions::parse("random_forest", &bad).unwrap_err().sqlstate(), "22023");
        }
        let e = TrainOptions::parse("random_forest", &json!({"n_estimators": 10})).unwrap_err();
        assert!(e.message().contains("n_estimators") && e.message().contains("n_trees") && e.message().contains("max_features"));
        assert_eq!(TrainOptions::parse("rf", &json!({})).unwrap().algorithm, Algorithm::RandomForest);
    }
}
