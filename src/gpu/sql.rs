//! SQL surface of the gpu capability: the settings `crm.device`, `crm.gpu_min_rows`,
//! `crm.gpu_batch_rows` and `crm.gpu_emulation`, and `crm.gpu_info()`.

use pgrx::prelude::*;
use pgrx::{GucContext, GucFlags, GucRegistry, GucSetting, JsonB, PostgresGucEnum};

use super::{DeviceSetting, Emulation, Policy};

#[derive(PostgresGucEnum, Clone, Copy, PartialEq, Eq, Debug)]
pub enum DeviceGuc {
    #[name = c"auto"]
    Auto,
    #[name = c"cpu"]
    Cpu,
    #[name = c"cuda"]
    Cuda,
}

#[derive(PostgresGucEnum, Clone, Copy, PartialEq, Eq, Debug)]
pub enum EmulationGuc {
    #[name = c"off"]
    Off,
    #[name = c"reference"]
    Reference,
    #[name = c"faulty"]
    Faulty,
}

pub static DEVICE: GucSetting<DeviceGuc> = GucSetting::<DeviceGuc>::new(DeviceGuc::Auto);
pub static EMULATION: GucSetting<EmulationGuc> = GucSetting::<EmulationGuc>::new(EmulationGuc::Off);
/// Until gpu-check has measured a break-even on a GPU machine, a batch size at which a
/// tree-ensemble batch certainly amortises the device's start (NVRTC compile and
/// self-test once per backend, model upload once per batch).
pub static MIN_ROWS: GucSetting<i32> = GucSetting::<i32>::new(200_000);
pub static BATCH_ROWS: GucSetting<i32> = GucSetting::<i32>::new(262_144);

pub fn register_gucs() {
    GucRegistry::define_enum_guc(
        c"crm.device",
        c"Where batch scoring runs: auto, cpu or cuda.",
        c"auto: a GPU that passed its self-test, for batches of at least crm.gpu_min_rows rows, else the CPU; cpu; cuda: a GPU from the first row, or an error. Per-row functions always run on the CPU.",
        &DEVICE,
        GucContext::Userset,
        GucFlags::default(),
    );
    GucRegistry::define_int_guc(
        c"crm.gpu_min_rows",
        c"With crm.device = 'auto', batches of fewer rows stay on the CPU.",
        c"Rows are held (encoded) until the batch reaches this size, so it also bounds that memory: rows x features x 8 bytes.",
        &MIN_ROWS,
        1,
        10_000_000,
        GucContext::Userset,
        GucFlags::default(),
    );
    GucRegistry::define_int_guc(
        c"crm.gpu_batch_rows",
        c"Rows per transfer to the GPU.",
        c"Two transfers are in flight, each with pinned host and device buffers: GPU and pinned memory are each 2 x rows x (features + 1) x 8 bytes.",
        &BATCH_ROWS,
        1,
        16_777_216,
        GucContext::Userset,
        GucFlags::default(),
    );
    GucRegistry::define_enum_guc(
        c"crm.gpu_emulation",
        c"For tests: the CPU reference executor (or a faulty one) stands in for a GPU.",
        c"off: a real GPU; reference: the CPU reference executor runs the GPU path (chunks, self-test); faulty: one kernel is wrong, so the self-test fails.",
        &EMULATION,
        GucContext::Suset,
        GucFlags::default(),
    );
}

/// The current `crm.device`.
pub fn device_setting() -> DeviceSetting {
    match DEVICE.get() {
        DeviceGuc::Auto => DeviceSetting::Auto,
        DeviceGuc::Cpu => DeviceSetting::Cpu,
        DeviceGuc::Cuda => DeviceSetting::Cuda,
    }
}

fn emulation() -> Emulation {
    match EMULATION.get() {
        EmulationGuc::Off => Emulation::Off,
        EmulationGuc::Reference => Emulation::Reference,
        EmulationGuc::Faulty => Emulation::Faulty,
    }
}

/// The session's device policy.
pub fn policy() -> Policy {
    Policy { setting: device_setting(), emulation: emulation(), min_rows: MIN_ROWS.get().max(1) as usize, chunk_rows: BATCH_ROWS.get().max(1) as usize }
}

/// `gpu::batch_device` with its WARNING given here.
pub fn batch_device(policy: &Policy) -> crate::error::Result<Option<super::SharedExecutor>> {
    let (device, warning) = super::batch_device(policy)?;
    if let Some(warning) = warning {
        pgrx::warning!("{warning}");
    }
    Ok(device)
}

/// The device of one batch function call, opened once: at once under `cuda` (so an
/// error comes before any row is read), when the batch reaches `crm.gpu_min_rows` rows
/// under `auto` (see `executor::RowScorer`).
pub struct BatchDevice {
    pub policy: Policy,
    executor: std::cell::OnceCell<super::SharedExecutor>,
}

impl BatchDevice {
    /// `has_kernel`: whether the model has a kernel at all (none: the CPU, never opened).
    pub fn new(policy: Policy, has_kernel: bool) -> crate::error::Result<BatchDevice> {
        let device = BatchDevice { policy, executor: std::cell::OnceCell::new() };
        if has_kernel && policy.setting == super::DeviceSetting::Cuda {
            device.executor()?;
        }
        Ok(device)
    }

    /// The executor, opened now if it was not; None: the CPU.
    pub fn executor(&self) -> crate::error::Result<Option<&dyn super::executor::Executor>> {
        if self.executor.get().is_none() {
            if let Some(executor) = batch_device(&self.policy)? {
                let _ = self.executor.set(executor);
            }
        }
        Ok(self.executor.get().map(|e| e.as_ref()))
    }
}

/// What this backend found: the CUDA driver, the device, its memory, or why there is
/// none; the executor batches would use and its self-test against the CPU path (run now
/// if this backend has not run it yet); the settings in force.
#[pg_extern(volatile, parallel_safe)]
fn gpu_info() -> JsonB {
    let policy = policy();
    let mut info = serde_json::to_value(super::info()).unwrap_or(serde_json::Value::Null);
    let (executor, unavailable, self_test) = super::device_report(policy.emulation);
    if let serde_json::Value::Object(map) = &mut info {
        map.insert("executor".into(), executor.into());
        if policy.emulation != Emulation::Off {
            map.insert("emulation".into(), format!("{:?}", policy.emulation).to_lowercase().into());
        }
        if let Some(why) = unavailable {
            map.insert("executor_unavailable".into(), why.into());
        }
        map.insert("self_test".into(), serde_json::to_value(self_test).unwrap_or(serde_json::Value::Null));
        let (batches, rows) = super::device_batches();
        map.insert("this_backend".into(), serde_json::json!({"batches_on_device": batches, "rows_on_device": rows}));
        map.insert(
            "settings".into(),
            serde_json::json!({
                "device": format!("{:?}", policy.setting).to_lowercase(),
                "gpu_min_rows": policy.min_rows,
                "gpu_batch_rows": policy.chunk_rows,
            }),
        );
    }
    JsonB(info)
}
