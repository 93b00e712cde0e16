//! Keras ops conformance: replays the recorded `keras.ops` calls of
//! `../shared/conformance/ops/*.jsonl` (see its README.md) through `ceras::ops` and
//! compares the results (shape and canonicalized dtype exactly, values within
//! per-op / per-dtype tolerances, expected errors as errors).
//!
//! Run: `cargo test --release --test keras_conformance -- --nocapture`.
//! Environment:
//! - `CERAS_CONFORMANCE_DIR`: corpus directory (default `<repo>/../shared/conformance/ops`
//!   when it exists, else the vendored gzipped copy in `tests/keras_conformance/corpus`);
//! - `CERAS_CONFORMANCE_OPS=add,sum`: only these ops;
//! - `CERAS_CONFORMANCE_VERBOSE=1`: print every failure (and every unimplemented op).
//!
//! Op entries live in `ops_*.rs` (one `register` per file; see the note at the top of
//! `ops_numpy.rs`). Failures listed in `known_failures.txt` (`op` or `op:<case index>`)
//! are reported but do not fail the run.

// Helpers and `Out` variants are for entries that other files add over time.
#![allow(dead_code)]

#[macro_use]
mod args;
mod ops_core;
mod ops_image;
mod ops_linalg;
mod ops_math;
mod ops_nn;
mod ops_numpy;
mod value;

use args::{Fail, Out, Registry, Tol};
use ceras::{DType, HostData, Tensor};
use std::cell::RefCell;
use std::collections::{BTreeMap, HashSet};
use std::fmt::Write as _;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use value::{Array, Case, Expected, Value};

/// Every op entry.
fn registry() -> Registry {
    let mut r = Registry::default();
    ops_numpy::register(&mut r);
    ops_nn::register(&mut r);
    ops_core::register(&mut r);
    ops_math::register(&mut r);
    ops_linalg::register(&mut r);
    ops_image::register(&mut r);
    r
}

/// Per-op float tolerance class (README "Tolerances"); everything not listed is
/// element-wise. An entry registered with `add_tol` overrides this.
fn tolerance_class(op: &str) -> Tol {
    const ACCUMULATE: &[&str] = &[
        // reductions and scans
        "sum",
        "prod",
        "mean",
        "var",
        "std",
        "average",
        "logsumexp",
        "cumsum",
        "cumprod",
        "nansum",
        "nanprod",
        "nanmean",
        "nanvar",
        "nanstd",
        "nancumsum",
        "nancumprod",
        "norm",
        "trapezoid",
        "median",
        "nanmedian",
        "quantile",
        "nanquantile",
        "percentile",
        "nanpercentile",
        "corrcoef",
        "cdist",
        "histogram",
        "segment_sum",
        "segment_prod",
        // products
        "matmul",
        "dot",
        "tensordot",
        "einsum",
        "inner",
        "outer",
        "vdot",
        "trace",
        "kron",
        "correlate",
        "cross",
        "matrix_power",
        // nn
        "softmax",
        "log_softmax",
        "conv",
        "conv_transpose",
        "depthwise_conv",
        "separable_conv",
        "average_pool",
        "dot_product_attention",
        "batch_normalization",
        "layer_normalization",
        "rms_normalization",
        "normalize",
        "moments",
        "binary_crossentropy",
        "categorical_crossentropy",
        "sparse_categorical_crossentropy",
        "ctc_loss",
        "psnr",
        "sparsemax",
        "glu",
        "gelu",
        "selu",
        "elu",
        "celu",
        // special functions
        "erf",
        "erfc",
        "erfinv",
        "lgamma",
        "digamma",
        "igamma",
        "gammainc",
        "i0",
        "sinc",
        "logaddexp",
        "logaddexp2",
        // FFT / signal
        "fft",
        "fft2",
        "ifft2",
        "rfft",
        "irfft",
        "stft",
        "istft",
        "kaiser",
        "blackman",
        "hamming",
        "hanning",
        "bartlett",
        // linalg
        "cholesky",
        "cholesky_inverse",
        "det",
        "inv",
        "logdet",
        "slogdet",
        "solve",
        "solve_triangular",
        "matrix_rank",
        "eigh",
        "svd",
        "qr",
        "lstsq",
        "pinv",
        "lu_factor",
    ];
    if ACCUMULATE.contains(&op) || op.starts_with("image.") {
        Tol::Accumulate
    } else {
        Tol::Elementwise
    }
}

/// Ops whose recorded outputs cannot be reproduced exactly (README caveat 4).
const NON_REPLAYABLE: &[&str] = &["eig", "eigh", "svd", "qr", "lu_factor", "lstsq", "pinv"];
/// Ops checked for shape and dtype only (README caveats 2 and 3).
const SHAPE_ONLY: &[&str] = &["empty", "empty_like", "image.elastic_transform"];

/// Result of one case.
enum Outcome {
    Pass,
    /// An expected error, matched because the argument cannot be expressed in Rust.
    PassArgRejected,
    Fail(String),
    Skip(String),
}

thread_local! {
    static LAST_PANIC: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// Skip reasons that do not depend on the op entry.
fn pre_skip(c: &Case) -> Option<String> {
    let mut reason = None;
    let mut check = |v: &Value| {
        if reason.is_some() {
            return;
        }
        match v {
            Value::Callable(_) => reason = Some("callable argument".to_string()),
            Value::Complex(..) => reason = Some("complex value".to_string()),
            Value::Array(a) if DType::parse(&a.dtype).is_err() => {
                reason = Some(format!("dtype {} not supported by ceras", a.dtype))
            }
            _ => {}
        }
    };
    for v in c.all_args() {
        v.visit(&mut check);
    }
    if let Expected::Value(v) = &c.expected {
        v.visit(&mut check);
    }
    if reason.is_none() && NON_REPLAYABLE.contains(&c.op.as_str()) {
        reason = Some("non-unique decomposition (README caveat 4)".into());
    }
    reason
}

fn run_case(reg: &Registry, c: &Case) -> Outcome {
    if let Some(r) = pre_skip(c) {
        return Outcome::Skip(r);
    }
    let Some(entry) = reg.get(&c.op) else {
        return Outcome::Skip("unimplemented".into());
    };
    match ceras::config::DataFormat::parse(&c.image_data_format) {
        Ok(f) => ceras::config::set_image_data_format(f),
        Err(e) => return Outcome::Fail(format!("harness: bad config: {e}")),
    }
    if let Ok(d) = DType::parse(&c.floatx) {
        if ceras::config::floatx() != d {
            if let Err(e) = ceras::config::set_floatx(d) {
                return Outcome::Fail(format!("harness: set_floatx: {e}"));
            }
        }
    }
    LAST_PANIC.with(|p| p.borrow_mut().take());
    let res = catch_unwind(AssertUnwindSafe(|| (entry.f)(c)));
    let unused = c.unused_args();
    let unused_note = if unused.is_empty() {
        String::new()
    } else {
        format!(" [entry ignores argument(s) {}]", unused.join(", "))
    };
    let res = match res {
        Ok(r) => r,
        Err(_) => {
            let msg = LAST_PANIC
                .with(|p| p.borrow_mut().take())
                .unwrap_or_else(|| "?".into());
            return Outcome::Fail(format!("panic: {msg}"));
        }
    };
    match (res, &c.expected) {
        (Err(Fail::Skip(s)), _) => Outcome::Skip(s),
        (Err(Fail::Op(_)), Expected::Error { .. }) => Outcome::Pass,
        (Err(Fail::Arg(_)), Expected::Error { .. }) => Outcome::PassArgRejected,
        (Err(Fail::Op(e)), Expected::Value(_)) => Outcome::Fail(format!("unexpected error: {e}")),
        (Err(Fail::Arg(e)), Expected::Value(_)) => {
            Outcome::Fail(format!("argument not expressible: {e}"))
        }
        (Ok(out), Expected::Error { class, message }) => Outcome::Fail(format!(
            "expected {class} ({}), got {}{unused_note}",
            message.replace('\n', " "),
            describe_out(&out)
        )),
        (Ok(out), Expected::Value(v)) => {
            if !unused.is_empty() {
                return Outcome::Fail(unused_note.trim().trim_matches(['[', ']']).to_string());
            }
            let tol = entry.tol.unwrap_or_else(|| tolerance_class(&c.op));
            let shape_only = SHAPE_ONLY.contains(&c.op.as_str());
            match compare(v, &out, tol, shape_only) {
                Ok(()) => Outcome::Pass,
                Err(m) => Outcome::Fail(m),
            }
        }
    }
}

fn describe_out(o: &Out) -> String {
    match o {
        Out::Tensor(t) => format!("a {}{:?} tensor", t.dtype(), t.shape()),
        Out::Seq(v) => format!("a sequence of {}", v.len()),
        Out::Int(i) => format!("int {i}"),
        Out::Float(f) => format!("float {f}"),
        Out::Bool(b) => format!("bool {b}"),
        Out::Str(s) => format!("str {s:?}"),
        Out::None => "None".into(),
    }
}

// ---------------------------------------------------------------------------------
// Comparison.

/// Converts host data to `d` (floats round, ints wrap), as a 64-bit result would be
/// canonicalized to 32 bits by JAX.
fn convert_host(h: &HostData, d: DType) -> HostData {
    if h.dtype() == d {
        return h.clone();
    }
    if d.is_float() {
        HostData::from_f64(d, &h.to_f64_vec())
    } else {
        HostData::from_i64(d, &h.to_i64_vec())
    }
}

fn close(g: f64, e: f64, rtol: f64, atol: f64, exact: bool) -> bool {
    if e.is_nan() || g.is_nan() {
        return e.is_nan() && g.is_nan();
    }
    if exact || e.is_infinite() || g.is_infinite() {
        return g == e;
    }
    (g - e).abs() <= atol + rtol * e.abs()
}

fn fmt_num(x: f64) -> String {
    if x.fract() == 0.0 && x.abs() < 1e15 {
        format!("{x:.0}")
    } else {
        format!("{x:.7e}")
    }
}

/// Compares value vectors; `Err` describes the mismatches.
fn compare_values(
    g: &[f64],
    e: &[f64],
    shape: &[usize],
    dtype: DType,
    tol: Tol,
) -> Result<(), String> {
    let exact = !dtype.is_float();
    let (rtol, atol) = tol.for_dtype(dtype);
    let mut bad = 0usize;
    let mut worst: Option<(usize, f64)> = None;
    for (i, (&g, &e)) in g.iter().zip(e).enumerate() {
        if !close(g, e, rtol, atol, exact) {
            bad += 1;
            let err = if g.is_nan() || e.is_nan() || g.is_infinite() || e.is_infinite() {
                f64::INFINITY
            } else {
                (g - e).abs()
            };
            if worst.is_none_or(|(_, w)| err > w) {
                worst = Some((i, err));
            }
        }
    }
    match worst {
        None => Ok(()),
        Some((i, err)) => {
            let mut idx = Vec::with_capacity(shape.len());
            let mut rem = i;
            for d in shape.iter().rev() {
                idx.push(rem % d.max(&1));
                rem /= d.max(&1);
            }
            idx.reverse();
            Err(format!(
                "{bad}/{} values differ, worst at {idx:?}: got {} expected {} (abs err {err:.2e}, rtol {rtol:.0e} atol {atol:.0e})",
                e.len(),
                fmt_num(g[i]),
                fmt_num(e[i]),
            ))
        }
    }
}

fn compare_array(a: &Array, t: &Tensor, tol: Tol, shape_only: bool) -> Result<(), String> {
    let ed = DType::parse(&a.dtype).map_err(|e| format!("harness: {e}"))?;
    if t.shape() != a.shape.as_slice() {
        return Err(format!(
            "shape {:?} {}, expected {:?} {}",
            t.shape(),
            t.dtype(),
            a.shape,
            a.dtype
        ));
    }
    let gd = t.dtype();
    let dtype_ok = gd.canonicalize_32() == ed.canonicalize_32();
    let dtype_msg = format!("dtype {gd}, expected {ed}");
    if shape_only {
        return if dtype_ok { Ok(()) } else { Err(dtype_msg) };
    }
    let exp = HostData::from_le_bytes(ed, &a.data).map_err(|e| format!("harness: {e}"))?;
    let got = t
        .to_host()
        .map_err(|e| format!("reading the result: {e}"))?;
    let got = if dtype_ok {
        convert_host(&got, ed)
    } else {
        got
    };
    let vals = compare_values(&got.to_f64_vec(), &exp.to_f64_vec(), &a.shape, ed, tol);
    match (dtype_ok, vals) {
        (true, r) => r,
        (false, Ok(())) => Err(format!("{dtype_msg} (values match)")),
        (false, Err(v)) => Err(format!("{dtype_msg}; {v}")),
    }
}

/// A 0-d (or size-1) output as one f64, for Python-scalar results.
fn scalar_of(o: &Out) -> Result<f64, String> {
    match o {
        Out::Int(i) => Ok(*i as f64),
        Out::Float(f) => Ok(*f),
        Out::Bool(b) => Ok(*b as i64 as f64),
        Out::Tensor(t) if t.size() == 1 => t
            .to_f64_vec()
            .map(|v| v[0])
            .map_err(|e| format!("reading the result: {e}")),
        other => Err(format!("expected a scalar, got {}", describe_out(other))),
    }
}

fn compare(exp: &Value, got: &Out, tol: Tol, shape_only: bool) -> Result<(), String> {
    match exp {
        Value::Array(a) => match got {
            Out::Tensor(t) => compare_array(a, t, tol, shape_only),
            other => Err(format!(
                "expected a {}{:?} tensor, got {}",
                a.dtype,
                a.shape,
                describe_out(other)
            )),
        },
        Value::Float(e) => {
            let g = scalar_of(got)?;
            compare_values(&[g], &[*e], &[], DType::F32, tol)
        }
        Value::Int(e) => {
            let g = scalar_of(got)?;
            compare_values(&[g], &[*e as f64], &[], DType::I64, tol)
        }
        Value::Bool(e) => {
            let g = scalar_of(got)?;
            compare_values(&[g], &[*e as i64 as f64], &[], DType::Bool, tol)
        }
        Value::None => match got {
            Out::None => Ok(()),
            other => Err(format!("expected None, got {}", describe_out(other))),
        },
        Value::Str(s) => match got {
            Out::Str(g) if g == s => Ok(()),
            other => Err(format!("expected str {s:?}, got {}", describe_out(other))),
        },
        Value::List(ev) | Value::Tuple(ev) => match got {
            Out::Seq(gv) if gv.len() == ev.len() => {
                for (i, (e, g)) in ev.iter().zip(gv).enumerate() {
                    compare(e, g, tol, shape_only).map_err(|m| format!("[{i}] {m}"))?;
                }
                Ok(())
            }
            other => Err(format!(
                "expected a sequence of {}, got {}",
                ev.len(),
                describe_out(other)
            )),
        },
        other => Err(format!(
            "harness: cannot compare with a recorded {}",
            other.describe()
        )),
    }
}

// ---------------------------------------------------------------------------------
// Runner.

#[derive(Default)]
struct OpStats {
    pass: usize,
    fail: usize,
    known: usize,
    arg_rejected: usize,
    skip: usize,
    skip_reasons: BTreeMap<String, usize>,
    failures: Vec<String>,
}

struct KnownFailures {
    ops: HashSet<String>,
    cases: HashSet<(String, usize)>,
}

impl KnownFailures {
    fn load(path: &Path) -> KnownFailures {
        let mut k = KnownFailures {
            ops: HashSet::new(),
            cases: HashSet::new(),
        };
        let Ok(text) = std::fs::read_to_string(path) else {
            return k;
        };
        for line in text.lines() {
            let entry = line.split('#').next().unwrap_or("").trim();
            if entry.is_empty() {
                continue;
            }
            match entry.rsplit_once(':') {
                Some((op, idx)) if idx.trim().parse::<usize>().is_ok() => {
                    k.cases
                        .insert((op.trim().to_string(), idx.trim().parse().unwrap()));
                }
                _ => {
                    k.ops.insert(entry.to_string());
                }
            }
        }
        k
    }
    fn contains(&self, op: &str, index: usize) -> bool {
        self.ops.contains(op) || self.cases.contains(&(op.to_string(), index))
    }
}

fn truncate(s: &str, n: usize) -> String {
    let s = s.replace('\n', " ");
    if s.chars().count() <= n {
        s
    } else {
        let mut t: String = s.chars().take(n).collect();
        t.push('…');
        t
    }
}

/// The corpus: `CERAS_CONFORMANCE_DIR`, else `<repo>/../shared/conformance/ops` when
/// it exists, else the vendored copy (`tests/keras_conformance/corpus`, gzipped,
/// refreshed by `tools/vendor_conformance.sh`).
fn corpus_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("CERAS_CONFORMANCE_DIR") {
        return PathBuf::from(d);
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let shared = root.join("../shared/conformance/ops");
    if shared.is_dir() {
        shared
    } else {
        root.join("tests/keras_conformance/corpus")
    }
}

/// Op name of a corpus file (`abs.jsonl` or `abs.jsonl.gz`), if it is one.
fn corpus_op(path: &Path) -> Option<String> {
    let name = path.file_name()?.to_str()?;
    let stem = name
        .strip_suffix(".jsonl")
        .or_else(|| name.strip_suffix(".jsonl.gz"))?;
    Some(stem.to_string())
}

fn read_corpus_file(path: &Path) -> std::io::Result<String> {
    use std::io::Read;
    if path.extension().is_some_and(|e| e == "gz") {
        let mut text = String::new();
        flate2::read::GzDecoder::new(std::fs::File::open(path)?).read_to_string(&mut text)?;
        Ok(text)
    } else {
        std::fs::read_to_string(path)
    }
}

fn main() {
    ceras::link_backends();
    std::panic::set_hook(Box::new(|info| {
        let msg = match info.payload().downcast_ref::<&str>() {
            Some(s) => s.to_string(),
            None => match info.payload().downcast_ref::<String>() {
                Some(s) => s.clone(),
                None => "non-string panic".into(),
            },
        };
        let loc = info
            .location()
            .map(|l| format!(" at {}:{}", l.file(), l.line()))
            .unwrap_or_default();
        LAST_PANIC.with(|p| *p.borrow_mut() = Some(format!("{msg}{loc}")));
    }));

    let verbose =
        std::env::var("CERAS_CONFORMANCE_VERBOSE").is_ok_and(|v| !v.is_empty() && v != "0");
    let only: Option<HashSet<String>> = std::env::var("CERAS_CONFORMANCE_OPS")
        .ok()
        .filter(|s| !s.trim().is_empty())
        .map(|s| s.split(',').map(|o| o.trim().to_string()).collect());
    let known = KnownFailures::load(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/keras_conformance/known_failures.txt"),
    );
    let reg = registry();
    let dir = corpus_dir();

    let mut files: Vec<PathBuf> = match std::fs::read_dir(&dir) {
        Ok(rd) => rd
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| corpus_op(p).is_some())
            .collect(),
        Err(e) => {
            println!(
                "keras_conformance: corpus directory {} not readable ({e})",
                dir.display()
            );
            std::process::exit(1);
        }
    };
    if files.is_empty() {
        println!("keras_conformance: no .jsonl files in {}", dir.display());
        std::process::exit(1);
    }
    println!(
        "keras_conformance: corpus {}, backend {}",
        dir.display(),
        ceras::backend::current().map_or("?", |b| b.name())
    );
    files.sort();

    let mut stats: BTreeMap<String, OpStats> = BTreeMap::new();
    let mut known_passing: Vec<String> = Vec::new();
    for path in &files {
        let file_op = corpus_op(path).unwrap_or_default();
        if only.as_ref().is_some_and(|o| !o.contains(&file_op)) {
            continue;
        }
        let text = match read_corpus_file(path) {
            Ok(t) => t,
            Err(e) => {
                println!("keras_conformance: cannot read {}: {e}", path.display());
                continue;
            }
        };
        for (index, line) in text.lines().filter(|l| !l.trim().is_empty()).enumerate() {
            let (op, outcome, source) = match Case::parse(line, index) {
                Ok(c) => {
                    let o = run_case(&reg, &c);
                    (c.op.clone(), o, c.short_source().to_string())
                }
                Err(e) => (
                    file_op.clone(),
                    Outcome::Fail(format!("harness: cannot decode the case: {e}")),
                    "?".to_string(),
                ),
            };
            let st = stats.entry(op.clone()).or_default();
            let is_known = known.contains(&op, index);
            match outcome {
                Outcome::PassArgRejected => {
                    st.pass += 1;
                    st.arg_rejected += 1;
                }
                Outcome::Pass => {
                    st.pass += 1;
                    if known.cases.contains(&(op.clone(), index)) {
                        known_passing.push(format!("{op}:{index}"));
                    }
                }
                Outcome::Skip(r) => {
                    st.skip += 1;
                    *st.skip_reasons.entry(r).or_default() += 1;
                }
                Outcome::Fail(m) => {
                    st.fail += 1;
                    if is_known {
                        st.known += 1;
                    }
                    st.failures.push(format!(
                        "{op}:{index}{} [{source}] {m}",
                        if is_known { " (known)" } else { "" }
                    ));
                }
            }
        }
    }

    // Report.
    let (mut pass, mut fail, mut skip, mut unknown_fail) = (0, 0, 0, 0);
    let mut skip_totals: BTreeMap<String, usize> = BTreeMap::new();
    let mut unimplemented: Vec<(String, usize)> = Vec::new();
    let mut out = String::new();
    let _ = writeln!(
        out,
        "\n{:<32} {:>6} {:>6} {:>6}  notes",
        "op", "passed", "failed", "skipped"
    );
    for (op, st) in &stats {
        pass += st.pass;
        fail += st.fail;
        skip += st.skip;
        unknown_fail += st.fail - st.known;
        for (r, n) in &st.skip_reasons {
            *skip_totals.entry(r.clone()).or_default() += n;
        }
        let implemented = reg.get(op).is_some();
        if !implemented && st.fail == 0 {
            unimplemented.push((op.clone(), st.skip));
            continue;
        }
        let mut notes = String::new();
        if st.known > 0 {
            let _ = write!(notes, "{} known; ", st.known);
        }
        if st.arg_rejected > 0 {
            let _ = write!(notes, "{} errors via arg conversion; ", st.arg_rejected);
        }
        for (r, n) in &st.skip_reasons {
            let _ = write!(notes, "skip {r}: {n}; ");
        }
        let _ = writeln!(
            out,
            "{:<32} {:>6} {:>6} {:>6}  {}",
            op,
            st.pass,
            st.fail,
            st.skip,
            truncate(notes.trim_end_matches("; "), 80)
        );
    }
    let with_failures: Vec<(&String, &OpStats)> =
        stats.iter().filter(|(_, s)| s.fail > 0).collect();
    if !with_failures.is_empty() {
        let _ = writeln!(out, "\nfailures (op:case-index [source] reason):");
        for (_, st) in with_failures {
            let n = if verbose { st.failures.len() } else { 2 };
            for f in st.failures.iter().take(n) {
                let _ = writeln!(
                    out,
                    "  {}",
                    if verbose { f.clone() } else { truncate(f, 230) }
                );
            }
            if st.failures.len() > n {
                let _ = writeln!(out, "  … and {} more", st.failures.len() - n);
            }
        }
    }
    let unimpl_cases: usize = unimplemented.iter().map(|(_, n)| n).sum();
    let _ = writeln!(
        out,
        "\n{} ops implemented; {} ops without an entry ({} cases, skipped){}",
        stats.keys().filter(|o| reg.get(o).is_some()).count(),
        unimplemented.len(),
        unimpl_cases,
        if verbose {
            ":"
        } else {
            " (CERAS_CONFORMANCE_VERBOSE=1 lists them)"
        }
    );
    if verbose {
        let names: Vec<String> = unimplemented
            .iter()
            .map(|(o, n)| format!("{o}({n})"))
            .collect();
        let mut line = String::from(" ");
        for n in names {
            if line.len() + n.len() > 100 {
                let _ = writeln!(out, "{line}");
                line = String::from(" ");
            }
            line.push(' ');
            line.push_str(&n);
        }
        let _ = writeln!(out, "{line}");
    }
    let reasons: Vec<String> = skip_totals
        .iter()
        .map(|(r, n)| format!("{r}: {n}"))
        .collect();
    if !reasons.is_empty() {
        let _ = writeln!(out, "skip reasons: {}", reasons.join("; "));
    }
    if fail > unknown_fail {
        let _ = writeln!(
            out,
            "{} of the failures are listed in tests/keras_conformance/known_failures.txt",
            fail - unknown_fail
        );
    }
    if !known_passing.is_empty() {
        let _ = writeln!(
            out,
            "known_failures.txt entries that now pass (remove them): {}",
            known_passing.join(", ")
        );
    }
    let _ = writeln!(
        out,
        "conformance: {pass} passed, {fail} failed, {skip} skipped"
    );
    print!("{out}");
    if unknown_fail > 0 {
        std::process::exit(1);
    }
}
