//! Distance kernels.

#[inline]
pub(in crate::segment) fn squared_distance(a: &[f64], b: &[f64]) -> f64 {
    // Four running sums let additions overlap instead of queueing on one total.
    let mut sums = [0.0f64; 4];
    let mut a_chunks = a.chunks_exact(4);
    let mut b_chunks = b.chunks_exact(4);
    for (x, y) in (&mut a_chunks).zip(&mut b_chunks) {
        for lane in 0..4 {
            let diff = x[lane] - y[lane];
            sums[lane] += diff * diff;
        }
    }
    let mut tail = 0.0;
    for (x, y) in a_chunks.remainder().iter().zip(b_chunks.remainder()) {
        tail += (x - y) * (x - y);
    }
    (sums[0] + sums[1]) + (sums[2] + sums[3]) + tail
}

/// Index and squared distance of the nearest centre; ties go to the lower index.
#[inline]
pub(super) fn nearest(centres: &[f64], d: usize, row: &[f64]) -> (usize, f64) {
    let mut best = (0, f64::INFINITY);
    for (index, centre) in centres.chunks_exact(d).enumerate() {
        let distance = squared_distance(row, centre);
        if distance < best.1 {
            best = (index, distance);
        }
    }
    best
}

/// Centres per group in `CentrePanel`.
const LANES: usize = 4;

/// Centres laid out to measure a row against `LANES` of them at once: group by group,
/// column by column, so the innermost loop runs across centres and the compiler turns it
/// into vector instructions (centre by centre, a Lloyd pass over 1M × 8 rows with k = 8
/// took 50 ms instead of 22: each centre's sum is a chain of dependent additions).
/// Padding centres sit at infinity and never win.
pub(super) struct CentrePanel {
    n_cols: usize,
    values: Vec<f64>,
}

impl CentrePanel {
    pub(super) fn new(centres: &[f64], n_cols: usize) -> CentrePanel {
        let k = centres.len() / n_cols.max(1);
        let mut values = vec![f64::INFINITY; k.div_ceil(LANES) * n_cols * LANES];
        for (index, centre) in centres.chunks_exact(n_cols).enumerate() {
            let (group, lane) = (index / LANES, index % LANES);
            for (col, &value) in centre.iter().enumerate() {
                values[(group * n_cols + col) * LANES + lane] = value;
            }
        }
        CentrePanel { n_cols, values }
    }

    /// Squared distances from `row` to each group's centres, group by group.
    #[inline]
    pub(super) fn groups<'p>(&'p self, row: &'p [f64]) -> impl Iterator<Item = [f64; LANES]> + 'p {
        self.values.chunks_exact(self.n_cols * LANES).map(move |group| {
            let mut squares = [0.0f64; LANES];
            for (column, &value) in group.chunks_exact(LANES).zip(row) {
                for lane in 0..LANES {
                    let diff = column[lane] - value;
                    squares[lane] += diff * diff;
                }
            }
            squares
        })
    }

    /// Index and squared distance of the nearest centre; ties go to the lower index.
    #[inline]
    pub(super) fn nearest(&self, row: &[f64]) -> (usize, f64) {
        let (mut best, mut best_distance) = (0, f64::INFINITY);
        for (group, squares) in self.groups(row).enumerate() {
            for (lane, &distance) in squares.iter().enumerate() {
                // Selects rather than branches: which centre is nearer is unpredictable.
                let closer = distance < best_distance;
                best = if closer { group * LANES + lane } else { best };
                best_distance = if closer { distance } else { best_distance };
            }
        }
        (best, best_distance)
    }

    /// The nearest centre, its squared distance and the squared distance of the second
    /// nearest (infinite when k = 1).
    #[inline]
    pub(super) fn two_nearest(&self, row: &[f64]) -> (usize, f64, f64) {
        let (mut best, mut best_distance, mut second_distance) = (0, f64::INFINITY, f64::INFINITY);
        for (group, squares) in self.groups(row).enumerate() {
            for (lane, &distance) in squares.iter().enumerate() {
                let closer = distance < best_distance;
                second_distance = if closer { best_distance } else { second_distance.min(distance) };
                best = if closer { group * LANES + lane } else { best };
                best_distance = if closer { distance } else { best_distance };
            }
        }
        (best, best_distance, second_distance)
    }
}

#[inline]
pub(super) fn add_row(total: &mut [f64], row: &[f64]) {
    for (t, v) in total.iter_mut().zip(row) {
        *t += v;
    }
}

#[inline]
pub(super) fn sub_row(total: &mut [f64], row: &[f64]) {
    for (t, v) in total.iter_mut().zip(row) {
        *t -= v;
    }
}
