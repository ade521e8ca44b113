//! `algorithm` and `options jsonb` of `train_recommender`, parsed once into checked values
//! (an unknown key or a bad value is one 22023 error naming it and what is accepted).

use serde_json::Value;

use super::als::AlsOptions;
use super::interactions::SplitOptions;
use super::item_knn::{ItemKnnOptions, Similarity};
use super::model::{default_candidates, Algorithm, AutoOptions, Candidate};
use crate::error::{CrmError, Result};
use crate::options;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Choice {
    Auto,
    Popular,
    ItemKnn,
    Als,
}

#[derive(Debug, Clone, PartialEq)]
pub struct RecommenderOptions {
    pub choice: Choice,
    pub customer: Option<String>,
    pub item: Option<String>,
    pub weight: Option<String>,
    pub time: Option<String>,
    pub similarity: Option<Similarity>,
    pub knn: ItemKnnOptions,
    pub als: AlsOptions,
    pub split: SplitOptions,
    /// Hold out and evaluate before the final fit (always for `auto`).
    pub evaluate: bool,
    pub deploy: bool,
    /// `options.time_budget` in seconds: None = `DEFAULT_TIME_BUDGET` unless a
    /// hyperparameter was given (then no search).
    pub time_budget: Option<f64>,
    pub hyperparameters_given: bool,
}

/// Seconds of search `train_recommender` gets by default (as `train_classifier`).
pub const DEFAULT_TIME_BUDGET: f64 = 30.0;

pub const KNOWN_OPTIONS: &str = "customer, item, weight, time (columns); neighbours, similarity, shrinkage (item_knn); \
factors, regularization, scale_regularization, alpha, iterations, cg_steps, seed (als); test_fraction, min_interactions, evaluate, deploy, time_budget";

impl RecommenderOptions {
    pub fn parse(algorithm: &str, value: &Value) -> Result<RecommenderOptions> {
        let choice = match algorithm.trim().to_ascii_lowercase().as_str() {
            "auto" => Choice::Auto,
            "popular" | "popularity" => Choice::Popular,
            "item_knn" | "itemknn" | "knn" => Choice::ItemKnn,
            "als" => Choice::Als,
            _ => return Err(CrmError::bad_argument("algorithm", algorithm, "'auto', 'popular', 'item_knn' or 'als'")),
        };
        let mut o = RecommenderOptions {
            choice,
            customer: None,
            item: None,
            weight: None,
            time: None,
            similarity: None,
            knn: ItemKnnOptions::default(),
            als: AlsOptions::default(),
            split: SplitOptions::default(),
            evaluate: true,
            deploy: true,
            time_budget: None,
            hyperparameters_given: false,
        };
        let empty = serde_json::Map::new();
        for (key, v) in options::object(value, &empty, "{\"customer\": \"customer_id\", \"item\": \"product_id\"}")? {
            o.hyperparameters_given |= matches!(
                key.as_str(),
                "neighbours" | "neighbors" | "similarity" | "shrinkage" | "factors" | "regularization" | "regularisation" | "alpha" | "iterations"
            );
            match key.as_str() {
                "time_budget" => o.time_budget = Some(options::number(key, v, 0.0, 86_400.0, "seconds in [0, 86400] (0: no search)")?),
                "customer" => o.customer = Some(options::text(key, v)?),
                "item" => o.item = Some(options::text(key, v)?),
                "weight" => o.weight = Some(options::text(key, v)?),
                "time" | "timestamp" => o.time = Some(options::text(key, v)?),
                "neighbours" | "neighbors" => o.knn.neighbours = options::integer(key, v, 1, 10_000)? as usize,
                "similarity" => {
                    o.similarity = Some(match v.as_str().map(str::to_ascii_lowercase).as_deref() {
                        Some("cosine") => Similarity::Cosine,
                        Some("bm25") => Similarity::bm25(),
                        _ => return Err(CrmError::bad_argument("options.similarity", v, "'cosine' or 'bm25'")),
                    })
                }
                "shrinkage" => o.knn.shrinkage = options::number(key, v, 0.0, 1e6, "a number >= 0")? as f32,
                "factors" => o.als.factors = options::integer(key, v, 1, 1024)? as usize,
                "regularization" | "regularisation" => o.als.regularization = options::number(key, v, 0.0, 1e6, "a number >= 0")? as f32,
                "scale_regularization" => o.als.scale_regularization = options::boolean(key, v)?,
                "alpha" => o.als.alpha = options::number(key, v, 1e-6, 1e6, "a number > 0")? as f32,
                "iterations" => o.als.iterations = options::integer(key, v, 1, 1000)? as usize,
                "cg_steps" => o.als.cg_steps = options::integer(key, v, 1, 100)? as usize,
                "seed" => {
                    o.als.seed = options::integer(key, v, 0, 1 << 53)?;
                    o.split.seed = o.als.seed;
                }
                "test_fraction" => o.split.test_fraction = options::number(key, v, 0.01, 0.9, "a number in [0.01, 0.9]")?,
                "min_interactions" => o.split.min_interactions = options::integer(key, v, 2, 1_000_000)? as usize,
                "evaluate" => o.evaluate = options::boolean(key, v)?,
                "deploy" => o.deploy = options::boolean(key, v)?,
                other => return Err(options::unknown(other, "train_recommender", KNOWN_OPTIONS)),
            }
        }
        if let Some(s) = o.similarity {
            o.knn.similarity = s;
        }
        Ok(o)
    }

    /// What to train and evaluate: one candidate, or `auto`'s list with these options.
    pub fn candidates(&self) -> Vec<Candidate> {
        let single = |name: &str, algorithm: Algorithm| vec![Candidate { name: name.into(), algorithm }];
        match self.choice {
            Choice::Popular => single("popular", Algorithm::Popular),
            Choice::ItemKnn => single("item_knn", Algorithm::ItemKnn(self.knn.clone())),
            Choice::Als => single("als", Algorithm::Als(self.als.clone())),
            Choice::Auto => default_candidates()
                .into_iter()
                .filter(|c| match (&c.algorithm, self.similarity) {
                    // A similarity named in options narrows the item_knn candidates to it.
                    (Algorithm::ItemKnn(k), Some(s)) => std::mem::discriminant(&k.similarity) == std::mem::discriminant(&s),
                    _ => true,
                })
                .map(|c| Candidate {
                    algorithm: match c.algorithm {
                        Algorithm::ItemKnn(k) => Algorithm::ItemKnn(ItemKnnOptions { similarity: k.similarity, ..self.knn.clone() }),
                        Algorithm::Als(_) => Algorithm::Als(self.als.clone()),
                        other => other,
                    },
                    ..c
                })
                .collect(),
        }
    }

    /// Seconds of hyperparameter search (0: none).
    pub fn search_budget(&self) -> f64 {
        match (self.time_budget, self.choice) {
            (Some(b), _) => b,
            (None, Choice::Popular) => 0.0,
            (None, _) if self.hyperparameters_given => 0.0,
            (None, _) => DEFAULT_TIME_BUDGET,
        }
    }

    /// The configurations the search adds, seeded: ALS factors, regularization and alpha;
    /// item-kNN neighbours and similarity (as the chosen algorithm allows).
    pub fn search_candidates(&self) -> Vec<Candidate> {
        let mut rng = crate::rng::SplitMix64::new(self.als.seed ^ 0x5EA2_C4ED);
        let mut out = Vec::new();
        if matches!(self.choice, Choice::Auto | Choice::ItemKnn) {
            for _ in 0..4 {
                let neighbours = [20, 50, 100, 200, 400][rng.below_modulo(5)];
                let similarity = match self.similarity {
                    Some(s) => s,
                    None if rng.below_modulo(2) == 0 => Similarity::Cosine,
                    None => Similarity::bm25(),
                };
                let name = format!("item_knn_{}_{neighbours}", if similarity == Similarity::Cosine { "cosine" } else { "bm25" });
                out.push(Candidate { name, algorithm: Algorithm::ItemKnn(ItemKnnOptions { neighbours, similarity, ..self.knn.clone() }) });
            }
        }
        if matches!(self.choice, Choice::Auto | Choice::Als) {
            for _ in 0..6 {
                let factors = [32, 64, 128][rng.below_modulo(3)];
                let regularization = [0.01f32, 0.05, 0.1, 0.2][rng.below_modulo(4)];
                let alpha = [1.0f32, 5.0, 20.0][rng.below_modulo(3)];
                out.push(Candidate {
                    name: format!("als_{factors}_{regularization}_{alpha}"),
                    algorithm: Algorithm::Als(AlsOptions { factors, regularization, alpha, ..self.als.clone() }),
                });
            }
        }
        out
    }

    pub fn auto_options(&self) -> AutoOptions {
        let budget = self.search_budget();
        let search = if budget > 0.0 { self.search_candidates() } else { Vec::new() };
        let deadline = (budget > 0.0).then(|| std::time::Instant::now() + std::time::Duration::from_secs_f64(budget));
        AutoOptions { split: self.split.clone(), k: 10, threads: 0, candidates: self.candidates(), search, deadline }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn parses_and_rejects() {
        let o = RecommenderOptions::parse("als", &json!({"factors": 32, "customer": "user_id", "seed": 7})).unwrap();
        assert_eq!(o.als.factors, 32);
        assert_eq!(o.split.seed, 7);
        assert_eq!(o.candidates().len(), 1);
        assert_eq!(RecommenderOptions::parse("auto", &json!({})).unwrap().candidates().len(), 4);
        let bm25 = RecommenderOptions::parse("auto", &json!({"similarity": "bm25", "neighbours": 80})).unwrap();
        let knn: Vec<_> = bm25.candidates().into_iter().filter(|c| matches!(c.algorithm, Algorithm::ItemKnn(_))).collect();
        assert_eq!(knn.len(), 1);
        assert!(matches!(&knn[0].algorithm, Algorithm::ItemKnn(k) if k.neighbours == 80 && k.similarity != Similarity::Cosine));
        let e = RecommenderOptions::parse("svd", &json!({})).unwrap_err();
        assert!(e.message().contains("'als'"));
        let e = RecommenderOptions::parse("auto", &json!({"factor": 3})).unwrap_err();
        assert!(e.message().contains("factor") && e.message().contains("regularization"));
        assert!(RecommenderOptions::parse("als", &json!({"factors": 0})).is_err());
        assert!(RecommenderOptions::parse("item_knn", &json!({"similarity": "jaccard"})).is_err());
    }
}
