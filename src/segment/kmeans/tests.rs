//! Tests of `fit` and `assign`, and the data and checks the other modules' tests share.

use super::*;

/// `per_blob` rows around each of `centres` (row-major, `d` columns) with uniform
/// noise of half-width `spread`; also returns the true blob of each row.
pub(super) fn blobs(centres: &[f64], d: usize, per_blob: usize, spread: f64, seed: u64) -> (Vec<f64>, Vec<usize>) {
    let mut rng = SplitMix64::new(seed);
    let mut data = Vec::new();
    let mut truth = Vec::new();
    for i in 0..per_blob * (centres.len() / d) {
        let blob = i % (centres.len() / d);
        for col in 0..d {
            data.push(centres[blob * d + col] + spread * (2.0 * rng.next_f64() - 1.0));
        }
        truth.push(blob);
    }
    (data, truth)
}

pub(super) fn never() -> bool {
    false
}

pub(super) fn options(k: usize) -> KMeansOptions {
    KMeansOptions { threads: 1, ..KMeansOptions::new(k) }
}

pub(super) fn assert_sane(fit: &KMeansFit, n_rows: usize) {
    assert!(fit.centroids.iter().all(|v| v.is_finite()), "{:?}", fit.centroids);
    assert!(fit.inertia.is_finite() && fit.inertia >= 0.0);
    assert_eq!(fit.labels.len(), n_rows);
    assert_eq!(fit.sizes.iter().sum::<u64>(), n_rows as u64);
    assert!(fit.labels.iter().all(|&l| (l as usize) < fit.k));
}

pub(super) const FOUR_CORNERS: [f64; 8] = [-10.0, -10.0, -10.0, 10.0, 10.0, -10.0, 10.0, 10.0];

#[test]
fn planted_blobs_are_recovered_exactly() {
    let (data, truth) = blobs(&FOUR_CORNERS, 2, 50, 1.0, 7);
    for algorithm in [KMeansAlgorithm::Lloyd, KMeansAlgorithm::Hamerly] {
        let fit = fit(&data, 200, 2, &KMeansOptions { algorithm, ..options(4) }, &never).unwrap();
        assert_sane(&fit, 200);
        assert!(fit.converged);
        // Every true blob is one cluster, and every cluster one blob.
        let mut label_of_blob = [u32::MAX; 4];
        for (&blob, &label) in truth.iter().zip(&fit.labels) {
            if label_of_blob[blob] == u32::MAX {
                label_of_blob[blob] = label;
            }
            assert_eq!(label_of_blob[blob], label);
        }
        let mut distinct = label_of_blob.to_vec();
        distinct.sort_unstable();
        distinct.dedup();
        assert_eq!(distinct.len(), 4);
        assert_eq!(fit.sizes, vec![50; 4]);
        for (blob, &label) in label_of_blob.iter().enumerate() {
            let centre = &fit.centroids[label as usize * 2..label as usize * 2 + 2];
            assert!(squared_distance(centre, &FOUR_CORNERS[blob * 2..blob * 2 + 2]) < 0.1);
        }
    }
}

#[test]
fn duplicates_k_equal_n_and_constant_data_give_no_nan() {
    let duplicates = [1.0, 2.0, 1.0, 2.0, 1.0, 2.0, 5.0, 5.0, 5.0, 5.0, 9.0, 0.0];
    let distinct6 = [0.0, 0.0, 1.0, 0.0, 0.0, 1.0, 3.0, 3.0, 7.0, 1.0, 2.0, 9.0];
    let constant = [4.0; 20];
    for algorithm in [KMeansAlgorithm::Lloyd, KMeansAlgorithm::Hamerly] {
        let with = |k| KMeansOptions { algorithm, ..options(k) };
        // 6 rows but 3 distinct points, k = 5: two clusters must stay empty or tie.
        let fit_dup = fit(&duplicates, 6, 2, &with(5), &never).unwrap();
        assert_sane(&fit_dup, 6);
        assert_eq!(fit_dup.inertia, 0.0);
        let fit_all = fit(&distinct6, 6, 2, &with(6), &never).unwrap();
        assert_sane(&fit_all, 6);
        assert_eq!(fit_all.inertia, 0.0);
        assert_eq!(fit_all.sizes, vec![1; 6]);
        let fit_constant = fit(&constant, 10, 2, &with(3), &never).unwrap();
        assert_sane(&fit_constant, 10);
        assert_eq!(fit_constant.inertia, 0.0);
        assert!(fit_constant.centroids.iter().all(|&v| v == 4.0));
        let single = fit(&[3.0, -1.0], 1, 2, &with(1), &never).unwrap();
        assert_eq!(single.centroids, vec![3.0, -1.0]);
    }
}

#[test]
fn max_iter_stops_early_with_labels_matching_the_centroids() {
    let (data, _) = blobs(&FOUR_CORNERS, 2, 200, 12.0, 5);
    for algorithm in [KMeansAlgorithm::Lloyd, KMeansAlgorithm::Hamerly] {
        let opts = KMeansOptions { max_iter: 1, n_init: 1, algorithm, ..options(4) };
        let fit = fit(&data, 800, 2, &opts, &never).unwrap();
        assert_eq!(fit.n_iter, 1);
        assert!(!fit.converged);
        let mut inertia = 0.0;
        for (i, &label) in fit.labels.iter().enumerate() {
            let (nearest, distance) = assign(&fit.centroids, 2, &data[i * 2..i * 2 + 2]).unwrap();
            assert_eq!(nearest, label as usize);
            inertia += distance * distance;
        }
        assert!((inertia - fit.inertia).abs() <= 1e-9 * inertia);
    }
}

#[test]
fn invalid_arguments_are_named() {
    let data = [0.0, 1.0, 2.0, 3.0];
    let check = |result: Result<KMeansFit, KMeansError>, expected: KMeansError, word: &str| {
        let error = result.unwrap_err();
        assert!(error.to_string().contains(word), "{error}");
        assert_eq!(error, expected);
    };
    check(fit(&data, 2, 2, &options(0), &never), KMeansError::KTooSmall { k: 0 }, "k must");
    check(fit(&data, 2, 2, &options(3), &never), KMeansError::KExceedsRows { k: 3, n_rows: 2 }, "k = 3");
    check(fit(&data, 2, 2, &KMeansOptions { n_init: 0, ..options(1) }, &never), KMeansError::NInitTooSmall { n_init: 0 }, "n_init");
    check(fit(&data, 2, 2, &KMeansOptions { max_iter: 0, ..options(1) }, &never), KMeansError::MaxIterTooSmall { max_iter: 0 }, "max_iter");
    let negative = fit(&data, 2, 2, &KMeansOptions { tol: -1.0, ..options(1) }, &never);
    assert!(negative.unwrap_err().to_string().contains("tol"));
    let nan_tol = fit(&data, 2, 2, &KMeansOptions { tol: f64::NAN, ..options(1) }, &never);
    assert!(matches!(nan_tol, Err(KMeansError::InvalidTol { .. })));
    check(fit(&[], 0, 2, &options(1), &never), KMeansError::NoRows, "no rows");
    check(fit(&[], 3, 0, &options(1), &never), KMeansError::NoColumns, "no columns");
    check(fit(&data, 3, 2, &options(1), &never), KMeansError::ShapeMismatch { len: 4, n_rows: 3, n_cols: 2 }, "n_rows");
    check(fit(&data, usize::MAX, 2, &options(1), &never), KMeansError::ShapeMismatch { len: 4, n_rows: usize::MAX, n_cols: 2 }, "match");
    let with_nan = [0.0, 1.0, 2.0, f64::NAN];
    let error = fit(&with_nan, 2, 2, &options(1), &never).unwrap_err();
    assert!(matches!(error, KMeansError::NonFinite { row: 1, col: 1, .. }), "{error}");
    let with_inf = [f64::NEG_INFINITY, 1.0, 2.0, 3.0];
    let error = fit(&with_inf, 2, 2, &options(1), &never).unwrap_err();
    assert!(matches!(error, KMeansError::NonFinite { row: 0, col: 0, .. }), "{error}");
    assert!(error.to_string().contains("finite"));
}

#[test]
fn assign_finds_the_nearest_and_rejects_bad_shapes() {
    let centroids = [0.0, 0.0, 3.0, 4.0, 3.0, 4.0];
    assert_eq!(assign(&centroids, 2, &[0.1, 0.0]), Some((0, 0.1)));
    assert_eq!(assign(&centroids, 2, &[3.0, 4.0]), Some((1, 0.0)), "ties go to the lower index");
    assert_eq!(assign(&centroids, 2, &[6.0, 8.0]), Some((1, 5.0)));
    assert_eq!(assign(&centroids, 0, &[]), None);
    assert_eq!(assign(&centroids, 2, &[1.0]), None);
    assert_eq!(assign(&centroids[..5], 2, &[1.0, 1.0]), None);
    assert_eq!(assign(&[], 2, &[1.0, 1.0]), None);
}
