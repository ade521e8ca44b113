//! The `gpu` capability: finding a CUDA device at run time and choosing where a batch
//! runs (`crm.device`).
//!
//! cudarc loads `libcuda.so` dynamically, so one build serves machines with and without
//! a GPU; it panics when the library is missing, so nothing here touches the driver
//! before `is_culib_present()` says it is there. The probe runs once per backend.
//!
//! Kernels: `kernels.cu` holds every batch kernel (linear and tree-ensemble scoring,
//! k-means assignment, ALS top-k) once, as C device code. NVRTC compiles it for the GPU;
//! build.rs compiles the same file with the host C compiler into the CPU reference
//! executor (`cpu_executor`), which the unit tests compare with the Rust scoring code
//! (`tests`), and CI compiles it with NVRTC for every supported architecture
//! (`nvrtc_check`, no GPU needed). `layout` turns stored models into the kernels' flat
//! arrays.
//!
//! Status: the GPU launch path (device buffers, streams, the self-test before first use)
//! is not written yet, so an explicit `crm.device = 'cuda'` is still refused with 0A000
//! rather than run unchecked code.

use std::cell::OnceCell;

use serde::Serialize;

use crate::error::{CrmError, Result};

/// What `crm.device` may say.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeviceSetting {
    Auto,
    Cpu,
    Cuda,
}

/// Where a batch runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Device {
    Cpu,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GpuInfo {
    pub available: bool,
    /// Why no device can be used, when none can.
    pub reason: Option<String>,
    pub driver_library: &'static str,
    pub device_count: Option<i32>,
    pub device: Option<String>,
    pub compute_capability: Option<String>,
    pub memory_bytes: Option<u64>,
    /// Whether this build has GPU kernels for batch scoring.
    pub kernels: bool,
}

const DRIVER_LIBRARY: &str = "libcuda.so (CUDA driver API, loaded at run time; CUDA 13 expected)";

fn probe_now() -> GpuInfo {
    let mut info = GpuInfo {
        available: false,
        reason: None,
        driver_library: DRIVER_LIBRARY,
        device_count: None,
        device: None,
        compute_capability: None,
        memory_bytes: None,
        kernels: false,
    };
    // SAFETY: only tries to open the driver library; touches nothing else.
    if !unsafe { cudarc::driver::sys::is_culib_present() } {
        info.reason = Some("no CUDA driver library found (looked for libcuda.so / libcuda.so.1 on the library path)".into());
        return info;
    }
    // cudarc may panic on a driver it cannot use; a probe must never take the backend down.
    let probed = std::panic::catch_unwind(|| {
        let count = cudarc::driver::CudaContext::device_count().map_err(|e| format!("cuInit/cuDeviceGetCount failed: {e:?}"))?;
        if count < 1 {
            return Err("the CUDA driver reports no device".to_string());
        }
        let ctx = cudarc::driver::CudaContext::new(0).map_err(|e| format!("cannot create a context on device 0: {e:?}"))?;
        let name = ctx.name().ok();
        let capability = ctx.compute_capability().ok().map(|(major, minor)| format!("{major}.{minor}"));
        let memory = ctx.total_mem().ok().map(|m| m as u64);
        Ok((count, name, capability, memory))
    });
    match probed {
        Ok(Ok((count, name, capability, memory))) => {
            info.available = true;
            info.device_count = Some(count);
            info.device = name;
            info.compute_capability = capability;
            info.memory_bytes = memory;
        }
        Ok(Err(reason)) => info.reason = Some(reason),
        Err(_) => info.reason = Some("the CUDA driver could not be initialised".into()),
    }
    info
}

thread_local! {
    static PROBED: OnceCell<GpuInfo> = const { OnceCell::new() };
}

/// What this backend found (probed once).
pub fn info() -> GpuInfo {
    PROBED.with(|p| p.get_or_init(probe_now).clone())
}

/// Where a batch of `rows` rows runs under `setting`: `auto` and `cpu` run on the CPU
/// (the only path with kernels in this build); `cuda` is an error saying what was
/// looked for and found.
pub fn choose(setting: DeviceSetting, _rows: usize) -> Result<Device> {
    match setting {
        DeviceSetting::Auto | DeviceSetting::Cpu => Ok(Device::Cpu),
        DeviceSetting::Cuda => {
            let found = info();
            let why = if found.available {
                format!(
                    "a CUDA device was found ({}), but this build of pg_crm has no GPU kernels for batch scoring yet",
                    found.device.as_deref().unwrap_or("unnamed")
                )
            } else {
                found.reason.unwrap_or_else(|| "no usable CUDA device".into())
            };
            Err(CrmError::Unsupported(format!(
                "crm.device = 'cuda' cannot be served: {why}; set crm.device to 'auto' or 'cpu' (crm.gpu_info() shows what was found)"
            )))
        }
    }
}

pub mod cpu_executor;
pub mod kernels;
pub mod layout;
pub mod sql;

#[cfg(test)]
mod nvrtc_check;
#[cfg(test)]
mod tests;

#[cfg(test)]
mod device_tests {
    use super::*;

    #[test]
    fn cpu_and_auto_run_on_the_cpu_and_cuda_says_why_not() {
        assert_eq!(choose(DeviceSetting::Cpu, 10).unwrap(), Device::Cpu);
        assert_eq!(choose(DeviceSetting::Auto, 10_000_000).unwrap(), Device::Cpu);
        let e = choose(DeviceSetting::Cuda, 10).unwrap_err();
        assert_eq!(e.sqlstate(), "0A000");
        assert!(e.message().contains("crm.device"), "{e}");
        let found = info();
        assert_eq!(found.available, found.reason.is_none());
        assert!(!found.kernels);
    }
}
