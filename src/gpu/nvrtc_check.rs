//! The NVRTC compile check: every kernel of `kernels.cu` compiles to PTX for every
//! architecture we support, through cudarc's NVRTC bindings and the options the GPU path
//! uses. NVRTC compiles without a GPU or a driver, so CI runs this on any machine.
//!
//! Which NVRTC: `PG_CRM_NVRTC` (a libnvrtc.so.13, e.g. what `scripts/gpu-nvrtc` prints,
//! or a CUDA toolkit's), else the one `scripts/gpu-nvrtc` unpacks under target/nvrtc/.
//! None found: the test says so and passes, unless `CI` is set, where a check that cannot
//! run is a failure.
//!
//! cudarc opens NVRTC by library name only (libnvrtc.so, ..., libnvrtc.so.13, through the
//! loader's search path, fixed when the process started). So the test first opens the
//! file by its path; the loader then answers cudarc's request for libnvrtc.so.13 with the
//! library already loaded (it matches loaded libraries by soname). A system whose loader
//! path has another `libnvrtc.so` would give cudarc that one first: the version printed
//! says which compiled.

use std::ffi::{c_char, c_int, c_void, CStr, CString};
use std::path::PathBuf;

use super::kernels::{nvrtc_options, ARCHITECTURES, ENTRY_POINTS, SOURCE};

extern "C" {
    // POSIX dlopen (in glibc's libc since 2.34, in libdl before, which Rust's std links).
    fn dlopen(filename: *const c_char, flags: c_int) -> *mut c_void;
    fn dlerror() -> *const c_char;
}
const RTLD_NOW: c_int = 2;
const RTLD_GLOBAL: c_int = 0x100;

/// Where `scripts/gpu-nvrtc` unpacks the wheel's library.
const UNPACKED: &str = "target/nvrtc/unpacked/nvidia/cu13/lib/libnvrtc.so.13";

/// The library to test with, or why there is none.
fn nvrtc_library() -> Result<PathBuf, String> {
    match std::env::var_os("PG_CRM_NVRTC").filter(|v| !v.is_empty()) {
        Some(path) => {
            let path = PathBuf::from(path);
            path.is_file().then_some(path.clone()).ok_or_else(|| format!("PG_CRM_NVRTC names {}, which is not a file", path.display()))
        }
        None => {
            let unpacked = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(UNPACKED);
            unpacked.is_file().then_some(unpacked).ok_or_else(|| "PG_CRM_NVRTC is not set and scripts/gpu-nvrtc has not unpacked NVRTC".to_string())
        }
    }
}

/// Opens the library by path, for cudarc to find by name (see the module doc).
fn open_by_path(path: &std::path::Path) -> Result<(), String> {
    let name = CString::new(path.as_os_str().as_encoded_bytes()).map_err(|_| format!("{} holds a NUL byte", path.display()))?;
    // SAFETY: a NUL-terminated path; the handle is kept open for the process (cudarc
    // keeps its own for as long).
    let handle = unsafe { dlopen(name.as_ptr(), RTLD_NOW | RTLD_GLOBAL) };
    if handle.is_null() {
        // SAFETY: dlerror describes the failed dlopen just above, NUL-terminated.
        let why = unsafe { dlerror() };
        let why = if why.is_null() { "unknown error".into() } else { unsafe { CStr::from_ptr(why) }.to_string_lossy().into_owned() };
        return Err(format!("cannot open {}: {why}", path.display()));
    }
    Ok(())
}

fn compile(source: &str, arch: &'static str) -> Result<String, String> {
    match cudarc::nvrtc::compile_ptx_with_opts(source, nvrtc_options(arch)) {
        Ok(ptx) => Ok(ptx.to_src()),
        Err(cudarc::nvrtc::CompileError::CompileError { nvrtc, log, options }) => Err(format!("{nvrtc:?} with {options:?}:\n{}", log.to_string_lossy())),
        Err(other) => Err(format!("{other:?}")),
    }
}

#[test]
fn kernels_compile_to_ptx_for_every_architecture() {
    let path = match nvrtc_library() {
        Ok(path) => path,
        Err(why) if std::env::var_os("CI").is_some() => panic!("NVRTC compile check cannot run: {why}; CI is set, so this fails (run scripts/gpu-nvrtc)"),
        Err(why) => {
            eprintln!("skipped: NVRTC compile check: {why} (PG_CRM_NVRTC=$(scripts/gpu-nvrtc) runs it)");
            return;
        }
    };
    open_by_path(&path).unwrap();
    let (mut major, mut minor) = (0, 0);
    // SAFETY: two out-parameters; NVRTC is loaded (cudarc panics rather than misbehave
    // if it cannot find it).
    let version = unsafe { cudarc::nvrtc::sys::nvrtcVersion(&mut major, &mut minor) };
    eprintln!("NVRTC {major}.{minor} ({version:?}), opened from {}", path.display());
    for arch in ARCHITECTURES {
        let ptx = compile(SOURCE, arch).unwrap_or_else(|e| panic!("the kernels do not compile for {arch}: {e}"));
        let target = arch.replace("compute_", "sm_");
        assert!(ptx.lines().any(|l| l.trim() == format!(".target {target}")), "PTX for {arch} does not target {target}");
        for entry in ENTRY_POINTS {
            assert!(ptx.contains(&format!(".visible .entry {entry}(")), "no entry point {entry} in the PTX for {arch}");
        }
    }
    // The check can fail: a kernel with a syntax error does not compile.
    let broken = SOURCE.replacen("return intercept + sum;", "return intercept + sum", 1);
    assert_ne!(broken, SOURCE);
    assert!(compile(&broken, ARCHITECTURES[0]).is_err(), "a broken kernel compiled");
}
