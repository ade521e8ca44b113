//! `options jsonb` of `train_regressor`, parsed once into checked values: an unknown key
//! or a bad value is one precise 22023 error naming it and what is accepted. Keys shared
//! with `train_classifier` mean the same and accept the same values.

use serde_json::{Map, Value};

use crate::classify::boosting::BoostingParams;
use crate::classify::forest::{ForestParams, MaxFeatures};
use crate::classify::options::max_features;
use crate::error::{CrmError, Result};
use crate::options::{boolean, names, number, object, text, unknown};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RegressAlgorithm {
    /// Ridge, gradient boosting and random forest; the best on the holdout is kept.
    Auto,
    Ridge,
    GradientBoosting,
    RandomForest,
}

impl RegressAlgorithm {
    pub fn parse(name: &str) -> Result<RegressAlgorithm> {
        match name.trim().to_ascii_lowercase().as_str() {
            "auto" => Ok(RegressAlgorithm::Auto),
            "ridge" | "linear" => Ok(RegressAlgorithm::Ridge),
            "gradient_boosting" | "gbt" | "gbm" => Ok(RegressAlgorithm::GradientBoosting),
            "random_forest" | "rf" => Ok(RegressAlgorithm::RandomForest),
            _ => Err(CrmError::bad_argument("algorithm", name, "'auto', 'ridge' (or 'linear'), 'gradient_boosting' or 'random_forest'")),
        }
    }
}

/// What gradient boosting minimises (ridge and the forest always fit squared error), and
/// how 'auto' compares candidates: squared error by holdout RMSE, the others by holdout
/// mean Poisson deviance.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum RegressionLoss {
    SquaredError,
    /// Poisson deviance with a log link: counts (orders, visits), many zeros.
    Poisson,
    /// Tweedie deviance with a log link and power in (1, 2): a compound Poisson–gamma,
    /// for amounts with an exact zero mass (spend per customer).
    Tweedie {
        power: f64,
    },
}

impl RegressionLoss {
    pub fn name(self) -> &'static str {
        match self {
            RegressionLoss::SquaredError => "squared_error",
            RegressionLoss::Poisson => "poisson",
            RegressionLoss::Tweedie { .. } => "tweedie",
        }
    }

    /// Whether the loss needs a target ≥ 0 (its log link predicts positive values).
    pub fn needs_non_negative_target(self) -> bool {
        !matches!(self, RegressionLoss::SquaredError)
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct RegressOptions {
    pub algorithm: RegressAlgorithm,
    pub test_fraction: f64,
    pub seed: u64,
    pub split: Option<String>,
    pub refit: bool,
    pub exclude: Vec<String>,
    pub key: Option<String>,
    pub max_levels: usize,
    pub min_level_count: usize,
    /// Ridge's L2 penalty on the (standardised) coefficients, not on the intercept.
    pub alpha: f64,
    pub loss: RegressionLoss,
    pub boosting: BoostingParams,
    pub forest: ForestParams,
}

impl Default for RegressOptions {
    fn default() -> Self {
        RegressOptions {
            algorithm: RegressAlgorithm::Auto,
            test_fraction: 0.2,
            seed: 42,
            split: None,
            refit: true,
            exclude: Vec::new(),
            key: None,
            max_levels: 20,
            min_level_count: 5,
            alpha: 1.0,
            loss: RegressionLoss::SquaredError,
            boosting: BoostingParams::default(),
            // Every column at every split, as scikit-learn's RandomForestRegressor: for a
            // real target the √d draw of classifiers loses accuracy (Breiman suggested d/3,
            // scikit-learn moved to 1.0 in 1.1).
            forest: ForestParams { max_features: MaxFeatures::Fraction(1.0), ..ForestParams::default() },
        }
    }
}

pub const KNOWN_OPTIONS: &str = "test_fraction, seed, split, refit, exclude, key, max_levels, min_level_count, alpha (ridge), loss, tweedie_power, max_trees, learning_rate, l2_regularization, early_stopping, early_stopping_rounds (gradient_boosting), n_trees, max_features, max_depth, bootstrap (random_forest), max_leaves, min_samples_leaf (both tree algorithms)";

impl RegressOptions {
    pub fn parse(algorithm: &str, options: &Value) -> Result<RegressOptions> {
        let mut o = RegressOptions { algorithm: RegressAlgorithm::parse(algorithm)?, ..Default::default() };
        let empty = Map::new();
        let map = object(options, &empty, "{\"test_fraction\": 0.2}")?;
        // tweedie_power may come before or after loss: applied once all keys are read.
        let mut loss_name: Option<String> = None;
        let mut tweedie_power: Option<f64> = None;
        for (key, v) in map {
            match key.as_str() {
                "test_fraction" => o.test_fraction = number(key, v, 0.01, 0.9, "a number in [0.01, 0.9]")?,
                "seed" => o.seed = number(key, v, 0.0, 9.007e15, "a non-negative integer")? as u64,
                "split" => o.split = Some(text(key, v)?),
                "refit" => o.refit = boolean(key, v)?,
                "exclude" => o.exclude = names(key, v)?,
                "key" | "id" => o.key = Some(text(key, v)?),
                "max_levels" => o.max_levels = number(key, v, 1.0, 1000.0, "an integer in [1, 1000]")? as usize,
                "min_level_count" => o.min_level_count = number(key, v, 1.0, 1e9, "a positive integer")? as usize,
                "alpha" => o.alpha = number(key, v, 0.0, 1e12, "a non-negative number")?,
                "loss" => {
                    let name = text(key, v)?.trim().to_ascii_lowercase();
                    if !["squared_error", "poisson", "tweedie"].contains(&name.as_str()) {
                        return Err(CrmError::bad_argument("options.loss", v, "'squared_error', 'poisson' or 'tweedie'"));
                    }
                    loss_name = Some(name);
                }
                "tweedie_power" => {
                    let p = number(key, v, 1.0, 2.0, "a number strictly between 1 and 2")?;
                    if p <= 1.0 || p >= 2.0 {
                        return Err(CrmError::bad_argument("options.tweedie_power", v, "a number strictly between 1 and 2"));
                    }
                    tweedie_power = Some(p);
                }
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
                "early_stopping" => o.boosting.early_stopping = Some(boolean(key, v)?),
                "early_stopping_rounds" => o.boosting.early_stopping_rounds = number(key, v, 1.0, 10_000.0, "an integer in [1, 10000]")? as usize,
                "n_trees" => o.forest.n_trees = number(key, v, 1.0, 10_000.0, "an integer in [1, 10000]")? as usize,
                "max_features" => o.forest.max_features = max_features(v)?,
                "max_depth" => {
                    o.forest.max_depth = match v {
                        Value::Null => None,
                        _ => Some(number(key, v, 1.0, 1000.0, "an integer in [1, 1000] or null (unlimited)")? as usize),
                    }
                }
                "bootstrap" => o.forest.bootstrap = boolean(key, v)?,
                other => return Err(unknown(other, "train_regressor", KNOWN_OPTIONS)),
            }
        }
        o.loss = match (loss_name.as_deref(), tweedie_power) {
            (Some("tweedie"), power) => RegressionLoss::Tweedie { power: power.unwrap_or(1.5) },
            // a power without the Tweedie loss would be silently ignored: say so instead
            (_, Some(_)) => {
                return Err(CrmError::InvalidArgument("option \"tweedie_power\" needs \"loss\": \"tweedie\"".into()));
            }
            (Some("poisson"), None) => RegressionLoss::Poisson,
            _ => RegressionLoss::SquaredError,
        };
        Ok(o)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn parses_defaults_aliases_and_losses() {
        let o = RegressOptions::parse("linear", &json!({"alpha": 0.5, "exclude": "id", "test_fraction": 0.3})).unwrap();
        assert_eq!((o.algorithm, o.alpha, o.test_fraction, o.exclude.clone()), (RegressAlgorithm::Ridge, 0.5, 0.3, vec!["id".to_string()]));
        assert_eq!(o.loss, RegressionLoss::SquaredError);
        assert_eq!(o.forest.max_features, MaxFeatures::Fraction(1.0), "regression forests try every column by default");
        assert_eq!(RegressOptions::parse("auto", &Value::Null).unwrap().algorithm, RegressAlgorithm::Auto);
        assert_eq!(RegressOptions::parse("rf", &json!({})).unwrap().algorithm, RegressAlgorithm::RandomForest);
        assert_eq!(RegressOptions::parse("auto", &json!({"loss": "Poisson"})).unwrap().loss, RegressionLoss::Poisson);
        assert_eq!(RegressOptions::parse("auto", &json!({"loss": "tweedie"})).unwrap().loss, RegressionLoss::Tweedie { power: 1.5 });
        // the order of keys does not matter
        assert_eq!(RegressOptions::parse("auto", &json!({"tweedie_power": 1.2, "loss": "tweedie"})).unwrap().loss, RegressionLoss::Tweedie { power: 1.2 });
        let o = RegressOptions::parse("gradient_boosting", &json!({"max_trees": 50, "min_samples_leaf": 5, "n_trees": 7, "max_depth": 4})).unwrap();
        assert_eq!((o.boosting.max_iter, o.boosting.min_samples_leaf, o.forest.min_samples_leaf, o.forest.n_trees), (50, 5, 5, 7));
        assert_eq!(o.forest.max_depth, Some(4));
    }

    #[test]
    fn rejects_with_22023_naming_the_key() {
        let e = RegressOptions::parse("auto", &json!({"n_estimators": 10})).unwrap_err();
        assert_eq!(e.sqlstate(), "22023");
        assert!(e.message().contains("n_estimators") && e.message().contains("alpha") && e.message().contains("tweedie_power"), "{e}");
        // classifier-only keys are unknown here
        assert!(RegressOptions::parse("auto", &json!({"class_weight": "balanced"})).unwrap_err().message().contains("class_weight"));
        for (bad, key) in [
            (json!({"loss": "huber"}), "options.loss"),
            (json!({"loss": "tweedie", "tweedie_power": 2}), "options.tweedie_power"),
            (json!({"loss": "tweedie", "tweedie_power": 1}), "options.tweedie_power"),
            (json!({"alpha": -1}), "options.alpha"),
            (json!({"test_fraction": 0.95}), "options.test_fraction"),
            (json!({"max_features": 0}), "options.max_features"),
            (json!({"bootstrap": "yes"}), "options.bootstrap"),
        ] {
            let e = RegressOptions::parse("auto", &bad).unwrap_err();
            assert_eq!(e.sqlstate(), "22023");
            assert!(e.message().contains(key), "{bad}: {e}");
        }
        let e = RegressOptions::parse("auto", &json!({"tweedie_power": 1.3})).unwrap_err();
        assert!(e.message().contains("tweedie_power") && e.message().contains("tweedie"), "{e}");
        assert_eq!(RegressOptions::parse("svm", &json!({})).unwrap_err().sqlstate(), "22023");
        assert_eq!(RegressOptions::parse("auto", &json!([1])).unwrap_err().sqlstate(), "22023");
    }
}
