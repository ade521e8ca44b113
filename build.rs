//! Builds the CPU reference executor of the GPU kernels: `src/gpu/kernels.cu` compiled
//! by the system C compiler through the shim `src/gpu/kernels_cpu.h` (see
//! `src/gpu/cpu_executor.c`) into a static library that `gpu::cpu_executor` calls. The
//! same source is what NVRTC compiles for the GPU, so tests on the CPU check the code the
//! GPU runs.
//!
//! Only the `cc` crate and the system C compiler: no CUDA toolkit, no network, nothing
//! that would stop `cargo pgrx` from building on a machine without a GPU.

fn main() {
    for input in ["src/gpu/kernels.cu", "src/gpu/kernels_cpu.h", "src/gpu/cpu_executor.c"] {
        println!("cargo:rerun-if-changed={input}");
    }
    cc::Build::new()
        .file("src/gpu/cpu_executor.c")
        .include("src/gpu")
        // C11 for _Thread_local (the shim's per-thread blockIdx/threadIdx).
        .std("c11")
        // No fused multiply-add: a contracted a*b+c rounds once where the Rust scoring
        // code rounds twice, and the executor must give the Rust path's bits (NVRTC gets
        // --fmad=false for the same reason). Fast-math would reorder sums: never.
        .flag_if_supported("-ffp-contract=off")
        .flag_if_supported("-fno-fast-math")
        .warnings(true)
        .extra_warnings(true)
        .compile("crm_gpu_cpu_executor");
}
