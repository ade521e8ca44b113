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
//! Where a batch runs: `executor` puts every kernel behind one interface (the CPU
//! reference executor, the CUDA executor in `cuda`, a deliberately faulty emulation) and
//! holds the host side of batch scoring (`RowScorer`: the CPU until a batch is large
//! enough, then the device in chunks). Before a backend first uses a device it runs
//! `selftest` (every kernel against the CPU path); a device that fails it is never used.
//! `crm.gpu_emulation` puts the reference executor (or the faulty one) in the device's
//! place, so the whole GPU path but the driver calls runs in tests on any machine.

use std::cell::{Cell, OnceCell, RefCell};
use std::rc::Rc;

use serde::Serialize;

use crate::error::{CrmError, Result};

/// What `crm.device` may say.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeviceSetting {
    Auto,
    Cpu,
    Cuda,
}

/// What stands in for the GPU (`crm.gpu_emulation`; superuser only): nothing, the CPU
/// reference executor, or a faulty one whose self-test fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Emulation {
    Off,
    Reference,
    Faulty,
}

/// How a batch chooses its device: the settings of the session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    pub setting: DeviceSetting,
    pub emulation: Emulation,
    /// `auto`: batches of fewer rows stay on the CPU (`crm.gpu_min_rows`).
    pub min_rows: usize,
    /// Rows per transfer to the device (`crm.gpu_batch_rows`).
    pub chunk_rows: usize,
}

impl Policy {
    /// Rows a batch must reach before it may move to the device: none for `cuda` (the
    /// device from the first row, or an error), `min_rows` for `auto`.
    pub fn threshold(&self) -> usize {
        match self.setting {
            DeviceSetting::Cuda => 0,
            _ => self.min_rows,
        }
    }
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
        kernels: true,
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

/// An executor shared by the batches of a backend.
pub type SharedExecutor = Rc<dyn executor::Executor>;

/// A backend's device, opened and self-tested once per emulation mode.
struct DeviceState {
    executor: Option<Rc<dyn executor::Executor>>,
    /// Why there is no executor.
    unavailable: Option<String>,
    self_test: Option<selftest::SelfTest>,
    /// Whether the WARNING for a failed self-test under `auto` was given.
    warned: Cell<bool>,
}

fn open_device(emulation: Emulation) -> DeviceState {
    let tested = |executor: Rc<dyn executor::Executor>| {
        let result = selftest::run(executor.as_ref());
        DeviceState { executor: Some(executor), unavailable: None, self_test: Some(result), warned: Cell::new(false) }
    };
    match emulation {
        Emulation::Reference => tested(Rc::new(executor::ReferenceExecutor::default())),
        Emulation::Faulty => tested(Rc::new(executor::FaultyExecutor::default())),
        Emulation::Off => {
            let found = info();
            let unavailable = |why: String| DeviceState { executor: None, unavailable: Some(why), self_test: None, warned: Cell::new(false) };
            if !found.available {
                return unavailable(found.reason.unwrap_or_else(|| "no usable CUDA device".into()));
            }
            // cudarc may panic on a driver or NVRTC it cannot use, opening or in the
            // self-test's launches: the device is then unavailable, never the backend down.
            let opened = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| cuda::CudaExecutor::open().map(|device| tested(Rc::new(device)))));
            match opened {
                Ok(Ok(state)) => state,
                Ok(Err(e)) => unavailable(e.message().to_string()),
                Err(_) => unavailable("the CUDA driver or NVRTC failed while the kernels were loaded and self-tested (see the server log)".into()),
            }
        }
    }
}

thread_local! {
    static DEVICES: RefCell<Vec<(Emulation, Rc<DeviceState>)>> = const { RefCell::new(Vec::new()) };
}

fn device_state(emulation: Emulation) -> Rc<DeviceState> {
    if let Some(state) = DEVICES.with(|d| d.borrow().iter().find(|(e, _)| *e == emulation).map(|(_, s)| s.clone())) {
        return state;
    }
    let state = Rc::new(open_device(emulation));
    DEVICES.with(|d| d.borrow_mut().push((emulation, state.clone())));
    state
}

/// What `crm.gpu_info()` adds to the probe: the executor and its self-test (run now if
/// a device is there and this backend has not used it yet).
pub fn device_report(emulation: Emulation) -> (Option<String>, Option<String>, Option<selftest::SelfTest>) {
    let state = device_state(emulation);
    (state.executor.as_ref().map(|e| e.describe()), state.unavailable.clone(), state.self_test.clone())
}

/// The device a batch that reached `policy.threshold()` rows runs on, or None for the
/// CPU; with a WARNING to give (once per backend) when `auto` passes over a device that
/// failed its self-test. `cuda` without a device that passed is an error that says why.
pub fn batch_device(policy: &Policy) -> Result<(Option<SharedExecutor>, Option<String>)> {
    if policy.setting == DeviceSetting::Cpu {
        return Ok((None, None));
    }
    let state = device_state(policy.emulation);
    let failure = state.self_test.as_ref().and_then(|t| t.failure_summary());
    match (policy.setting, &state.executor, failure) {
        (_, Some(executor), None) => Ok((Some(executor.clone()), None)),
        (DeviceSetting::Cuda, Some(_), Some(failure)) => Err(CrmError::Device(format!(
            "crm.device = 'cuda': the GPU failed its self-test against the CPU path ({failure}); set crm.device to 'auto' or 'cpu' (crm.gpu_info() shows the self-test)"
        ))),
        (DeviceSetting::Cuda, None, _) => Err(CrmError::Unsupported(format!(
            "crm.device = 'cuda' cannot be served: {}; set crm.device to 'auto' or 'cpu' (crm.gpu_info() shows what was found)",
            state.unavailable.as_deref().unwrap_or("no usable CUDA device")
        ))),
        (_, Some(_), Some(failure)) => {
            let warning = (!state.warned.replace(true)).then(|| {
                format!("the GPU failed its self-test against the CPU path ({failure}); batch scoring runs on the CPU in this session (crm.gpu_info() shows the self-test)")
            });
            Ok((None, warning))
        }
        (_, None, _) => Ok((None, None)),
    }
}

thread_local! {
    static ON_DEVICE: Cell<(u64, u64)> = const { Cell::new((0, 0)) };
}

/// Counts a batch of `rows` rows that ran on the device (`crm.gpu_info()` shows the
/// backend's totals, so a user can see where batches went).
pub fn record_device_batch(rows: usize) {
    ON_DEVICE.with(|c| {
        let (batches, total) = c.get();
        c.set((batches + 1, total + rows as u64));
    });
}

/// (batches, rows) this backend ran on a device.
pub fn device_batches() -> (u64, u64) {
    ON_DEVICE.with(|c| c.get())
}

/// Why `model` has no kernel, for a `cuda` batch (an error) — `auto` keeps the CPU.
pub fn kernel_refused(policy: &Policy, why: CrmError) -> Result<()> {
    match policy.setting {
        DeviceSetting::Cuda => Err(CrmError::Unsupported(format!("crm.device = 'cuda': {}; set crm.device to 'auto' to score it on the CPU", why.message()))),
        _ => Ok(()),
    }
}

pub mod cpu_executor;
pub mod cuda;
pub mod executor;
pub mod kernels;
pub mod layout;
pub mod selftest;
pub mod sql;

#[cfg(test)]
mod device_check;
#[cfg(test)]
mod nvrtc_check;
#[cfg(test)]
mod tests;

#[cfg(test)]
mod device_tests {
    use super::*;

    fn policy(setting: DeviceSetting, emulation: Emulation) -> Policy {
        Policy { setting, emulation, min_rows: 1000, chunk_rows: 100 }
    }

    #[test]
    fn cpu_never_opens_a_device_and_cuda_without_one_says_why() {
        assert!(batch_device(&policy(DeviceSetting::Cpu, Emulation::Reference)).unwrap().0.is_none());
        let found = info();
        assert_eq!(found.available, found.reason.is_none());
        assert!(found.kernels);
        if !found.available {
            assert!(matches!(batch_device(&policy(DeviceSetting::Auto, Emulation::Off)), Ok((None, None))));
            let e = batch_device(&policy(DeviceSetting::Cuda, Emulation::Off)).err().unwrap();
            assert_eq!(e.sqlstate(), "0A000");
            assert!(e.message().contains("crm.device = 'cuda' cannot be served") && e.message().contains("crm.gpu_info()"), "{e}");
        }
        assert_eq!(policy(DeviceSetting::Cuda, Emulation::Off).threshold(), 0);
        assert_eq!(policy(DeviceSetting::Auto, Emulation::Off).threshold(), 1000);
    }

    #[test]
    fn an_emulated_device_that_passes_its_self_test_serves_auto_and_cuda() {
        for setting in [DeviceSetting::Auto, DeviceSetting::Cuda] {
            let (device, warning) = batch_device(&policy(setting, Emulation::Reference)).unwrap();
            assert!(device.unwrap().describe().contains("reference executor"));
            assert!(warning.is_none());
        }
        let (executor, unavailable, test) = device_report(Emulation::Reference);
        assert!(executor.is_some() && unavailable.is_none() && test.unwrap().passed);
    }

    #[test]
    fn a_failed_self_test_warns_once_under_auto_and_is_an_error_under_cuda() {
        let (device, warning) = batch_device(&policy(DeviceSetting::Auto, Emulation::Faulty)).unwrap();
        assert!(device.is_none());
        let warning = warning.unwrap();
        assert!(warning.contains("self-test") && warning.contains("kernel crm_tree_score") && warning.contains("runs on the CPU"), "{warning}");
        // once per backend
        assert!(batch_device(&policy(DeviceSetting::Auto, Emulation::Faulty)).unwrap().1.is_none());
        let e = batch_device(&policy(DeviceSetting::Cuda, Emulation::Faulty)).err().unwrap();
        assert_eq!(e.sqlstate(), "58000");
        assert!(e.message().contains("kernel crm_tree_score: row ") && e.message().contains("relative difference"), "{e}");
        assert!(!device_report(Emulation::Faulty).2.unwrap().passed);
    }

    #[test]
    fn a_model_without_a_kernel_is_an_error_only_under_cuda() {
        let why = CrmError::Unsupported("calibrated classifiers have no GPU kernel".into());
        assert!(kernel_refused(&policy(DeviceSetting::Auto, Emulation::Off), why.clone()).is_ok());
        let e = kernel_refused(&policy(DeviceSetting::Cuda, Emulation::Off), why).unwrap_err();
        assert_eq!(e.sqlstate(), "0A000");
        assert!(e.message().contains("calibrated"), "{e}");
    }
}
