//! A deployed supervised model of either kind — a classifier or a regressor — as the
//! functions that serve both use it: `crm.predict`, `crm.explain`, `crm.score_trigger`,
//! `crm.score_batch` and the lifecycle functions. Resolved and cached by `pg::model_cache`
//! like every model; one `match` per call, not per row of feature reading.

use std::rc::Rc;

use crate::classify::features::{FeatureSet, ValueKind};
use crate::classify::model::Classifier;
use crate::error::{CrmError, Result};
use crate::lifecycle::Monitored;
use crate::pg::model_cache::{self, Deployed, Resolved};
use crate::pg::row_reader::ModelFeatures;
use crate::regress::model::Regressor;

#[derive(Clone)]
pub enum Supervised {
    Classifier(Rc<Deployed<Classifier>>),
    Regressor(Rc<Deployed<Regressor>>),
}

impl Supervised {
    /// The deployed model `name`, a classifier or a regressor.
    pub fn deployed(name: &str) -> Result<Supervised> {
        let resolved = model_cache::resolve_deployed(name, "classifier or regressor", "crm.train_classifier or crm.train_regressor")?;
        Supervised::load(name, resolved)
    }

    /// The deployed classifier `name`, for `function` (a regressor is 22023 naming
    /// crm.predict).
    pub fn deployed_classifier(name: &str, function: &str) -> Result<Supervised> {
        let resolved = model_cache::resolve_deployed(name, "classifier", "crm.train_classifier")?;
        let model = Supervised::load(name, resolved)?;
        model.classifier(function)?;
        Ok(model)
    }

    /// Version `version` of `name` (the deployed one when None).
    pub fn version(name: &str, version: Option<i32>) -> Result<Supervised> {
        match version {
            None => Supervised::deployed(name),
            Some(v) => Supervised::load(name, model_cache::resolve_version(name, v)?),
        }
    }

    fn load(name: &str, resolved: Resolved) -> Result<Supervised> {
        match resolved.kind.as_str() {
            "classifier" => Ok(Supervised::Classifier(model_cache::load(name, resolved)?)),
            "regressor" => Ok(Supervised::Regressor(model_cache::load(name, resolved)?)),
            other => Err(CrmError::InvalidArgument(format!("model \"{name}\" is a {other} model, not a classifier or regressor"))),
        }
    }

    pub fn id(&self) -> i64 {
        match self {
            Supervised::Classifier(d) => d.id,
            Supervised::Regressor(d) => d.id,
        }
    }

    pub fn version_number(&self) -> i32 {
        match self {
            Supervised::Classifier(d) => d.version,
            Supervised::Regressor(d) => d.version,
        }
    }

    /// `model "churn" version 3`, for messages.
    pub fn who(&self) -> String {
        match self {
            Supervised::Classifier(d) => d.who(),
            Supervised::Regressor(d) => d.who(),
        }
    }

    pub fn kind(&self) -> &'static str {
        match self {
            Supervised::Classifier(_) => "classifier",
            Supervised::Regressor(_) => "regressor",
        }
    }

    pub fn algorithm(&self) -> &'static str {
        match self {
            Supervised::Classifier(d) => d.model.algorithm(),
            Supervised::Regressor(d) => d.model.algorithm(),
        }
    }

    /// The model itself, for what both kinds do alike.
    pub fn model(&self) -> &dyn Monitored {
        match self {
            Supervised::Classifier(d) => &d.model,
            Supervised::Regressor(d) => &d.model,
        }
    }

    pub fn feature_set(&self) -> &FeatureSet {
        self.model().feature_set()
    }

    /// The output for an encoded row: the positive-class probability, or the prediction.
    pub fn output_encoded(&self, x: &[f64]) -> f64 {
        match self {
            Supervised::Classifier(d) => crate::classify::logistic::sigmoid(d.model.log_odds_encoded(x)),
            Supervised::Regressor(d) => d.model.predict_encoded(x),
        }
    }

    /// The model as GPU kernel input and the link that makes the kernel's value this
    /// model's `output_encoded`; 0A000 for a predictor with no kernel (calibrated
    /// classifiers, ensembles with a logistic member).
    pub fn kernel_model(&self) -> Result<(crate::gpu::layout::KernelModel, crate::gpu::kernels::Link)> {
        let width = self.feature_set().width;
        match self {
            Supervised::Classifier(d) => Ok((crate::gpu::layout::KernelModel::from_classifier(&d.model.predictor, width)?, crate::gpu::kernels::Link::Sigmoid)),
            Supervised::Regressor(d) => crate::gpu::layout::KernelModel::from_regressor(&d.model.predictor, width),
        }
    }

    /// The classifier, or 22023 naming the function that needs one.
    pub fn classifier(&self, function: &str) -> Result<&Rc<Deployed<Classifier>>> {
        match self {
            Supervised::Classifier(d) => Ok(d),
            Supervised::Regressor(d) => Err(CrmError::InvalidArgument(format!(
                "{function} scores classifiers; model \"{}\" is a regressor model: use crm.predict('{}', row)",
                d.name, d.name
            ))),
        }
    }

    /// The features in order, with the kind of value each reads.
    pub fn feature_list(&self) -> Vec<(String, ValueKind)> {
        self.feature_set().features.iter().map(|f| (f.name().to_string(), f.kind())).collect()
    }

    /// The model side of a row layout (see `row_reader`).
    pub fn model_features(&self) -> ModelFeatures {
        ModelFeatures { who: self.who(), features: self.feature_list() }
    }
}
