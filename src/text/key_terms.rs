//! The terms that set each group of texts apart from the others: the weighted log-odds
//! ratio with an informative Dirichlet prior (Monroe, Colaresi & Quinn 2008, "Fightin'
//! Words", section 3.5). For group i against the rest, term w with counts yᵢ and yⱼ in
//! groups of nᵢ and nⱼ terms, and prior αᵥ (α₀ in all):
//!
//! δ = ln((yᵢ+αᵥ) / (nᵢ+α₀−yᵢ−αᵥ)) − ln((yⱼ+αᵥ) / (nⱼ+α₀−yⱼ−αᵥ)),
//! σ² ≈ 1/(yᵢ+αᵥ) + 1/(yⱼ+αᵥ),  z = δ / σ.
//!
//! The prior is the pooled corpus itself (αᵥ = scale · count of w in all groups), as in
//! Jurafsky et al.'s use of the method: frequent words need much evidence to stand out
//! and a word seen twice cannot top the list, which the plain log-odds ratio lets it.

use rustc_hash::FxHashMap;
use serde::{Deserialize, Serialize};

use super::tokenize::Tokenizer;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct KeyTermsOptions {
    /// Terms reported per group.
    pub top_n: usize,
    /// Distinct terms counted at once; past twice this, the least frequent are dropped.
    pub max_terms: usize,
    /// Terms seen fewer times than this in all groups are not reported.
    pub min_count: u64,
    /// αᵥ = prior_scale · the term's count in all groups.
    pub prior_scale: f64,
}

impl Default for KeyTermsOptions {
    fn default() -> Self {
        KeyTermsOptions { top_n: 20, max_terms: 200_000, min_count: 2, prior_scale: 1.0 }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct KeyTerm {
    pub term: String,
    /// z-scored log-odds of the group against the rest: above ~2 is distinctive.
    pub z: f64,
    /// Occurrences in the group.
    pub count: u64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GroupTerms {
    pub group: String,
    /// Terms in the group's texts.
    pub total: u64,
    pub terms: Vec<KeyTerm>,
}

/// Term counts per group, bounded in memory.
#[derive(Clone, Debug, Default)]
pub struct KeyTermCounter {
    groups: Vec<String>,
    group_index: FxHashMap<String, u32>,
    /// Per term, (group, count) for the groups it occurs in (few, for most terms).
    counts: FxHashMap<Box<str>, Vec<(u32, u64)>>,
    /// All terms of each group, pruned ones included: nᵢ.
    group_totals: Vec<u64>,
    max_terms: usize,
}

impl KeyTermCounter {
    pub fn new(max_terms: usize) -> KeyTermCounter {
        KeyTermCounter { max_terms: max_terms.max(1), ..KeyTermCounter::default() }
    }

    /// Counts the terms of one text of `group`.
    pub fn add<S: AsRef<str>>(&mut self, group: &str, terms: impl IntoIterator<Item = S>) {
        let g = match self.group_index.get(group) {
            Some(&g) => g,
            None => {
                let g = self.groups.len() as u32;
                self.groups.push(group.to_string());
                self.group_index.insert(group.to_string(), g);
                self.group_totals.push(0);
                g
            }
        };
        for term in terms {
            let term = term.as_ref();
            self.group_totals[g as usize] += 1;
            let entry = match self.counts.get_mut(term) {
                Some(entry) => entry,
                None => self.counts.entry(term.into()).or_default(),
            };
            match entry.iter_mut().find(|(group, _)| *group == g) {
                Some((_, count)) => *count += 1,
                None => entry.push((g, 1)),
            }
        }
        if self.counts.len() > 2 * self.max_terms {
            self.prune();
        }
    }

    /// Counts the words and word n-grams of `text` (character n-grams, if the tokeniser
    /// makes them, are skipped: fragments are no key terms).
    pub fn add_text(&mut self, group: &str, text: &str, tokenizer: &Tokenizer) {
        let mut terms: Vec<String> = Vec::new();
        tokenizer.for_each_term_with_source(text, |term, source| {
            if source.is_none() {
                terms.push(term.to_string());
            }
        });
        self.add(group, terms);
    }

    /// Keeps the `max_terms` most frequent terms (ties by term, for determinism).
    fn prune(&mut self) {
        let mut totals: Vec<(u64, &str)> = self.counts.iter().map(|(t, c)| (c.iter().map(|e| e.1).sum(), &**t)).collect();
        let keep = self.max_terms.min(totals.len());
        if keep == 0 {
            return;
        }
        totals.select_nth_unstable_by(keep - 1, |a, b| b.0.cmp(&a.0).then_with(|| a.1.cmp(b.1)));
        let (cut_total, cut_term) = (totals[keep - 1].0, totals[keep - 1].1.to_string());
        // `cut` is the last kept: a term stays when it ranks at or before it.
        self.counts.retain(|t, c| {
            let total: u64 = c.iter().map(|e| e.1).sum();
            total > cut_total || (total == cut_total && **t <= *cut_term)
        });
    }

    /// Each group's most distinctive terms, groups in order of first appearance.
    pub fn key_terms(&self, options: &KeyTermsOptions) -> Vec<GroupTerms> {
        let all: u64 = self.group_totals.iter().sum();
        let alpha_0 = options.prior_scale * all as f64;
        let mut out = Vec::with_capacity(self.groups.len());
        for (g, group) in self.groups.iter().enumerate() {
            let n_i = self.group_totals[g] as f64;
            let n_j = all as f64 - n_i;
            let mut scored: Vec<KeyTerm> = Vec::new();
            for (term, counts) in &self.counts {
                let total: u64 = counts.iter().map(|e| e.1).sum();
                if total < options.min_count {
                    continue;
                }
                let y_i = counts.iter().find(|e| e.0 == g as u32).map_or(0, |e| e.1);
                let z = log_odds_z(y_i as f64, (total - y_i) as f64, n_i, n_j, options.prior_scale * total as f64, alpha_0);
                if let Some(z) = z {
                    if y_i > 0 && z > 0.0 {
                        scored.push(KeyTerm { term: term.to_string(), z, count: y_i });
                    }
                }
            }
            let by_z = |a: &KeyTerm, b: &KeyTerm| b.z.total_cmp(&a.z).then_with(|| a.term.cmp(&b.term));
            if scored.len() > options.top_n && options.top_n > 0 {
                scored.select_nth_unstable_by(options.top_n - 1, by_z);
            }
            scored.truncate(options.top_n);
            scored.sort_unstable_by(by_z);
            out.push(GroupTerms { group: group.clone(), total: self.group_totals[g], terms: scored });
        }
        out
    }
}

/// The z-score of the log-odds ratio; None where it is undefined (a term that is the whole
/// of a group and of the prior).
fn log_odds_z(y_i: f64, y_j: f64, n_i: f64, n_j: f64, alpha_w: f64, alpha_0: f64) -> Option<f64> {
    let (a, b) = (y_i + alpha_w, y_j + alpha_w);
    let (rest_i, rest_j) = (n_i + alpha_0 - a, n_j + alpha_0 - b);
    if a <= 0.0 || b <= 0.0 || rest_i <= 0.0 || rest_j <= 0.0 {
        return None;
    }
    let delta = (a / rest_i).ln() - (b / rest_j).ln();
    let z = delta / (1.0 / a + 1.0 / b).sqrt();
    z.is_finite().then_some(z)
}

/// Key terms of `(group, terms)` texts in one call.
pub fn key_terms<G: AsRef<str>, S: AsRef<str>, T: IntoIterator<Item = S>>(
    texts: impl IntoIterator<Item = (G, T)>,
    options: &KeyTermsOptions,
) -> Vec<GroupTerms> {
    let mut counter = KeyTermCounter::new(options.max_terms);
    for (group, terms) in texts {
        counter.add(group.as_ref(), terms);
    }
    counter.key_terms(options)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(s: &str) -> Vec<&str> {
        s.split(' ').collect()
    }

    #[test]
    fn an_obviously_distinctive_term_ranks_first() {
        let mut texts = Vec::new();
        for i in 0..40 {
            texts.push(("late", split(if i % 4 == 0 { "the flight was delayed again" } else { "the plane delayed for hours" })));
            texts.push(("bags", split(if i % 3 == 0 { "the bag was lost" } else { "lost my luggage at the airport" })));
        }
        let groups = key_terms(texts, &KeyTermsOptions::default());
        assert_eq!(groups.len(), 2);
        assert_eq!(groups[0].group, "late");
        assert_eq!(groups[0].terms[0].term, "delayed");
        assert_eq!(groups[1].terms[0].term, "lost");
        // A word as common in both groups is not distinctive of either.
        assert!(groups.iter().all(|g| g.terms.iter().all(|t| t.term != "the" || t.z < 1.0)));
        assert!(groups[0].terms[0].z > 2.0);
    }

    #[test]
    fn texts_are_tokenised_into_words_and_pairs() {
        let mut counter = KeyTermCounter::new(1000);
        for _ in 0..20 {
            counter.add_text("late", "Flight DELAYED again!", &Tokenizer::default());
            counter.add_text("bags", "They lost my bag", &Tokenizer::default());
        }
        let groups = counter.key_terms(&KeyTermsOptions { top_n: 50, ..KeyTermsOptions::default() });
        let late: Vec<&str> = groups[0].terms.iter().map(|t| t.term.as_str()).collect();
        assert!(late.contains(&"delayed") && late.contains(&"flight delayed"), "{late:?}");
        assert!(late.iter().all(|t| !t.starts_with('~')));
    }

    #[test]
    fn frequent_evidence_beats_a_rare_term() {
        // `rare` occurs twice only in group a; `often` 30 times in a and 3 in b.
        let mut texts = vec![("a", split("rare x")), ("a", split("rare y"))];
        for i in 0..30 {
            texts.push(("a", split("often w")));
            texts.push(("b", split(if i < 3 { "often z" } else { "w z" })));
        }
        let groups = key_terms(texts, &KeyTermsOptions::default());
        assert_eq!(groups[0].terms[0].term, "often");
    }

    #[test]
    fn memory_is_bounded_and_the_frequent_survive() {
        let mut counter = KeyTermCounter::new(10);
        for i in 0..1000 {
            counter.add(if i % 2 == 0 { "a" } else { "b" }, [format!("noise{i}"), "keep".to_string()]);
            assert!(counter.counts.len() <= 21);
        }
        assert!(counter.counts.contains_key("keep"));
        assert_eq!(counter.group_totals, [1000, 1000]);
        assert!(KeyTermCounter::new(5).key_terms(&KeyTermsOptions::default()).is_empty());
    }
}
