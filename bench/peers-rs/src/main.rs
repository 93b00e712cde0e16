//! Rust peer benchmarks for ceras: the five workloads of `bench/README.md`
//! written in burn and in candle.
//!
//! Usage: `peers-rs <burn|candle> <mlp|convnet|lstm|transformer|resnet20>`.
//! Progress goes to stderr; the last stdout line is the one JSON result.

mod burn_peer;
mod candle_peer;

use std::time::Instant;

pub const WORKLOADS: [&str; 5] = ["mlp", "convnet", "lstm", "transformer", "resnet20"];

/// Timing protocol shared by both frameworks (README "Workloads").
pub struct Protocol {
    pub warm: usize,
    pub reps: usize,
}

impl Protocol {
    fn from_env() -> Self {
        let get = |name: &str, default: usize| {
            std::env::var(name)
                .ok()
                .and_then(|v| v.parse().ok())
                .unwrap_or(default)
        };
        Self {
            warm: get("BENCH_WARM", 3),
            reps: get("BENCH_REPS", 15).max(1),
        }
    }

    /// Median milliseconds of `reps` calls of `step` after `warm` untimed ones.
    /// `step` must return only once its work is done (it reads the loss back).
    pub fn time_steps(&self, mut step: impl FnMut()) -> f64 {
        for _ in 0..self.warm {
            step();
        }
        let mut ms: Vec<f64> = (0..self.reps)
            .map(|_| {
                let t = Instant::now();
                step();
                t.elapsed().as_secs_f64() * 1e3
            })
            .collect();
        median(&mut ms)
    }
}

/// Predict protocol: one pass = 1024 samples in batches of 128 with outputs
/// read back to the host; median of 7 passes after 1 warm-up, in samples/s.
pub const PREDICT_SAMPLES: usize = 1024;
pub const PREDICT_BATCH: usize = 128;

pub fn time_predict(mut predict_pass: impl FnMut()) -> f64 {
    predict_pass();
    let mut secs: Vec<f64> = (0..7)
        .map(|_| {
            let t = Instant::now();
            predict_pass();
            t.elapsed().as_secs_f64()
        })
        .collect();
    PREDICT_SAMPLES as f64 / median(&mut secs)
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        0.5 * (v[n / 2 - 1] + v[n / 2])
    }
}

/// Small deterministic generator (splitmix64) for the synthetic data, so the
/// data does not depend on either framework's RNG.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in [0, 1).
    pub fn uniform(&mut self, n: usize) -> Vec<f32> {
        (0..n)
            .map(|_| (self.next_u64() >> 40) as f32 / (1u64 << 24) as f32)
            .collect()
    }
    /// Uniform integers in [0, hi).
    pub fn ints(&mut self, n: usize, hi: u32) -> Vec<u32> {
        (0..n)
            .map(|_| (self.next_u64() % hi as u64) as u32)
            .collect()
    }
}

/// Labels `i % k` for i in 0..n (README: every workload).
pub fn labels(n: usize, k: u32) -> Vec<u32> {
    (0..n as u32).map(|i| i % k).collect()
}

/// What one (framework, workload) run reports.
pub struct Report {
    pub framework: &'static str,
    pub version: String,
    pub workload: String,
    pub batch: usize,
    pub step_ms: Option<f64>,
    pub predict_samples_per_s: Option<f64>,
    pub threads: usize,
    pub note: String,
}

fn json_str(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn json_num(v: Option<f64>) -> String {
    match v {
        Some(x) if x.is_finite() => format!("{:.3}", x),
        _ => "null".into(),
    }
}

/// Peak resident set of this process (VmHWM), in MiB.
fn peak_rss_mb() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

impl Report {
    fn to_json(&self) -> String {
        format!(
            "{{\"framework\": {}, \"version\": {}, \"workload\": {}, \"batch\": {}, \
             \"step_ms\": {}, \"predict_samples_per_s\": {}, \"peak_rss_mb\": {}, \
             \"threads\": {}, \"note\": {}}}",
            json_str(self.framework),
            json_str(&self.version),
            json_str(&self.workload),
            self.batch,
            json_num(self.step_ms),
            json_num(self.predict_samples_per_s),
            json_num(peak_rss_mb()),
            self.threads,
            json_str(&self.note),
        )
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let usage = || -> ! {
        eprintln!("usage: peers-rs <burn|candle> <{}>", WORKLOADS.join("|"));
        std::process::exit(2);
    };
    if args.len() != 3 || !WORKLOADS.contains(&args[2].as_str()) {
        usage();
    }
    let proto = Protocol::from_env();
    let (framework, workload) = (args[1].as_str(), args[2].as_str());
    let framework: &'static str = match framework {
        "burn" => "burn",
        "candle" => "candle",
        _ => usage(),
    };
    // A panic inside a framework still ends in the one JSON line, with the
    // message as the note (the panic itself is printed to stderr).
    let outcome = std::panic::catch_unwind(|| match framework {
        "burn" => burn_peer::run(workload, &proto),
        _ => candle_peer::run(workload, &proto),
    });
    let report = outcome.unwrap_or_else(|panic| {
        let msg = panic
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| panic.downcast_ref::<&str>().copied())
            .unwrap_or("unknown panic");
        Report {
            framework,
            version: match framework {
                "burn" => format!("burn {}", env!("BURN_VERSION")),
                _ => format!("candle {}", env!("CANDLE_VERSION")),
            },
            workload: workload.into(),
            batch: 0,
            step_ms: None,
            predict_samples_per_s: None,
            threads: 0,
            note: format!("{framework} panicked: {msg}"),
        }
    });
    println!("{}", report.to_json());
}
