//! A mergeable quantile sketch with a relative-error guarantee (DDSketch, Masson, Rim and
//! Lee, VLDB 2019), for the `robust` scaler's median and quartiles.
//!
//! Guarantee: a quantile `q` is answered with a value within `ALPHA` (0.1 %) relative
//! error of the empirical lower `q`-quantile, for any data and any number of merges, as
//! long as a store has not collapsed (a store spans `MAX_BUCKETS` buckets, a dynamic range
//! of about 10^56 per sign; beyond that its lowest-magnitude buckets are merged, and only
//! quantiles that fall in the merged part lose the guarantee). Values with magnitude below
//! `f64::MIN_POSITIVE` count as zero.
//!
//! Written here rather than taken from `sketches-ddsketch` because the state is persisted
//! between parallel workers and must have a byte format we control and version, and it
//! must handle negative values.

pub const ALPHA: f64 = 0.001;
const MAX_BUCKETS: usize = 1 << 16;

#[derive(Debug, Clone, PartialEq)]
pub struct Sketch {
    positive: Store,
    negative: Store,
    zeros: u64,
}

/// Counts per bucket index, dense from `offset`.
#[derive(Debug, Clone, PartialEq, Default)]
struct Store {
    offset: i32,
    counts: Vec<u64>,
    total: u64,
}

const GAMMA: f64 = (1.0 + ALPHA) / (1.0 - ALPHA);
/// ln(GAMMA) = 2·atanh(ALPHA), by its series (const evaluation has no `ln`).
const LOG_GAMMA: f64 = 2.0 * ALPHA * (1.0 + ALPHA * ALPHA / 3.0 + ALPHA * ALPHA * ALPHA * ALPHA / 5.0);
const INV_LOG_GAMMA: f64 = 1.0 / LOG_GAMMA;

fn index_of(magnitude: f64) -> i32 {
    (magnitude.ln() * INV_LOG_GAMMA).ceil() as i32
}

/// The bucket's representative: within ALPHA of every value the bucket holds.
fn value_of(index: i32) -> f64 {
    2.0 * (index as f64 * LOG_GAMMA).exp() / (GAMMA + 1.0)
}

impl Store {
    fn add(&mut self, index: i32, count: u64) {
        if self.counts.is_empty() {
            self.offset = index;
            self.counts.push(0);
        }
        if index < self.offset {
            let grow = (self.offset - index) as usize;
            let mut counts = vec![0; grow];
            counts.extend_from_slice(&self.counts);
            self.counts = counts;
            self.offset = index;
        } else if index >= self.offset + self.counts.len() as i32 {
            self.counts.resize((index - self.offset) as usize + 1, 0);
        }
        self.counts[(index - self.offset) as usize] += count;
        self.total += count;
        if self.counts.len() > MAX_BUCKETS {
            self.collapse_lowest();
        }
    }

    fn collapse_lowest(&mut self) {
        let excess = self.counts.len() - MAX_BUCKETS;
        let merged: u64 = self.counts[..=excess].iter().sum();
        self.counts.drain(..excess);
        self.counts[0] = merged;
        self.offset += excess as i32;
    }

    fn merge(&mut self, other: &Store) {
        for (i, &c) in other.counts.iter().enumerate() {
            if c > 0 {
                self.add(other.offset + i as i32, c);
            }
        }
    }

    /// Non-empty buckets, ascending index.
    fn buckets(&self) -> impl Iterator<Item = (i32, u64)> + '_ {
        self.counts.iter().enumerate().filter(|(_, &c)| c > 0).map(move |(i, &c)| (self.offset + i as i32, c))
    }
}

impl Default for Sketch {
    fn default() -> Self {
        Sketch::new()
    }
}

impl Sketch {
    pub fn new() -> Sketch {
        Sketch { positive: Store::default(), negative: Store::default(), zeros: 0 }
    }

    pub fn count(&self) -> u64 {
        self.positive.total + self.negative.total + self.zeros
    }

    /// Adds a finite value (callers skip NaN and infinities).
    pub fn add(&mut self, x: f64) {
        if x >= f64::MIN_POSITIVE {
            self.positive.add(index_of(x), 1);
        } else if x <= -f64::MIN_POSITIVE {
            self.negative.add(index_of(-x), 1);
        } else {
            self.zeros += 1;
        }
    }

    pub fn merge(&mut self, other: &Sketch) {
        self.positive.merge(&other.positive);
        self.negative.merge(&other.negative);
        self.zeros += other.zeros;
    }

    /// The lower `q`-quantile (rank `floor(q·(n−1))`), `None` when empty.
    pub fn quantile(&self, q: f64) -> Option<f64> {
        let n = self.count();
        if n == 0 || !(0.0..=1.0).contains(&q) {
            return None;
        }
        let rank = (q * (n - 1) as f64).floor() as u64;
        let mut seen = 0u64;
        // Negatives from the largest magnitude down, then zeros, then positives up.
        for (index, count) in self.negative.buckets().collect::<Vec<_>>().into_iter().rev() {
            seen += count;
            if seen > rank {
                return Some(-value_of(index));
            }
        }
        seen += self.zeros;
        if seen > rank {
            return Some(0.0);
        }
        for (index, count) in self.positive.buckets() {
            seen += count;
            if seen > rank {
                return Some(value_of(index));
            }
        }
        None
    }

    /// Bytes: zeros, then each store as (bucket count, (index, count)*), little-endian.
    pub fn write(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.zeros.to_le_bytes());
        for store in [&self.positive, &self.negative] {
            let buckets: Vec<(i32, u64)> = store.buckets().collect();
            out.extend_from_slice(&(buckets.len() as u32).to_le_bytes());
            for (index, count) in buckets {
                out.extend_from_slice(&index.to_le_bytes());
                out.extend_from_slice(&count.to_le_bytes());
            }
        }
    }

    pub fn read(bytes: &mut &[u8]) -> Option<Sketch> {
        let mut sketch = Sketch::new();
        sketch.zeros = take_u64(bytes)?;
        for which in 0..2 {
            let buckets = take_u32(bytes)? as usize;
            if buckets > bytes.len() / 12 {
                return None;
            }
            for _ in 0..buckets {
                let index = take_u32(bytes)? as i32;
                let count = take_u64(bytes)?;
                if which == 0 {
                    sketch.positive.add(index, count);
                } else {
                    sketch.negative.add(index, count);
                }
            }
        }
        Some(sketch)
    }
}

pub fn take_u64(bytes: &mut &[u8]) -> Option<u64> {
    let (head, rest) = bytes.split_first_chunk::<8>()?;
    *bytes = rest;
    Some(u64::from_le_bytes(*head))
}

pub fn take_u32(bytes: &mut &[u8]) -> Option<u32> {
    let (head, rest) = bytes.split_first_chunk::<4>()?;
    *bytes = rest;
    Some(u32::from_le_bytes(*head))
}

pub fn take_f64(bytes: &mut &[u8]) -> Option<f64> {
    take_u64(bytes).map(f64::from_bits)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exact_lower_quantile(values: &mut [f64], q: f64) -> f64 {
        values.sort_by(|a, b| a.partial_cmp(b).unwrap());
        values[(q * (values.len() - 1) as f64).floor() as usize]
    }

    fn lcg(seed: u64) -> impl FnMut() -> f64 {
        let mut s = seed;
        move || {
            s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            (s >> 11) as f64 / (1u64 << 53) as f64
        }
    }

    #[test]
    fn quantiles_within_relative_error_on_mixed_sign_data() {
        let mut r = lcg(3);
        let mut values: Vec<f64> = (0..100_000).map(|_| (r() - 0.3) * 1000.0 * r().powi(3)).collect();
        let mut sketch = Sketch::new();
        values.iter().for_each(|&v| sketch.add(v));
        for q in [0.0, 0.01, 0.25, 0.5, 0.75, 0.99, 1.0] {
            let exact = exact_lower_quantile(&mut values, q);
            let got = sketch.quantile(q).unwrap();
            assert!((got - exact).abs() <= ALPHA * exact.abs() + 1e-300, "q={q}: {got} vs {exact}");
        }
    }

    #[test]
    fn merge_equals_single_pass_and_bytes_round_trip() {
        let mut r = lcg(5);
        let values: Vec<f64> = (0..50_000).map(|_| r() * 1e6 - 2e5).collect();
        let mut whole = Sketch::new();
        let (mut a, mut b) = (Sketch::new(), Sketch::new());
        for (i, &v) in values.iter().enumerate() {
            whole.add(v);
            if i % 3 == 0 {
                a.add(v)
            } else {
                b.add(v)
            }
        }
        a.merge(&b);
        for q in [0.1, 0.25, 0.5, 0.75, 0.9] {
            assert_eq!(a.quantile(q), whole.quantile(q));
        }
        let mut bytes = Vec::new();
        a.write(&mut bytes);
        let back = Sketch::read(&mut bytes.as_slice()).unwrap();
        assert_eq!(back.quantile(0.5), a.quantile(0.5));
        assert_eq!(back.count(), 50_000);
        assert!(Sketch::read(&mut &bytes[..bytes.len() - 3]).is_none());
    }

    #[test]
    fn extreme_ranges_stay_bounded() {
        let mut s = Sketch::new();
        for e in -300..300 {
            s.add(10f64.powi(e));
            s.add(-(10f64.powi(e)));
        }
        s.add(0.0);
        assert!(s.positive.counts.len() <= MAX_BUCKETS);
        assert_eq!(s.count(), 1201);
        assert_eq!(s.quantile(0.5), Some(0.0));
    }
}
