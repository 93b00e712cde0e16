//! Global configuration, as `keras.config`: backend, `floatx`, `epsilon`,
//! `image_data_format`. Read from `KERAS_BACKEND` and `~/.keras/keras.json`
//! (Keras's own file and schema) on first use; setters override.

use crate::backend;
use crate::dtype::DType;
use crate::error::{arg_err, Error, Result};
use std::sync::{Mutex, OnceLock};

/// Where channels go in image tensors.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DataFormat {
    /// `(batch, ..., channels)` — Keras's default.
    ChannelsLast,
    /// `(batch, channels, ...)`.
    ChannelsFirst,
}

impl DataFormat {
    /// Parses `"channels_last"` / `"channels_first"`.
    pub fn parse(s: &str) -> Result<DataFormat> {
        match s {
            "channels_last" => Ok(DataFormat::ChannelsLast),
            "channels_first" => Ok(DataFormat::ChannelsFirst),
            _ => Err(arg_err(
                "image_data_format",
                format!("expected \"channels_last\" or \"channels_first\", got {s:?}"),
            )),
        }
    }
    /// Keras's name.
    pub fn name(self) -> &'static str {
        match self {
            DataFormat::ChannelsLast => "channels_last",
            DataFormat::ChannelsFirst => "channels_first",
        }
    }
}

#[derive(Clone, Debug)]
struct Config {
    backend: Option<String>,
    floatx: DType,
    epsilon: f64,
    image_data_format: DataFormat,
}

fn keras_json() -> Option<serde_json::Value> {
    let dir = std::env::var_os("KERAS_HOME")
        .map(std::path::PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| std::path::PathBuf::from(h).join(".keras")))?;
    let text = std::fs::read_to_string(dir.join("keras.json")).ok()?;
    serde_json::from_str(&text).ok()
}

fn state() -> &'static Mutex<Config> {
    static CFG: OnceLock<Mutex<Config>> = OnceLock::new();
    CFG.get_or_init(|| {
        let mut c = Config {
            backend: None,
            floatx: DType::F32,
            epsilon: 1e-7,
            image_data_format: DataFormat::ChannelsLast,
        };
        if let Some(j) = keras_json() {
            if let Some(s) = j.get("floatx").and_then(|v| v.as_str()) {
                if let Ok(d) = DType::parse(s) {
                    if d.is_float() {
                        c.floatx = d;
                    }
                }
            }
            if let Some(e) = j.get("epsilon").and_then(|v| v.as_f64()) {
                c.epsilon = e;
            }
            if let Some(s) = j.get("image_data_format").and_then(|v| v.as_str()) {
                if let Ok(f) = DataFormat::parse(s) {
                    c.image_data_format = f;
                }
            }
            match j.get("backend").and_then(|v| v.as_str()) {
                // Python Keras writes `"backend": "tensorflow"` into a fresh
                // keras.json on first import; a shared file must not stop ceras
                // from running, so that one value means "the default" here
                // (KERAS_BACKEND=tensorflow is still refused).
                Some("tensorflow") => eprintln!(
                    "ceras: ignoring \"backend\": \"tensorflow\" in keras.json (ceras has cpu, torch and jax); using the default"
                ),
                Some(s) => c.backend = Some(s.to_string()),
                None => {}
            }
        }
        if let Ok(b) = std::env::var("KERAS_BACKEND") {
            if !b.is_empty() {
                c.backend = Some(b);
            }
        }
        Mutex::new(c)
    })
}

fn lock() -> std::sync::MutexGuard<'static, Config> {
    state().lock().unwrap_or_else(|e| e.into_inner())
}

/// The backend name that will be (or was) used: `set_backend`, `KERAS_BACKEND`,
/// `~/.keras/keras.json`, else `"cpu"`.
pub fn requested_backend() -> String {
    lock().backend.clone().unwrap_or_else(|| "cpu".to_string())
}

/// The name of the active backend (`"cpu"`, ...), choosing it if not yet chosen.
///
/// ```
/// assert_eq!(ceras_core::config::backend().is_ok(), !ceras_core::backend::available_backends().is_empty());
/// ```
pub fn backend() -> Result<&'static str> {
    Ok(backend::current()?.name())
}

/// Chooses the backend for this process. Must be called before the first tensor
/// exists; afterwards only the same backend is accepted.
pub fn set_backend(name: &str) -> Result<()> {
    let (canon, _) = backend::canonical_backend(name)?;
    if backend::is_initialized() {
        let cur = backend::current()?.name();
        if cur == canon {
            return Ok(());
        }
        return Err(Error::Backend(format!(
            "the backend is already {cur:?} (it is fixed once the first tensor exists); \
             call set_backend({name:?}) before creating tensors, or set KERAS_BACKEND"
        )));
    }
    let b = backend::make_backend(canon)?;
    lock().backend = Some(canon.to_string());
    backend::install(b).map_err(|_| Error::Backend("backend chosen concurrently".into()))
}

/// Default float dtype (`"float32"` unless configured).
pub fn floatx() -> DType {
    lock().floatx
}

/// Sets the default float dtype; must be a float type.
pub fn set_floatx(d: DType) -> Result<()> {
    if !d.is_float() {
        return Err(arg_err(
            "set_floatx",
            format!("floatx must be a float dtype, got {d}"),
        ));
    }
    lock().floatx = d;
    Ok(())
}

/// Fuzz factor used by numerics (`1e-7` unless configured).
pub fn epsilon() -> f64 {
    lock().epsilon
}

/// Sets the fuzz factor.
pub fn set_epsilon(e: f64) {
    lock().epsilon = e;
}

/// Default image data format.
pub fn image_data_format() -> DataFormat {
    lock().image_data_format
}

/// Sets the default image data format.
pub fn set_image_data_format(f: DataFormat) {
    lock().image_data_format = f;
}

static FUSED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Whether ops may use a backend's fused fast paths (softmax, log-softmax) for
/// concrete, untraced, unrecorded inputs. Off by default: a fused kernel rounds
/// differently from the primitive decomposition that tracing records, so with it on,
/// a replayed graph is no longer bit-identical to eager execution.
pub fn fused_kernels() -> bool {
    FUSED.load(std::sync::atomic::Ordering::Relaxed)
}

/// Enables or disables fused fast paths (see [`fused_kernels`]).
pub fn set_fused_kernels(on: bool) {
    FUSED.store(on, std::sync::atomic::Ordering::Relaxed)
}
