//! Lloyd's iterations: every row against every centre, every iteration.

use super::distance::{add_row, CentrePanel};
use super::parallel::{run_parallel, Blocks};
use super::restart::{ClusterSums, Restart};
use super::{KMeansError, KMeansFit};

impl Restart<'_> {
    pub(super) fn lloyd(&self, mut centres: Vec<f64>) -> Result<KMeansFit, KMeansError> {
        let matrix = self.matrix;
        let (n, d, k) = (matrix.n_rows, matrix.n_cols, self.k);
        let blocks = Blocks::new(n, k * d, k * d + k);
        let mut labels = vec![u32::MAX; n];
        let mut n_iter = 0;
        let mut strict = false;
        let mut converged = false;
        let mut inertia = 0.0;
        while n_iter < self.max_iter {
            n_iter += 1;
            let pass = self.assign_all(&blocks, &centres, &mut labels, true)?;
            let mut sums = pass.sums;
            let relocated = self.relocate_empty_clusters(&centres, &mut labels, &mut sums, &mut [], &mut [])?;
            let shift = sums.update_centres(&mut centres, d);
            inertia = pass.inertia;
            if pass.changed == 0 && !relocated {
                // Labels unchanged: the centres just recomputed equal the previous ones.
                strict = true;
                converged = true;
                break;
            }
            if shift <= self.tol {
                converged = true;
                break;
            }
        }
        let sizes = if strict {
            self.count_labels(&labels)
        } else {
            // The labels were found for the centres before the last update.
            let pass = self.assign_all(&blocks, &centres, &mut labels, false)?;
            inertia = pass.inertia;
            pass.sums.counts
        };
        Ok(KMeansFit { k, n_cols: d, centroids: centres, labels, sizes, inertia, n_iter, converged })
    }

    /// Assigns every row to its nearest centre; with `with_sums` also sums the rows per
    /// cluster.
    fn assign_all(&self, blocks: &Blocks, centres: &[f64], labels: &mut [u32], with_sums: bool) -> Result<AssignPass, KMeansError> {
        struct Slot<'s> {
            first_row: usize,
            labels: &'s mut [u32],
            sums: ClusterSums,
            inertia: f64,
            changed: usize,
        }
        let matrix = self.matrix;
        let (d, k) = (matrix.n_cols, self.k);
        let mut slots: Vec<Slot> = blocks
            .split_mut(labels)
            .into_iter()
            .zip(&blocks.slots)
            .map(|(labels, range)| Slot {
                first_row: range.start,
                labels,
                sums: ClusterSums::zeros(k, if with_sums { d } else { 0 }),
                inertia: 0.0,
                changed: 0,
            })
            .collect();
        let panel = CentrePanel::new(centres, d);
        run_parallel(blocks, &mut slots, self.threads, self.should_stop, &|slot, rows| {
            for i in rows {
                let row = matrix.row(i);
                let (best, distance) = panel.nearest(row);
                let label = &mut slot.labels[i - slot.first_row];
                if *label != best as u32 {
                    *label = best as u32;
                    slot.changed += 1;
                }
                slot.inertia += distance;
                slot.sums.counts[best] += 1;
                if with_sums {
                    add_row(&mut slot.sums.sums[best * d..(best + 1) * d], row);
                }
            }
        })?;
        let mut pass = AssignPass { sums: ClusterSums::zeros(k, if with_sums { d } else { 0 }), inertia: 0.0, changed: 0 };
        for slot in &slots {
            pass.sums.add(&slot.sums);
            pass.inertia += slot.inertia;
            pass.changed += slot.changed;
        }
        Ok(pass)
    }
}

struct AssignPass {
    sums: ClusterSums,
    inertia: f64,
    changed: usize,
}
