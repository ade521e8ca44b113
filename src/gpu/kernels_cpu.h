/*
 * The host shim of kernels.cu: what a C compiler needs to build the CUDA source as the
 * CPU reference executor (cpu_executor.c). Only this file differs between the two
 * builds; the kernels themselves are compiled unchanged.
 *
 *  - `__global__` kernels and `__device__` helpers become file-local C functions (only
 *    the launchers of cpu_executor.c are exported).
 *  - blockIdx, threadIdx, blockDim and gridDim become thread-local variables that
 *    CRM_CPU_LAUNCH sets before calling the kernel once per (block, thread) of the grid,
 *    blocks and threads in order. Thread-local, so Rust tests running at once on several
 *    threads each have their own. No kernel uses __syncthreads or shared memory: a
 *    thread's work never depends on another's, which is what makes this loop exact.
 *  - The bit casts CUDA spells __longlong_as_double / __float_as_int.
 */
#ifndef CRM_KERNELS_CPU_H
#define CRM_KERNELS_CPU_H

#include <math.h>
#include <string.h>

#define __global__ static
#define __device__
#define __restrict__ restrict
#define CRM_EXTERN_C

typedef struct {
    unsigned int x, y, z;
} crm_dim3;

static _Thread_local crm_dim3 blockIdx, threadIdx, blockDim, gridDim;

static double crm_bits_to_double(long long bits) {
    double value;
    memcpy(&value, &bits, sizeof value);
    return value;
}

static int crm_float_bits(float value) {
    int bits;
    memcpy(&bits, &value, sizeof bits);
    return bits;
}

/* Runs `call` (a kernel call) for every thread of a one-dimensional grid of `grid`
 * blocks of `block` threads, as a GPU launch would, one after another. */
#define CRM_CPU_LAUNCH(grid, block, call)                           \
    do {                                                            \
        gridDim.x = (grid);                                         \
        gridDim.y = gridDim.z = 1;                                  \
        blockDim.x = (block);                                       \
        blockDim.y = blockDim.z = 1;                                \
        blockIdx.y = blockIdx.z = threadIdx.y = threadIdx.z = 0;    \
        for (unsigned int b_ = 0; b_ < gridDim.x; b_++) {           \
            for (unsigned int t_ = 0; t_ < blockDim.x; t_++) {      \
                blockIdx.x = b_;                                    \
                threadIdx.x = t_;                                   \
                call;                                               \
            }                                                       \
        }                                                           \
    } while (0)

#endif
