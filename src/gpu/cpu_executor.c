/*
 * The CPU reference executor: kernels.cu compiled by the host C compiler (through the
 * shim in kernels_cpu.h) and one exported launcher per kernel, which runs the kernel for
 * every thread of a grid of `grid` blocks of `block` threads. build.rs compiles this
 * file into a static library; gpu::cpu_executor calls the launchers.
 *
 * Launchers take exactly the kernel's arguments after the grid, and return 0, or 1 for a
 * launch a GPU would refuse (an empty grid or block). They trust their arguments: the
 * Rust wrappers check every length before calling.
 */
#include "kernels.cu"

#define CRM_CHECK_LAUNCH(grid, block) \
    if ((grid) == 0 || (block) == 0) {  \
        return 1;                       \
    }

int crm_cpu_linear_score(unsigned int grid, unsigned int block, const double *x, long long rows, long long row_stride, long long column_stride,
                         const double *weights, long long width, double intercept, int link, double *out) {
    CRM_CHECK_LAUNCH(grid, block);
    CRM_CPU_LAUNCH(grid, block, crm_linear_score(x, rows, row_stride, column_stride, weights, width, intercept, link, out));
    return 0;
}

int crm_cpu_tree_score(unsigned int grid, unsigned int block, const double *x, long long rows, long long row_stride, long long column_stride, long long width,
                       const unsigned int *node_feature, const double *node_threshold, const unsigned int *node_left, const unsigned int *node_right,
                       const double *node_value, const long long *tree_first_node, const long long *member_first_tree, const int *member_kind,
                       const double *member_base, long long n_members, int link, double *out) {
    CRM_CHECK_LAUNCH(grid, block);
    CRM_CPU_LAUNCH(grid, block,
                   crm_tree_score(x, rows, row_stride, column_stride, width, node_feature, node_threshold, node_left, node_right, node_value, tree_first_node,
                                  member_first_tree, member_kind, member_base, n_members, link, out));
    return 0;
}

int crm_cpu_segment_standardise(unsigned int grid, unsigned int block, const double *raw, long long rows, long long row_stride, long long column_stride,
                                long long features, const int *log1p_applies, const double *mean, const double *std, double *z) {
    CRM_CHECK_LAUNCH(grid, block);
    CRM_CPU_LAUNCH(grid, block, crm_segment_standardise(raw, rows, row_stride, column_stride, features, log1p_applies, mean, std, z));
    return 0;
}

int crm_cpu_kmeans_assign(unsigned int grid, unsigned int block, const double *z, long long rows, long long d, const double *centroids, long long k, int *segment,
                          double *distance) {
    CRM_CHECK_LAUNCH(grid, block);
    CRM_CPU_LAUNCH(grid, block, crm_kmeans_assign(z, rows, d, centroids, k, segment, distance));
    return 0;
}

int crm_cpu_als_top_k(unsigned int grid, unsigned int block, const float *user_factors, long long n_users, const long long *user_rows, long long batch,
                      const float *item_factors, long long n_items, long long f, const unsigned char *item_eligible, const long long *seen_first,
                      const unsigned int *seen_items, long long k, int *top_items, float *top_scores, int *top_count) {
    CRM_CHECK_LAUNCH(grid, block);
    CRM_CPU_LAUNCH(grid, block,
                   crm_als_top_k(user_factors, n_users, user_rows, batch, item_factors, n_items, f, item_eligible, seen_first, seen_items, k, top_items,
                                 top_scores, top_count));
    return 0;
}
