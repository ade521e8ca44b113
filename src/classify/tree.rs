//! Histogram decision trees, shared by gradient boosting and the random forest: the
//! encoded features binned into at most 255 quantile bins once per training, and one tree
//! grown best-first (largest gain first) from per-row gradients `g` and hessians `h`.
//!
//! A split's gain is `G_L²/(H_L+λ) + G_R²/(H_R+λ) − G²/(H+λ)` and a node's value
//! `−G/(H+λ)` times a scale. Boosting passes log-loss gradients (Newton steps, the scale is
//! the learning rate); the forest passes `h = weight`, `g = −y·weight` and `λ = 0`, for
//! which the gain is the weighted variance reduction of the 0/1 label (exactly half the
//! weighted Gini decrease) and the value the weighted positive fraction.

use std::cmp::Ordering;
use std::collections::BinaryHeap;

use serde::{Deserialize, Serialize};

use crate::rng::SplitMix64;

/// A node: a split (`feature` < `threshold` goes left) or a leaf (`left == 0`).
/// `value` is the node's value (Newton step for boosting, positive fraction for the
/// forest), also used by the path explanation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Node {
    pub feature: u32,
    pub threshold: f64,
    pub left: u32,
    pub right: u32,
    pub value: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Tree {
    pub nodes: Vec<Node>,
}

impl Tree {
    /// Whether the stored tree can be walked safely on rows of `width` encoded columns:
    /// a root, children after their parent (so every walk ends: no cycle, depth below the
    /// node count) and inside the tree, split features inside the row.
    pub fn validate(&self, width: usize) -> std::result::Result<(), String> {
        if self.nodes.is_empty() {
            return Err("a tree has no nodes".into());
        }
        let n = self.nodes.len();
        for (i, node) in self.nodes.iter().enumerate() {
            if node.left == 0 {
                continue;
            }
            let (l, r) = (node.left as usize, node.right as usize);
            if l <= i || r <= i || l >= n || r >= n {
                return Err(format!("tree node {i} has children {l} and {r} outside {}..{n}", i + 1));
            }
            if node.feature as usize >= width {
                return Err(format!("tree node {i} splits on column {} of {width}", node.feature));
            }
        }
        Ok(())
    }

    fn next(&self, node: &Node, x: &[f64]) -> &Node {
        &self.nodes[if x[node.feature as usize] < node.threshold { node.left } else { node.right } as usize]
    }

    pub fn leaf(&self, x: &[f64]) -> &Node {
        let mut node = &self.nodes[0];
        while node.left != 0 {
            node = self.next(node, x);
        }
        node
    }

    /// Path contributions (Saabas): along `x`'s path, the change of node value at each
    /// split is added to `out[split feature]`. Returns the root's value; the root's value
    /// plus what was added equals the leaf's value.
    pub fn path_contributions(&self, x: &[f64], out: &mut [f64]) -> f64 {
        let mut node = &self.nodes[0];
        while node.left != 0 {
            let next = self.next(node, x);
            out[node.feature as usize] += next.value - node.value;
            node = next;
        }
        self.nodes[0].value
    }
}

/// Bin edges per column: upper bounds of bins, from quantiles of (a sample of) the rows.
fn bin_edges(x: &[f64], width: usize, rows: usize, max_bins: usize) -> Vec<Vec<f64>> {
    let step = (rows / 200_000).max(1);
    (0..width)
        .map(|j| {
            let mut v: Vec<f64> = (0..rows).step_by(step).map(|i| x[i * width + j]).collect();
            v.sort_by(|a, b| a.total_cmp(b));
            v.dedup();
            if v.len() <= max_bins {
                // midpoints between distinct values
                v.windows(2).map(|w| (w[0] + w[1]) / 2.0).collect()
            } else {
                let mut edges: Vec<f64> = (1..max_bins).map(|k| v[k * v.len() / max_bins]).collect();
                edges.dedup();
                edges
            }
        })
        .collect()
}

/// The training matrix as bin numbers (row-major, one byte a cell).
pub struct Binned {
    bins: Vec<u8>,
    width: usize,
    edges: Vec<Vec<f64>>,
    /// Columns with at least two bins (the others cannot split).
    usable: Vec<usize>,
}

impl Binned {
    pub fn new(x: &[f64], width: usize, rows: usize, max_bins: usize) -> Binned {
        let edges = bin_edges(x, width, rows, max_bins.min(255));
        let mut bins = vec![0u8; rows * width];
        for i in 0..rows {
            for j in 0..width {
                let v = x[i * width + j];
                bins[i * width + j] = edges[j].partition_point(|&e| e <= v) as u8;
            }
        }
        let usable = (0..width).filter(|&j| !edges[j].is_empty()).collect();
        Binned { bins, width, edges, usable }
    }

    /// Number of columns that can split.
    pub fn usable_columns(&self) -> usize {
        self.usable.len()
    }

    fn bin(&self, row: u32, column: usize) -> usize {
        self.bins[row as usize * self.width + column] as usize
    }
}

/// How one tree grows.
#[derive(Debug, Clone, PartialEq)]
pub struct GrowParams {
    pub max_leaves: usize,
    /// Splits stop at this depth (the root is depth 0); `usize::MAX`: unlimited.
    pub max_depth: usize,
    /// Fewest (distinct) rows in a leaf.
    pub min_samples_leaf: usize,
    /// λ of the gain and the node values.
    pub l2: f64,
    /// Node values are multiplied by this (the learning rate of boosting).
    pub scale: f64,
    /// Columns drawn at random per split (without replacement; a column constant within
    /// the node does not count, as scikit-learn). At least the number of usable columns:
    /// every column, in order, no randomness.
    pub max_features: usize,
    /// Never split a pure node. Only for `g = −y·h` with 0/1 `y` (the forest), where a
    /// node is pure exactly when `G == 0` or `G == −H`.
    pub stop_pure: bool,
}

struct Split {
    gain: f64,
    feature: usize,
    bin: usize,
}

/// Best split of `rows` by histogram, over all usable columns or a random draw of them.
fn best_split(data: &Binned, rows: &[u32], g: &[f64], h: &[f64], p: &GrowParams, rng: &mut SplitMix64, order: &mut Vec<usize>) -> Option<Split> {
    let (gt, ht): (f64, f64) = rows.iter().fold((0.0, 0.0), |(a, b), &r| (a + g[r as usize], b + h[r as usize]));
    if p.stop_pure && (gt == 0.0 || gt == -ht) {
        return None;
    }
    let parent = gt * gt / (ht + p.l2);
    let mut best: Option<Split> = None;
    let mut hist_g = [0.0f64; 256];
    let mut hist_h = [0.0f64; 256];
    let mut hist_n = [0u32; 256];
    order.clear();
    order.extend_from_slice(&data.usable);
    let m = order.len();
    let sample = p.max_features < m;
    let mut tried = 0;
    for k in 0..m {
        if sample {
            if tried == p.max_features {
                break;
            }
            let pick = k + rng.below_modulo(m - k);
            order.swap(k, pick);
        }
        let j = order[k];
        let nb = data.edges[j].len() + 1;
        hist_g[..nb].fill(0.0);
        hist_h[..nb].fill(0.0);
        hist_n[..nb].fill(0);
        for &r in rows {
            let b = data.bin(r, j);
            hist_g[b] += g[r as usize];
            hist_h[b] += h[r as usize];
            hist_n[b] += 1;
        }
        if sample && hist_n[..nb].iter().filter(|&&c| c > 0).count() < 2 {
            continue;
        }
        tried += 1;
        let (mut gl, mut hl, mut nl) = (0.0, 0.0, 0usize);
        for b in 0..nb - 1 {
            gl += hist_g[b];
            hl += hist_h[b];
            nl += hist_n[b] as usize;
            let nr = rows.len() - nl;
            if nl < p.min_samples_leaf || nr < p.min_samples_leaf {
                continue;
            }
            let (gr, hr) = (gt - gl, ht - hl);
            let gain = gl * gl / (hl + p.l2) + gr * gr / (hr + p.l2) - parent;
            if gain > 1e-12 && best.as_ref().is_none_or(|s| gain > s.gain) {
                best = Some(Split { gain, feature: j, bin: b });
            }
        }
    }
    best
}

fn node_value(rows: &[u32], g: &[f64], h: &[f64], p: &GrowParams) -> f64 {
    let (gs, hs) = rows.iter().fold((0.0, 0.0), |(a, b), &r| (a + g[r as usize], b + h[r as usize]));
    -gs / (hs + p.l2) * p.scale
}

/// A leaf waiting to be split, ordered by gain (ties: the older node first).
struct Open {
    node: usize,
    depth: usize,
    rows: Vec<u32>,
    split: Split,
}

impl PartialEq for Open {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl Eq for Open {}
impl PartialOrd for Open {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Open {
    fn cmp(&self, other: &Self) -> Ordering {
        self.split.gain.total_cmp(&other.split.gain).then_with(|| other.node.cmp(&self.node))
    }
}

/// Grows one tree on `rows` (each row once; weights such as bootstrap counts go into
/// `g` and `h`), best gain first, until `max_leaves` or no leaf can split. `seed` drives
/// the column draws (unused when every column is tried).
pub fn grow_tree(data: &Binned, rows: Vec<u32>, g: &[f64], h: &[f64], p: &GrowParams, seed: u64) -> Tree {
    let mut rng = SplitMix64::new(seed);
    let mut order = Vec::with_capacity(data.usable.len());
    let leaf = |value: f64| Node { feature: 0, threshold: 0.0, left: 0, right: 0, value };
    let mut nodes = vec![leaf(node_value(&rows, g, h, p))];
    let mut open: BinaryHeap<Open> = BinaryHeap::new();
    let splittable = |rows: &[u32], depth: usize| depth < p.max_depth && rows.len() >= 2 * p.min_samples_leaf;
    if splittable(&rows, 0) {
        if let Some(split) = best_split(data, &rows, g, h, p, &mut rng, &mut order) {
            open.push(Open { node: 0, depth: 0, rows, split });
        }
    }
    let mut leaves = 1;
    while leaves < p.max_leaves {
        let Some(Open { node: index, depth, rows, split }) = open.pop() else {
            break;
        };
        let (left_rows, right_rows): (Vec<u32>, Vec<u32>) = rows.iter().partition(|&&r| data.bin(r, split.feature) <= split.bin);
        drop(rows);
        let l = nodes.len();
        nodes.push(leaf(node_value(&left_rows, g, h, p)));
        nodes.push(leaf(node_value(&right_rows, g, h, p)));
        let parent = &mut nodes[index];
        parent.feature = split.feature as u32;
        parent.threshold = data.edges[split.feature][split.bin];
        parent.left = l as u32;
        parent.right = (l + 1) as u32;
        leaves += 1;
        for (child, child_rows) in [(l, left_rows), (l + 1, right_rows)] {
            if splittable(&child_rows, depth + 1) {
                if let Some(split) = best_split(data, &child_rows, g, h, p, &mut rng, &mut order) {
                    open.push(Open { node: child, depth: depth + 1, rows: child_rows, split });
                }
            }
        }
    }
    Tree { nodes }
}
