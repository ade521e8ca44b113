/*
 * pg_crm's batch-scoring kernels: one source, compiled two ways.
 *
 *  - NVRTC compiles it for the GPU (cudarc, at run time; `gpu::nvrtc_check` in CI).
 *  - The host C compiler compiles it, through `kernels_cpu.h`, into the CPU reference
 *    executor (`cpu_executor.c`, built by build.rs): the shim turns `__global__` and
 *    `__device__` into plain C functions and blockIdx/threadIdx into variables that a
 *    loop over the grid and the block sets before each call.
 *
 * So the unit tests that compare the CPU executor with the Rust scoring code check the
 * very per-element code the GPU runs. Rules that keep the two compilers in step:
 *
 *  - Plain C that is also valid CUDA C++: no references, templates, `bool`, headers or
 *    standard library beyond the math functions both sides have (exp, log, log1p, sqrt).
 *  - Numbers in double, as the Rust models store them (ALS factors are f32 in the model:
 *    their products are summed in double, exactly representable, and rounded to float
 *    once, see crm_als_score). Sums run in the Rust code's order and start where Rust's
 *    `Iterator::sum` starts (-0.0), so the CPU executor gives the Rust path's bits.
 *  - No fused multiply-add: build.rs passes -ffp-contract=off to the C compiler and the
 *    NVRTC options say --fmad=false (see gpu::nvrtc_options). exp/log/log1p on the GPU
 *    are CUDA's (within 2 ulp of glibc's), so GPU results may differ from the CPU
 *    executor in the last bits there and nowhere else.
 *  - Every kernel is a grid-stride loop over its rows: any grid and block size gives
 *    the same result, and a row is written by exactly one thread.
 *  - No input can make a kernel read out of bounds or loop forever: tree walks check
 *    every child and feature index (a bad node gives NaN), sizes are 64-bit.
 *
 * Kernels (entry points; the NVRTC check asserts each is in the PTX):
 *   crm_linear_score          logistic / linear models: link(intercept + w.x)
 *   crm_tree_score            boosting, random forest and their ensemble: sums of leaves
 *   crm_segment_standardise   k-means models' own preprocessing (log1p, z-score)
 *   crm_kmeans_assign         nearest centre, ties to the lowest index
 *   crm_als_top_k             ALS user x item scores and each user's top k
 */

#ifndef __CUDACC__
#include "kernels_cpu.h"
#else
/* NVRTC: C linkage, so the host looks kernels up by these plain names. */
#define CRM_EXTERN_C extern "C"
__device__ static double crm_bits_to_double(long long bits) { return __longlong_as_double(bits); }
__device__ static int crm_float_bits(float value) { return __float_as_int(value); }
#endif

/* Output links (`crm_link`). */
#define CRM_LINK_IDENTITY 0
#define CRM_LINK_SIGMOID 1
#define CRM_LINK_EXP 2

/* How a tree-ensemble member turns its trees' leaf values into a value. */
#define CRM_MEMBER_SUM 0        /* base + sum of leaves: gradient boosting (log-odds or raw) */
#define CRM_MEMBER_MEAN 1       /* mean of leaves: random forest probability / regression */
#define CRM_MEMBER_MEAN_LOGIT 2 /* logit of the clipped mean: random forest log-odds */

/* classify::forest::P_MIN: a forest's probability is clipped to [P_MIN, 1 - P_MIN]
 * before its logit. */
#define CRM_FOREST_P_MIN 1e-6

__device__ static double crm_nan(void) { return crm_bits_to_double(0x7ff8000000000000LL); }
__device__ static double crm_infinity(void) { return crm_bits_to_double(0x7ff0000000000000LL); }

/* First row of this thread and the stride of the grid-stride loop. */
__device__ static long long crm_first_index(void) { return (long long)blockIdx.x * (long long)blockDim.x + (long long)threadIdx.x; }
__device__ static long long crm_grid_stride(void) { return (long long)blockDim.x * (long long)gridDim.x; }

/* classify::logistic::sigmoid, branch for branch (the branches keep exp from
 * overflowing, and they round differently, so both are kept). */
__device__ static double crm_sigmoid(double z) {
    if (z >= 0.0) {
        return 1.0 / (1.0 + exp(-z));
    }
    double e = exp(z);
    return e / (1.0 + e);
}

__device__ static double crm_link(int link, double raw) {
    if (link == CRM_LINK_SIGMOID) {
        return crm_sigmoid(raw);
    }
    if (link == CRM_LINK_EXP) {
        return exp(raw);
    }
    return raw;
}

/* ------------------------------------------------------------------------------------
 * (a) Logistic and linear models: LogisticModel::log_odds, LinearRegressor::predict.
 * ------------------------------------------------------------------------------------ */

/* intercept + sum_j w_j x_j, the sum in column order from -0.0 as Rust's `sum`. Element
 * (row, j) of the batch is at row[j * column_stride]: row-major batches have stride 1,
 * column-major ones (coalesced reads on the GPU) the row count. */
__device__ static double crm_linear_row(const double *row, long long column_stride, const double *weights, long long width, double intercept) {
    double sum = -0.0;
    for (long long j = 0; j < width; j++) {
        sum += weights[j] * row[j * column_stride];
    }
    return intercept + sum;
}

CRM_EXTERN_C __global__ void crm_linear_score(const double *x, long long rows, long long row_stride, long long column_stride, const double *weights,
                                              long long width, double intercept, int link, double *out) {
    for (long long i = crm_first_index(); i < rows; i += crm_grid_stride()) {
        out[i] = crm_link(link, crm_linear_row(x + i * row_stride, column_stride, weights, width, intercept));
    }
}

/* ------------------------------------------------------------------------------------
 * (b) Tree ensembles: classify::tree::Tree::leaf summed as BoostedTrees::log_odds,
 * RandomForest::{probability, log_odds}, BoostedRegressor::raw, ForestRegressor::predict
 * and an ensemble's mean of its members' log-odds.
 *
 * Layout (gpu::layout::FlatTrees builds it): all trees' nodes one after another in
 * node_* arrays; tree t is nodes tree_first_node[t] .. tree_first_node[t + 1], its
 * left/right children numbered inside the tree (as Tree stores them), a node with
 * left == 0 is a leaf. Member m is trees member_first_tree[m] .. member_first_tree[m + 1]
 * combined by member_kind[m] (CRM_MEMBER_*) with member_base[m].
 * ------------------------------------------------------------------------------------ */

/* Tree::leaf(x).value: `x[feature] < threshold` goes left, anything else right, so NaN
 * (never below anything) goes right, as in Rust. Children must come after their parent
 * and inside the tree and features inside the row (what Tree::validate checks on the
 * host); a node that breaks this gives NaN instead of a wild read or an endless walk. */
__device__ static double crm_tree_leaf_value(const unsigned int *node_feature, const double *node_threshold, const unsigned int *node_left,
                                             const unsigned int *node_right, const double *node_value, long long first_node, long long n_nodes,
                                             const double *row, long long column_stride, long long width) {
    long long node = 0;
    /* children come after their parent, so a valid walk takes fewer than n_nodes steps */
    for (long long step = 0; step < n_nodes; step++) {
        long long at = first_node + node;
        long long left = (long long)node_left[at];
        if (left == 0) {
            return node_value[at];
        }
        long long feature = (long long)node_feature[at];
        if (feature >= width) {
            return crm_nan();
        }
        long long next = row[feature * column_stride] < node_threshold[at] ? left : (long long)node_right[at];
        if (next <= node || next >= n_nodes) {
            return crm_nan();
        }
        node = next;
    }
    return crm_nan();
}

/* A member's value: base + sum, mean, or the logit of the clipped mean of its trees'
 * leaves (classify::forest::logit: clamp keeps NaN as NaN, as f64::clamp). */
__device__ static double crm_member_value(int kind, double base, double leaf_sum, long long n_trees) {
    if (kind == CRM_MEMBER_SUM) {
        return base + leaf_sum;
    }
    double mean = leaf_sum / (double)n_trees;
    if (kind == CRM_MEMBER_MEAN) {
        return mean;
    }
    double p = mean < CRM_FOREST_P_MIN ? CRM_FOREST_P_MIN : (mean > 1.0 - CRM_FOREST_P_MIN ? 1.0 - CRM_FOREST_P_MIN : mean);
    return log(p / (1.0 - p));
}

CRM_EXTERN_C __global__ void crm_tree_score(const double *x, long long rows, long long row_stride, long long column_stride, long long width,
                                            const unsigned int *node_feature, const double *node_threshold, const unsigned int *node_left,
                                            const unsigned int *node_right, const double *node_value, const long long *tree_first_node,
                                            const long long *member_first_tree, const int *member_kind, const double *member_base, long long n_members,
                                            int link, double *out) {
    for (long long i = crm_first_index(); i < rows; i += crm_grid_stride()) {
        const double *row = x + i * row_stride;
        /* Predictor::Ensemble: the members' mean (one member: its value, exactly) */
        double member_sum = -0.0;
        for (long long m = 0; m < n_members; m++) {
            double leaf_sum = -0.0;
            for (long long t = member_first_tree[m]; t < member_first_tree[m + 1]; t++) {
                long long first = tree_first_node[t];
                leaf_sum += crm_tree_leaf_value(node_feature, node_threshold, node_left, node_right, node_value, first, tree_first_node[t + 1] - first, row,
                                                column_stride, width);
            }
            member_sum += crm_member_value(member_kind[m], member_base[m], leaf_sum, member_first_tree[m + 1] - member_first_tree[m]);
        }
        out[i] = crm_link(link, member_sum / (double)n_members);
    }
}

/* ------------------------------------------------------------------------------------
 * (c) k-means segments: segment::model::SegmentModel::assign in two passes, the
 * per-feature preprocessing (one thread an element) and the nearest centre (one a row).
 * ------------------------------------------------------------------------------------ */

/* SegmentFeature::transform: log1p where the model says so (values <= -1 cannot take
 * it), then the z-score; a value the model cannot place (NULL as NaN, non-finite, <= -1
 * under log1p) becomes NaN, which the assignment leaves out. */
__device__ static double crm_segment_transform(double x, int log1p_applies, double mean, double std) {
    if (log1p_applies) {
        if (x <= -1.0) {
            return crm_nan();
        }
        x = log1p(x);
    }
    double z = (x - mean) / std;
    /* is_finite: z - z is 0 for finite z, NaN for infinities and NaN */
    return z - z == 0.0 ? z : crm_nan();
}

CRM_EXTERN_C __global__ void crm_segment_standardise(const double *raw, long long rows, long long row_stride, long long column_stride, long long features,
                                                     const int *log1p_applies, const double *mean, const double *std, double *z) {
    long long cells = rows * features;
    for (long long c = crm_first_index(); c < cells; c += crm_grid_stride()) {
        long long i = c / features, j = c % features;
        z[c] = crm_segment_transform(raw[i * row_stride + j * column_stride], log1p_applies[j], mean[j], std[j]);
    }
}

/* segment::kmeans::squared_distance: four running sums over blocks of four columns, the
 * rest in a fifth, added as (s0 + s1) + (s2 + s3) + tail. */
__device__ static double crm_squared_distance(const double *a, const double *b, long long d) {
    double s0 = 0.0, s1 = 0.0, s2 = 0.0, s3 = 0.0, tail = 0.0;
    long long blocks = d / 4;
    for (long long q = 0; q < blocks; q++) {
        const double *x = a + 4 * q, *y = b + 4 * q;
        double d0 = x[0] - y[0], d1 = x[1] - y[1], d2 = x[2] - y[2], d3 = x[3] - y[3];
        s0 += d0 * d0;
        s1 += d1 * d1;
        s2 += d2 * d2;
        s3 += d3 * d3;
    }
    for (long long j = 4 * blocks; j < d; j++) {
        tail += (a[j] - b[j]) * (a[j] - b[j]);
    }
    return (s0 + s1) + (s2 + s3) + tail;
}

/* One row of standardised values (NaN = missing): segment[i] is the nearest centre,
 * numbered from 1 (0: every value missing), distance[i] the Euclidean distance to it.
 * A complete row uses kmeans::assign's distance; a partial one the partial-distance rule
 * (present columns only, in order, then scaled by d / present). Ties and NaN distances
 * as Rust: only a strictly smaller distance replaces the best, starting from centre 0 at
 * infinity. */
CRM_EXTERN_C __global__ void crm_kmeans_assign(const double *z, long long rows, long long d, const double *centroids, long long k, int *segment,
                                               double *distance) {
    for (long long i = crm_first_index(); i < rows; i += crm_grid_stride()) {
        const double *row = z + i * d;
        long long present = 0;
        for (long long j = 0; j < d; j++) {
            present += row[j] == row[j];
        }
        if (present == 0 || k <= 0) {
            segment[i] = 0;
            distance[i] = crm_nan();
            continue;
        }
        long long best = 0;
        double best_squared = crm_infinity();
        for (long long c = 0; c < k; c++) {
            const double *centre = centroids + c * d;
            double squared;
            if (present == d) {
                squared = crm_squared_distance(row, centre, d);
            } else {
                squared = -0.0;
                for (long long j = 0; j < d; j++) {
                    if (row[j] == row[j]) {
                        squared += (centre[j] - row[j]) * (centre[j] - row[j]);
                    }
                }
            }
            if (squared < best_squared) {
                best = c;
                best_squared = squared;
            }
        }
        segment[i] = (int)(best + 1);
        distance[i] = present == d ? sqrt(best_squared) : sqrt(best_squared * ((double)d / (double)present));
    }
}

/* ------------------------------------------------------------------------------------
 * (d) ALS: each user's scores over the catalogue and top k, as recommend::Model's ALS
 * branch (no candidate list) with recommend::TopK.
 * ------------------------------------------------------------------------------------ */

/* user . item: the f32 factors' products are exact in double; summed in order in double
 * and rounded to float once. The Rust path sums in f32 (vector lanes, with FMA where
 * the CPU has it), so its scores carry f32 rounding this one does not: see
 * gpu::tests for how they are compared. */
__device__ static float crm_als_score(const float *user, const float *item, long long f) {
    double sum = -0.0;
    for (long long l = 0; l < f; l++) {
        sum += (double)user[l] * (double)item[l];
    }
    return (float)sum;
}

/* f32::total_cmp's key: the float's bits as a signed integer, the magnitude bits flipped
 * for negative values, so -0.0 < +0.0 and comparison is by integer. */
__device__ static int crm_total_key(float value) {
    int bits = crm_float_bits(value);
    return bits ^ (int)((unsigned int)(bits >> 31) >> 1);
}

/* Ranked's order: the higher score (by total_cmp) first, on equal scores the lower item. */
__device__ static int crm_ranks_before(int key_a, long long item_a, int key_b, long long item_b) {
    return key_a > key_b || (key_a == key_b && item_a < item_b);
}

/* For each user b of the batch (model row user_rows[b]): the k best eligible items,
 * best first, into top_items/top_scores[b * k ..] (-1 / NaN past top_count[b]).
 * Eligible: item_eligible[j] (the item has training rows and is not excluded for all)
 * and j not among seen_items[seen_first[b] .. seen_first[b + 1]] (the user's training
 * items when seen items are excluded; sorted ascending). Non-finite scores never enter
 * (TopK::push). Items are scanned in ascending order and kept sorted by Ranked's order,
 * so ties keep the lower item, as TopK does. */
CRM_EXTERN_C __global__ void crm_als_top_k(const float *user_factors, long long n_users, const long long *user_rows, long long batch, const float *item_factors,
                                           long long n_items, long long f, const unsigned char *item_eligible, const long long *seen_first,
                                           const unsigned int *seen_items, long long k, int *top_items, float *top_scores, int *top_count) {
    for (long long b = crm_first_index(); b < batch; b += crm_grid_stride()) {
        int *items = top_items + b * k;
        float *scores = top_scores + b * k;
        for (long long slot = 0; slot < k; slot++) {
            items[slot] = -1;
            scores[slot] = (float)crm_nan();
        }
        long long user = user_rows[b];
        long long count = 0;
        if (user >= 0 && user < n_users) {
            const float *factors = user_factors + user * f;
            long long seen = seen_first[b], seen_end = seen_first[b + 1];
            for (long long j = 0; j < n_items && k > 0; j++) {
                if (!item_eligible[j]) {
                    continue;
                }
                /* both lists ascend: walk the seen list along the catalogue */
                while (seen < seen_end && (long long)seen_items[seen] < j) {
                    seen++;
                }
                if (seen < seen_end && (long long)seen_items[seen] == j) {
                    continue;
                }
                float s = crm_als_score(factors, item_factors + j * f, f);
                if (!(s - s == 0.0f)) {
                    continue;
                }
                int key = crm_total_key(s);
                if (count == k && !crm_ranks_before(key, j, crm_total_key(scores[k - 1]), items[k - 1])) {
                    continue;
                }
                /* insertion: shift the worse entries down one slot (the last falls off) */
                long long at = count < k ? count : k - 1;
                while (at > 0 && crm_ranks_before(key, j, crm_total_key(scores[at - 1]), items[at - 1])) {
                    items[at] = items[at - 1];
                    scores[at] = scores[at - 1];
                    at--;
                }
                items[at] = (int)j;
                scores[at] = s;
                if (count < k) {
                    count++;
                }
            }
        }
        top_count[b] = (int)count;
    }
}
