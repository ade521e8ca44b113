//! SQL surface of the gpu capability: setting `crm.device` and `crm.gpu_info()`.

use pgrx::prelude::*;
use pgrx::{GucContext, GucFlags, GucRegistry, GucSetting, JsonB, PostgresGucEnum};

use super::DeviceSetting;

#[derive(PostgresGucEnum, Clone, Copy, PartialEq, Eq, Debug)]
pub enum DeviceGuc {
    #[name = c"auto"]
    Auto,
    #[name = c"cpu"]
    Cpu,
    #[name = c"cuda"]
    Cuda,
}

pub static DEVICE: GucSetting<DeviceGuc> = GucSetting::<DeviceGuc>::new(DeviceGuc::Auto);

pub fn register_gucs() {
    GucRegistry::define_enum_guc(
        c"crm.device",
        c"Where batch scoring runs: auto, cpu or cuda.",
        c"auto: a GPU when one is present and the batch is large enough, else the CPU; cpu; cuda: a GPU or an error.",
        &DEVICE,
        GucContext::Userset,
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

/// What this backend found: the CUDA driver, the device, its memory, or why there is none.
#[pg_extern(volatile, parallel_safe)]
fn gpu_info() -> JsonB {
    JsonB(serde_json::to_value(super::info()).unwrap_or(serde_json::Value::Null))
}
