//! Models and batches in the flat layout the kernels read (`kernels.cu`), built from the
//! crate's stored models. Shared by every executor: the CPU reference executor
//! (`cpu_executor`) reads these arrays in place; a GPU executor copies them to the device.
//!
//! Everything here checks what it builds, so an executor can trust the lengths and
//! offsets (every array read of a kernel stays inside its array): a model that is not
//! valid is an error, never a wild read.

use crate::classify::model::Predictor;
use crate::classify::tree::Tree;
use crate::error::{CrmError, Result};
use crate::regress::boosting::Link as RegressionLink;
use crate::regress::model::RegressionPredictor;

use super::kernels::{Link, MemberKind};

fn invalid(message: impl Into<String>) -> CrmError {
    CrmError::InvalidArgument(message.into())
}

/// `n` as the kernels' 64-bit signed size.
pub(crate) fn as_size(n: usize, what: &str) -> Result<i64> {
    i64::try_from(n).map_err(|_| invalid(format!("{what} ({n}) is too large for a kernel launch")))
}

/// How a batch's values are laid out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Order {
    /// Row after row, as the Rust scoring code encodes rows.
    RowMajor,
    /// Column after column: on the GPU, neighbouring threads (rows) then read neighbouring
    /// addresses (coalesced loads).
    ColumnMajor,
}

/// A batch of `rows` encoded rows of `width` values.
#[derive(Debug, Clone, Copy)]
pub struct Batch<'a> {
    pub values: &'a [f64],
    pub rows: usize,
    pub width: usize,
    pub order: Order,
}

impl<'a> Batch<'a> {
    pub fn new(values: &'a [f64], rows: usize, width: usize, order: Order) -> Result<Batch<'a>> {
        if rows.checked_mul(width) != Some(values.len()) {
            return Err(invalid(format!("a batch of {rows} rows of {width} values holds {} values", values.len())));
        }
        as_size(values.len(), "the batch size")?;
        Ok(Batch { values, rows, width, order })
    }

    /// (row stride, column stride): value (i, j) is at `i * row + j * column`.
    pub fn strides(&self) -> (i64, i64) {
        // `new` checked rows × width fits an i64, so both do.
        match self.order {
            Order::RowMajor => (self.width as i64, 1),
            Order::ColumnMajor => (1, self.rows as i64),
        }
    }
}

/// Tree ensembles flattened for `crm_tree_score`: the nodes of all trees one after another,
/// trees grouped into members (an ensemble has several, a boosted model or forest one).
/// Fields are public so a test can alter a model; `check` is what executors rely on.
#[derive(Debug, Clone, PartialEq)]
pub struct FlatTrees {
    /// Encoded columns of a row.
    pub width: usize,
    pub node_feature: Vec<u32>,
    pub node_threshold: Vec<f64>,
    /// Children numbered inside their tree, as `Tree` stores them; 0: a leaf.
    pub node_left: Vec<u32>,
    pub node_right: Vec<u32>,
    pub node_value: Vec<f64>,
    /// Tree t is nodes `tree_first_node[t] .. tree_first_node[t + 1]`.
    pub tree_first_node: Vec<i64>,
    /// Member m is trees `member_first_tree[m] .. member_first_tree[m + 1]`.
    pub member_first_tree: Vec<i64>,
    pub member_kind: Vec<i32>,
    pub member_base: Vec<f64>,
}

impl FlatTrees {
    pub fn new(width: usize) -> FlatTrees {
        FlatTrees {
            width,
            node_feature: Vec::new(),
            node_threshold: Vec::new(),
            node_left: Vec::new(),
            node_right: Vec::new(),
            node_value: Vec::new(),
            tree_first_node: vec![0],
            member_first_tree: vec![0],
            member_kind: Vec::new(),
            member_base: Vec::new(),
        }
    }

    /// Adds a member of `trees`, each checked by `Tree::validate` (the walk the kernel
    /// takes is then the one `Tree::leaf` takes).
    pub fn push_member(&mut self, kind: MemberKind, base: f64, trees: &[Tree]) -> Result<()> {
        for tree in trees {
            tree.validate(self.width).map_err(invalid)?;
            for node in &tree.nodes {
                self.node_feature.push(node.feature);
                self.node_threshold.push(node.threshold);
                self.node_left.push(node.left);
                self.node_right.push(node.right);
                self.node_value.push(node.value);
            }
            self.tree_first_node.push(as_size(self.node_value.len(), "the node count")?);
        }
        self.member_first_tree.push(as_size(self.tree_first_node.len() - 1, "the tree count")?);
        self.member_kind.push(kind as i32);
        self.member_base.push(base);
        Ok(())
    }

    pub fn members(&self) -> usize {
        self.member_kind.len()
    }

    /// What the kernel's array reads rely on: equal node array lengths, offsets that start
    /// at 0, never decrease and end at the array they index, one kind and base per member,
    /// at least one member. (Tree shapes need no check here: the kernel checks every child
    /// and feature it follows, and a bad one gives NaN.)
    pub fn check(&self) -> Result<()> {
        let nodes = self.node_value.len();
        if [self.node_feature.len(), self.node_threshold.len(), self.node_left.len(), self.node_right.len()].iter().any(|&n| n != nodes) {
            return Err(invalid("flattened trees: node arrays of different lengths"));
        }
        let offsets_fit = |offsets: &[i64], end: usize| {
            offsets.first() == Some(&0) && offsets.windows(2).all(|w| w[0] <= w[1]) && offsets.last().is_some_and(|&last| usize::try_from(last) == Ok(end))
        };
        if !offsets_fit(&self.tree_first_node, nodes) {
            return Err(invalid("flattened trees: tree offsets do not cover the nodes"));
        }
        if !offsets_fit(&self.member_first_tree, self.tree_first_node.len() - 1) {
            return Err(invalid("flattened trees: member offsets do not cover the trees"));
        }
        let members = self.member_first_tree.len() - 1;
        if members == 0 || self.member_kind.len() != members || self.member_base.len() != members {
            return Err(invalid("flattened trees: no member, or members without a kind or base"));
        }
        as_size(self.width, "the row width")?;
        Ok(())
    }
}

/// A classifier's or regressor's predictor as kernel input.
#[derive(Debug, Clone, PartialEq)]
pub enum KernelModel {
    /// `crm_linear_score`.
    Linear { weights: Vec<f64>, intercept: f64 },
    /// `crm_tree_score`.
    Trees(FlatTrees),
}

impl KernelModel {
    /// A classifier's predictor over encoded rows of `width` columns; the kernel's raw
    /// output is the predictor's log-odds (`Link::Sigmoid` makes it the probability).
    /// Calibrated predictors and ensembles with a logistic member have no kernel: the
    /// caller scores them on the CPU (or the uncalibrated predictor here and the
    /// calibration map on the host).
    pub fn from_classifier(predictor: &Predictor, width: usize) -> Result<KernelModel> {
        let unsupported = |what: &str| CrmError::Unsupported(format!("{what} have no GPU kernel; they are scored on the CPU"));
        let mut trees = FlatTrees::new(width);
        let mut add = |member: &Predictor| match member {
            Predictor::Boosting(m) => trees.push_member(MemberKind::Sum, m.base, &m.trees),
            Predictor::Forest(m) if m.trees.is_empty() => Err(invalid("a random forest without trees")),
            Predictor::Forest(m) => trees.push_member(MemberKind::MeanLogit, 0.0, &m.trees),
            _ => Err(unsupported("ensembles with a logistic member")),
        };
        match predictor {
            Predictor::Logistic(m) if m.weights.len() != width => Err(invalid(format!("{} weights for {width} encoded columns", m.weights.len()))),
            Predictor::Logistic(m) => Ok(KernelModel::Linear { weights: m.weights.clone(), intercept: m.intercept }),
            Predictor::Boosting(_) | Predictor::Forest(_) => {
                add(predictor)?;
                Ok(KernelModel::Trees(trees))
            }
            Predictor::Ensemble(members) if members.is_empty() => Err(invalid("an ensemble without members")),
            Predictor::Ensemble(members) => {
                members.iter().try_for_each(add)?;
                Ok(KernelModel::Trees(trees))
            }
            Predictor::Calibrated(..) => Err(unsupported("calibrated classifiers")),
        }
    }

    /// A regressor's predictor and the link that turns the kernel's raw value into the
    /// prediction (`Regressor::predict_encoded`).
    pub fn from_regressor(predictor: &RegressionPredictor, width: usize) -> Result<(KernelModel, Link)> {
        let mut trees = FlatTrees::new(width);
        match predictor {
            RegressionPredictor::Ridge(m) if m.weights.len() != width => Err(invalid(format!("{} weights for {width} encoded columns", m.weights.len()))),
            RegressionPredictor::Ridge(m) => Ok((KernelModel::Linear { weights: m.weights.clone(), intercept: m.intercept }, Link::Identity)),
            RegressionPredictor::Boosting(m) => {
                trees.push_member(MemberKind::Sum, m.base, &m.trees)?;
                let link = match m.link {
                    RegressionLink::Identity => Link::Identity,
                    RegressionLink::Log => Link::Exp,
                };
                Ok((KernelModel::Trees(trees), link))
            }
            RegressionPredictor::Forest(m) if m.trees.is_empty() => Err(invalid("a random forest without trees")),
            RegressionPredictor::Forest(m) => {
                trees.push_member(MemberKind::Mean, 0.0, &m.trees)?;
                Ok((KernelModel::Trees(trees), Link::Identity))
            }
        }
    }
}

/// A k-means segmentation (`segment::model::SegmentModel`) as kernel input: per-feature
/// preprocessing for `crm_segment_standardise`, centres for `crm_kmeans_assign`.
#[derive(Debug, Clone, PartialEq)]
pub struct Segments {
    pub log1p: Vec<i32>,
    pub mean: Vec<f64>,
    pub std: Vec<f64>,
    /// k × d, row-major, standardised units.
    pub centroids: Vec<f64>,
    pub k: usize,
}

impl Segments {
    pub fn from_model(model: &crate::segment::model::SegmentModel) -> Result<Segments> {
        let d = model.features.len();
        if d == 0 || model.k == 0 || model.centroids.len() != model.k.saturating_mul(d) {
            return Err(invalid(format!("a segmentation of k = {} and {d} features with {} centroid values", model.k, model.centroids.len())));
        }
        as_size(model.centroids.len(), "the centroid count")?;
        Ok(Segments {
            log1p: model.features.iter().map(|f| f.log1p as i32).collect(),
            mean: model.features.iter().map(|f| f.mean).collect(),
            std: model.features.iter().map(|f| f.std).collect(),
            centroids: model.centroids.clone(),
            k: model.k,
        })
    }

    pub fn features(&self) -> usize {
        self.mean.len()
    }

    /// Lengths the kernels index by.
    pub fn check(&self) -> Result<()> {
        let d = self.features();
        if d == 0 || self.k == 0 || self.log1p.len() != d || self.std.len() != d || self.centroids.len() != self.k.saturating_mul(d) {
            return Err(invalid("a segmentation whose arrays disagree with k and the features"));
        }
        Ok(())
    }
}

/// Per-user lists of items to leave out (ascending), for `crm_als_top_k`: user b's are
/// `items[first[b] .. first[b + 1]]`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ItemLists {
    pub first: Vec<i64>,
    pub items: Vec<u32>,
}

impl ItemLists {
    pub fn new() -> ItemLists {
        ItemLists { first: vec![0], items: Vec::new() }
    }

    /// Appends the next user's list (sorted here: the kernel walks it along the catalogue).
    pub fn push(&mut self, items: &[u32]) -> Result<()> {
        let start = self.items.len();
        self.items.extend_from_slice(items);
        self.items[start..].sort_unstable();
        self.first.push(as_size(self.items.len(), "the seen item count")?);
        Ok(())
    }

    pub fn users(&self) -> usize {
        self.first.len().saturating_sub(1)
    }

    pub fn check(&self) -> Result<()> {
        let fits = self.first.first() == Some(&0)
            && self.first.windows(2).all(|w| w[0] <= w[1])
            && self.first.last().is_some_and(|&last| usize::try_from(last) == Ok(self.items.len()));
        fits.then_some(()).ok_or_else(|| invalid("seen-item lists whose offsets do not cover the items"))
    }
}

/// One batch of ALS recommendations as `crm_als_top_k` input, following
/// `recommend::Model::recommend_many` (no candidate list): which customers the kernel
/// scores, and which get the model's fallback (unknown customers, customers without
/// training rows, models without factors for them: the popular items, on the CPU).
#[derive(Debug, Clone, PartialEq)]
pub struct AlsBatch<'a> {
    pub factors: usize,
    /// The scored customers' factors, one after another (kernel row b = `slots` entry b).
    pub user_factors: Vec<f32>,
    /// Every item's factors (n_items × factors); owned only when a test alters them.
    pub item_factors: std::borrow::Cow<'a, [f32]>,
    /// 1 where an item may be recommended to anyone: it has training rows and is not in
    /// the request's `exclude` list.
    pub item_eligible: Vec<u8>,
    /// Per scored customer, the items it may not get (its training items when
    /// `exclude_seen`).
    pub seen: ItemLists,
    /// List length: the request's k, at most the catalogue.
    pub k: usize,
    /// Per requested customer: `Some(b)` = kernel row b, `None` = the CPU fallback.
    pub slots: Vec<Option<usize>>,
}

impl<'a> AlsBatch<'a> {
    /// None when `model` is not an ALS model.
    pub fn from_model(
        model: &'a crate::recommend::Model,
        customers: &[Option<u32>],
        k: usize,
        exclude_seen: bool,
        exclude: &[u32],
    ) -> Result<Option<AlsBatch<'a>>> {
        let crate::recommend::Recommender::Als(als) = model.recommender() else {
            return Ok(None);
        };
        let n_items = model.n_items();
        // The kernel returns items as 32-bit signed integers.
        if i32::try_from(n_items).is_err() {
            return Err(CrmError::Unsupported(format!("{n_items} items: the ALS kernel takes at most {} items", i32::MAX)));
        }
        let factors = als.factors();
        let mut item_eligible: Vec<u8> = (0..n_items as u32).map(|j| model.popular().is_known(j) as u8).collect();
        for &j in exclude {
            if let Some(flag) = item_eligible.get_mut(j as usize) {
                *flag = 0;
            }
        }
        let mut batch = AlsBatch {
            factors,
            user_factors: Vec::new(),
            item_factors: std::borrow::Cow::Borrowed(als.item_factors()),
            item_eligible,
            seen: ItemLists::new(),
            k: k.min(n_items),
            slots: Vec::with_capacity(customers.len()),
        };
        for &customer in customers {
            // The order of Model::recommend_prepared's checks: a customer the model has,
            // with training rows, and factors for it.
            let known = customer.filter(|&c| (c as usize) < model.n_customers() && !model.history(c).0.is_empty());
            let vector = known.and_then(|c| als.user_vector(c).map(|v| (c, v)));
            let slot = match vector {
                Some((c, v)) if batch.k > 0 => {
                    batch.user_factors.extend_from_slice(v);
                    batch.seen.push(if exclude_seen { model.history(c).0 } else { &[] })?;
                    Some(batch.seen.users() - 1)
                }
                _ => None,
            };
            batch.slots.push(slot);
        }
        Ok(Some(batch))
    }

    /// Customers the kernel scores.
    pub fn users(&self) -> usize {
        self.seen.users()
    }

    /// Lengths the kernel indexes by.
    pub fn check(&self) -> Result<()> {
        self.seen.check()?;
        let users = self.users();
        let f = self.factors;
        let fits = f > 0
            && self.user_factors.len() == users.saturating_mul(f)
            && self.item_factors.len() == self.item_eligible.len().saturating_mul(f)
            && i32::try_from(self.item_eligible.len()).is_ok()
            && self.k <= self.item_eligible.len();
        if !fits {
            return Err(invalid("an ALS batch whose factor arrays disagree with its users, items and factors"));
        }
        as_size(users.saturating_mul(self.k), "the result size")?;
        as_size(self.item_factors.len(), "the item factor count")?;
        Ok(())
    }
}
