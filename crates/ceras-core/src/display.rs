//! `Display` for [`Tensor`], in NumPy's `str(array)` format (`np.array2string`
//! with the default print options: precision 8, line width 75, threshold 1000,
//! edge items 3).
//!
//! * floats: the shortest repr that round-trips in the tensor's own dtype, at
//!   most 8 fractional digits, a trailing `.` for integral values, aligned
//!   columns; scientific notation when a non-zero magnitude is `>= 1e8` or
//!   `< 1e-4`, or the largest is more than 1000 times the smallest;
//! * integers plain and right-aligned; bools `True` / `False`;
//! * more than 1000 elements are summarised with `...` (3 edge items per axis);
//! * a 0-d tensor prints its scalar (`1.0`, `1e-05`, `-7`, `True`);
//! * a traced tensor prints `<traced shape=[2, 3] dtype=float32>`.
//!
//! `bfloat16` is formatted like NumPy formats its own float types (shortest
//! round-trip repr in bfloat16), not like `ml_dtypes`' ad-hoc `str`.
//!
//! ```
//! use ceras::Tensor;
//! let t = Tensor::from_vec(vec![1.0f32, 2.0, 3.0, 4.0], [2, 2]).unwrap();
//! assert_eq!(t.to_string(), "[[1. 2.]\n [3. 4.]]");
//! ```

use crate::dtype::DType;
use crate::storage::HostData;
use crate::tensor::Tensor;
use half::{bf16, f16};
use std::fmt;

const LINE_WIDTH: usize = 75;
const THRESHOLD: usize = 1000;
const EDGE_ITEMS: usize = 3;
const PRECISION: usize = 8;

impl fmt::Display for Tensor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_traced() {
            return write!(
                f,
                "<traced shape={:?} dtype={}>",
                self.shape(),
                self.dtype()
            );
        }
        match self.to_host() {
            Ok(h) => f.write_str(&format_host(&h, self.shape())),
            Err(e) => write!(
                f,
                "<tensor shape={:?} dtype={} (unreadable: {e})>",
                self.shape(),
                self.dtype()
            ),
        }
    }
}

/// Formats host data of `shape` as NumPy's `str(array)` does.
pub(crate) fn format_host(data: &HostData, shape: &[usize]) -> String {
    if shape.is_empty() {
        return scalar_str(data, 0);
    }
    if data.is_empty() {
        return "[]".into();
    }
    let summarize = data.len() > THRESHOLD;
    let shown = shown_indices(shape, summarize);
    let fmt = ElemFormat::new(data, &shown);
    let strides = crate::shape::strides(shape);
    let p = Printer {
        shape,
        strides: &strides,
        summarize,
        elem: &|i| fmt.format(data, i),
    };
    p.rec(0, 0, " ", LINE_WIDTH)
}

/// Flat indices of the elements that are printed (all, or the edges when summarising).
fn shown_indices(shape: &[usize], summarize: bool) -> Vec<usize> {
    let strides = crate::shape::strides(shape);
    let mut out = vec![0usize];
    for (d, &n) in shape.iter().enumerate() {
        let idx: Vec<usize> = if summarize && n > 2 * EDGE_ITEMS {
            (0..EDGE_ITEMS).chain(n - EDGE_ITEMS..n).collect()
        } else {
            (0..n).collect()
        };
        let sd = strides[d];
        out = out
            .iter()
            .flat_map(|&o| idx.iter().map(move |&i| o + i * sd))
            .collect();
    }
    out
}

struct Printer<'a> {
    shape: &'a [usize],
    strides: &'a [usize],
    summarize: bool,
    elem: &'a dyn Fn(usize) -> String,
}

fn extend_line(s: &mut String, line: &mut String, word: &str, width: usize, prefix: &str) {
    let needs_wrap = line.len() + word.len() > width && line.len() > prefix.len();
    if needs_wrap {
        s.push_str(line.trim_end());
        s.push('\n');
        *line = prefix.to_string();
    }
    line.push_str(word);
}

impl Printer<'_> {
    /// Port of NumPy's `_formatArray` recursion (separator `' '`).
    fn rec(&self, axis: usize, offset: usize, hanging: &str, width: usize) -> String {
        let axes_left = self.shape.len() - axis;
        if axes_left == 0 {
            return (self.elem)(offset);
        }
        let next_hanging = format!("{hanging} ");
        let next_width = width.saturating_sub(1);
        let n = self.shape[axis];
        let st = self.strides[axis];
        let show_summary = self.summarize && 2 * EDGE_ITEMS < n;
        let (lead, trail) = if show_summary {
            (EDGE_ITEMS, EDGE_ITEMS)
        } else {
            (0, n)
        };
        let order: Vec<Option<usize>> = (0..lead)
            .map(Some)
            .chain(show_summary.then_some(None))
            .chain((2..=trail).rev().map(|i| Some(n - i)))
            .collect();
        let mut s = String::new();
        if axes_left == 1 {
            let elem_width = width.saturating_sub(1);
            let mut line = hanging.to_string();
            for item in &order {
                let word = match item {
                    Some(i) => self.rec(axis + 1, offset + i * st, &next_hanging, next_width),
                    None => "...".to_string(),
                };
                extend_line(&mut s, &mut line, &word, elem_width, hanging);
                line.push(' ');
            }
            let word = self.rec(axis + 1, offset + (n - 1) * st, &next_hanging, next_width);
            extend_line(&mut s, &mut line, &word, elem_width, hanging);
            s.push_str(&line);
        } else {
            let line_sep = "\n".repeat(axes_left - 1);
            for item in &order {
                s.push_str(hanging);
                match item {
                    Some(i) => {
                        s.push_str(&self.rec(axis + 1, offset + i * st, &next_hanging, next_width))
                    }
                    None => s.push_str("..."),
                }
                s.push_str(&line_sep);
            }
            s.push_str(hanging);
            s.push_str(&self.rec(axis + 1, offset + (n - 1) * st, &next_hanging, next_width));
        }
        format!("[{}]", &s[hanging.len()..])
    }
}

// ---------------------------------------------------------------------------
// Floats
// ---------------------------------------------------------------------------

/// Shortest round-trip decimal digits of `v` in `dtype`: `(negative, digits, exp10)`
/// with `v = ±d1.d2d3… × 10^exp10`. `v` must be finite.
fn shortest(v: f64, dtype: DType) -> (bool, String, i32) {
    let s = match dtype {
        DType::F64 => format!("{v:e}"),
        DType::F32 => format!("{:e}", v as f32),
        _ => {
            // float16 / bfloat16: the fewest significant digits that round-trip.
            let round = |x: f64| -> f64 {
                if dtype == DType::F16 {
                    f16::from_f64(x).to_f64()
                } else {
                    bf16::from_f64(x).to_f64()
                }
            };
            let mut out = format!("{v:e}");
            for p in 0..17 {
                let cand = format!("{v:.p$e}");
                if cand.parse::<f64>().map(round) == Ok(v) {
                    out = cand;
                    break;
                }
            }
            out
        }
    };
    parse_sci(&s)
}

/// Splits Rust's `{:e}` output into `(negative, digits, exp10)`, trailing zeros removed.
fn parse_sci(s: &str) -> (bool, String, i32) {
    let (m, e) = s.split_once('e').unwrap_or((s, "0"));
    let neg = m.starts_with('-');
    let mut digits: String = m.chars().filter(|c| c.is_ascii_digit()).collect();
    while digits.len() > 1 && digits.ends_with('0') {
        digits.pop();
    }
    (neg, digits, e.parse().unwrap_or(0))
}

/// NumPy's `dragon4_positional(unique=True, precision=cap, trim='.')` split into
/// integer part (with sign) and fractional digits (no trailing zeros).
fn positional(v: f64, dtype: DType, cap: Option<usize>) -> (String, String) {
    let (neg, digits, e) = shortest(v, dtype);
    let n = digits.len() as i32;
    let frac_len = (n - 1 - e).max(0) as usize;
    let sign = if neg { "-" } else { "" };
    if cap.is_some_and(|c| frac_len > c) {
        let c = cap.unwrap_or(PRECISION);
        let s = format!("{v:.c$}");
        let (i, f) = s.split_once('.').unwrap_or((&s, ""));
        return (i.to_string(), f.trim_end_matches('0').to_string());
    }
    if e >= 0 {
        let e = e as usize;
        let int: String = if digits.len() > e {
            digits[..=e].to_string()
        } else {
            format!("{digits}{}", "0".repeat(e + 1 - digits.len()))
        };
        let frac = if digits.len() > e + 1 {
            digits[e + 1..].to_string()
        } else {
            String::new()
        };
        (format!("{sign}{int}"), frac)
    } else {
        let frac = format!("{}{digits}", "0".repeat((-e - 1) as usize));
        (format!("{sign}0"), frac.trim_end_matches('0').to_string())
    }
}

/// NumPy's `dragon4_scientific(unique=True, precision=cap, trim='.')`:
/// `(int part with sign, fractional digits, exponent)`.
fn scientific(v: f64, dtype: DType, cap: Option<usize>) -> (String, String, i32) {
    let (neg, digits, e) = shortest(v, dtype);
    let (neg, digits, e) = match cap {
        Some(c) if digits.len() > c + 1 => parse_sci(&format!("{v:.c$e}")),
        _ => (neg, digits, e),
    };
    let sign = if neg { "-" } else { "" };
    let frac = digits[1..].trim_end_matches('0').to_string();
    (format!("{sign}{}", &digits[..1]), frac, e)
}

fn exp_str(e: i32, min_digits: usize) -> String {
    let sign = if e < 0 { '-' } else { '+' };
    format!("{sign}{:0min_digits$}", e.unsigned_abs())
}

/// `x` rounded to `dtype` (how NumPy 2 compares an array value with a Python float).
fn in_dtype(x: f64, dtype: DType) -> f64 {
    match dtype {
        DType::F32 => x as f32 as f64,
        DType::F16 => f16::from_f64(x).to_f64(),
        DType::BF16 => bf16::from_f64(x).to_f64(),
        _ => x,
    }
}

/// NumPy's `FloatingFormat` (floatmode `maxprec`, sign `-`).
struct FloatFormat {
    dtype: DType,
    exp: bool,
    pad_left: usize,
    pad_right: usize,
    precision: usize,
    exp_size: usize,
}

impl FloatFormat {
    fn new(vals: &[f64], dtype: DType) -> FloatFormat {
        let finite: Vec<f64> = vals.iter().copied().filter(|v| v.is_finite()).collect();
        let nz: Vec<f64> = finite
            .iter()
            .filter(|v| **v != 0.0)
            .map(|v| v.abs())
            .collect();
        let mut exp = false;
        if !nz.is_empty() {
            let max = nz.iter().copied().fold(f64::MIN, f64::max);
            let min = nz.iter().copied().fold(f64::MAX, f64::min);
            exp = max >= in_dtype(1e8, dtype)
                || min < in_dtype(1e-4, dtype)
                || in_dtype(max / min, dtype) > 1000.0;
        }
        let mut f = FloatFormat {
            dtype,
            exp,
            pad_left: 0,
            pad_right: 0,
            precision: 0,
            exp_size: 0,
        };
        if finite.is_empty() {
            // Only nan / inf.
        } else if exp {
            let parts: Vec<_> = finite
                .iter()
                .map(|&v| scientific(v, dtype, Some(PRECISION)))
                .collect();
            f.precision = parts.iter().map(|p| p.1.len()).max().unwrap_or(0);
            f.exp_size = parts
                .iter()
                .map(|p| exp_str(p.2, 2).len() - 1)
                .max()
                .unwrap_or(2);
            f.pad_left = parts.iter().map(|p| p.0.len()).max().unwrap_or(0);
            f.pad_right = f.exp_size + 2 + f.precision;
        } else {
            let parts: Vec<_> = finite
                .iter()
                .map(|&v| positional(v, dtype, Some(PRECISION)))
                .collect();
            f.pad_left = parts.iter().map(|p| p.0.len()).max().unwrap_or(0);
            f.pad_right = parts.iter().map(|p| p.1.len()).max().unwrap_or(0);
        }
        if finite.len() != vals.len() {
            let neginf = vals.contains(&f64::NEG_INFINITY) as i64;
            let offset = f.pad_right as i64 + 1;
            f.pad_left = (f.pad_left as i64).max(3 - offset).max(3 + neginf - offset) as usize;
        }
        f
    }

    fn format(&self, v: f64) -> String {
        if !v.is_finite() {
            let s = if v.is_nan() {
                "nan"
            } else if v < 0.0 {
                "-inf"
            } else {
                "inf"
            };
            return format!("{s:>w$}", w = self.pad_left + self.pad_right + 1);
        }
        if self.exp {
            let (i, fr, e) = scientific(v, self.dtype, Some(self.precision));
            format!(
                "{i:>pl$}.{fr:0<p$}e{}",
                exp_str(e, self.exp_size),
                pl = self.pad_left,
                p = self.precision
            )
        } else {
            let (i, fr) = positional(v, self.dtype, Some(PRECISION));
            format!(
                "{i:>pl$}.{fr:<pr$}",
                pl = self.pad_left,
                pr = self.pad_right
            )
        }
    }
}

/// A NumPy float scalar's `str`: full shortest repr, positional (`1.0`) for
/// `1e-4 <= |v| < 1e16` or zero, else scientific (`1e-05`).
fn float_scalar_str(v: f64, dtype: DType) -> String {
    if v.is_nan() {
        return "nan".into();
    }
    if v.is_infinite() {
        return if v < 0.0 { "-inf" } else { "inf" }.into();
    }
    let a = v.abs();
    if a == 0.0 || (1e-4..1e16).contains(&a) {
        let (i, f) = positional(v, dtype, None);
        format!("{i}.{}", if f.is_empty() { "0" } else { &f })
    } else {
        let (i, f, e) = scientific(v, dtype, None);
        let dot = if f.is_empty() {
            String::new()
        } else {
            format!(".{f}")
        };
        format!("{i}{dot}e{}", exp_str(e, 2))
    }
}

// ---------------------------------------------------------------------------
// Element formats
// ---------------------------------------------------------------------------

enum ElemFormat {
    Bool,
    Int(usize),
    Float(FloatFormat),
}

fn int_str(data: &HostData, i: usize) -> String {
    match data {
        HostData::I8(v) => v[i].to_string(),
        HostData::I16(v) => v[i].to_string(),
        HostData::I32(v) => v[i].to_string(),
        HostData::I64(v) => v[i].to_string(),
        HostData::U8(v) => v[i].to_string(),
        HostData::U16(v) => v[i].to_string(),
        HostData::U32(v) => v[i].to_string(),
        HostData::U64(v) => v[i].to_string(),
        _ => String::new(),
    }
}

fn float_at(data: &HostData, i: usize) -> f64 {
    match data {
        HostData::F16(v) => v[i].to_f64(),
        HostData::BF16(v) => v[i].to_f64(),
        HostData::F32(v) => v[i] as f64,
        HostData::F64(v) => v[i],
        _ => f64::NAN,
    }
}

fn scalar_str(data: &HostData, i: usize) -> String {
    let d = data.dtype();
    if d.is_float() {
        float_scalar_str(float_at(data, i), d)
    } else if let HostData::Bool(v) = data {
        if v[i] { "True" } else { "False" }.into()
    } else {
        int_str(data, i)
    }
}

impl ElemFormat {
    fn new(data: &HostData, shown: &[usize]) -> ElemFormat {
        let d = data.dtype();
        if d == DType::Bool {
            ElemFormat::Bool
        } else if d.is_float() {
            let vals: Vec<f64> = shown.iter().map(|&i| float_at(data, i)).collect();
            ElemFormat::Float(FloatFormat::new(&vals, d))
        } else {
            // NumPy pads to the longer of str(max) and str(min).
            let w = shown.iter().map(|&i| int_str(data, i).len()).max();
            ElemFormat::Int(w.unwrap_or(0))
        }
    }

    fn format(&self, data: &HostData, i: usize) -> String {
        match (self, data) {
            (ElemFormat::Bool, HostData::Bool(v)) => if v[i] { " True" } else { "False" }.into(),
            (ElemFormat::Int(w), _) => format!("{:>w$}", int_str(data, i)),
            (ElemFormat::Float(f), _) => f.format(float_at(data, i)),
            _ => String::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f32s(v: &[f32]) -> HostData {
        HostData::F32(v.to_vec())
    }

    /// Expected strings are `str(np.array(...))` from NumPy 2.4.
    #[test]
    fn floats_like_numpy() {
        let cases: Vec<(HostData, Vec<usize>, &str)> = vec![
            (f32s(&[1., 2., 3., 4.]), vec![2, 2], "[[1. 2.]\n [3. 4.]]"),
            (f32s(&[0.1, 0.25, 100.0]), vec![3], "[  0.1    0.25 100.  ]"),
            (
                HostData::F64(vec![1. / 3., 2. / 3., 1.0]),
                vec![3],
                "[0.33333333 0.66666667 1.        ]",
            ),
            (
                f32s(&[1. / 3., 2. / 3., 1.0]),
                vec![3],
                "[0.33333334 0.6666667  1.        ]",
            ),
            (HostData::F64(vec![-1.0, 2.0]), vec![2], "[-1.  2.]"),
            (HostData::F64(vec![1e-5, 1e10]), vec![2], "[1.e-05 1.e+10]"),
            (
                HostData::F64(vec![1.5e-5, 1.0, -2.25e3]),
                vec![3],
                "[ 1.50e-05  1.00e+00 -2.25e+03]",
            ),
            (
                HostData::F64(vec![1e-5, 1e-100]),
                vec![2],
                "[1.e-005 1.e-100]",
            ),
            (
                HostData::F64(vec![f64::NAN, 1.5, f64::NEG_INFINITY]),
                vec![3],
                "[ nan  1.5 -inf]",
            ),
            (
                HostData::F64(vec![f64::NAN, f64::INFINITY]),
                vec![2],
                "[nan inf]",
            ),
            (HostData::F64(vec![-0.0, 1.0]), vec![2], "[-0.  1.]"),
            (
                HostData::F64(vec![0.123456789012, 1.0]),
                vec![2],
                "[0.12345679 1.        ]",
            ),
            (HostData::F64(vec![1e7, 1.0]), vec![2], "[1.e+07 1.e+00]"),
            (
                f32s(&(0..8).map(|i| i as f32).collect::<Vec<_>>()),
                vec![2, 2, 2],
                "[[[0. 1.]\n  [2. 3.]]\n\n [[4. 5.]\n  [6. 7.]]]",
            ),
            (
                HostData::F16([0.1, 1.0, 65504.0].map(f16::from_f64).to_vec()),
                vec![3],
                "[1.00e-01 1.00e+00 6.55e+04]",
            ),
            (HostData::F32(vec![]), vec![2, 0], "[]"),
        ];
        for (d, s, want) in cases {
            assert_eq!(format_host(&d, &s), want, "{d:?}");
        }
    }

    #[test]
    fn wrapping_and_summaries_like_numpy() {
        let v: Vec<f64> = (0..30).map(|i| i as f64 * 1.5).collect();
        assert_eq!(
            format_host(&HostData::F64(v), &[30]),
            "[ 0.   1.5  3.   4.5  6.   7.5  9.  10.5 12.  13.5 15.  16.5 18.  19.5\n \
             21.  22.5 24.  25.5 27.  28.5 30.  31.5 33.  34.5 36.  37.5 39.  40.5\n 42.  43.5]"
        );
        let v: Vec<i64> = (0..40).map(|i| i * 1000).collect();
        assert_eq!(
            format_host(&HostData::I64(v), &[40]),
            "[    0  1000  2000  3000  4000  5000  6000  7000  8000  9000 10000 11000\n \
             12000 13000 14000 15000 16000 17000 18000 19000 20000 21000 22000 23000\n \
             24000 25000 26000 27000 28000 29000 30000 31000 32000 33000 34000 35000\n \
             36000 37000 38000 39000]"
        );
        let v: Vec<f32> = (0..2000).map(|i| i as f32).collect();
        assert_eq!(
            format_host(&HostData::F32(v), &[2000]),
            "[0.000e+00 1.000e+00 2.000e+00 ... 1.997e+03 1.998e+03 1.999e+03]"
        );
        let v: Vec<i32> = (0..1200).collect();
        assert_eq!(
            format_host(&HostData::I32(v), &[30, 40]),
            "[[   0    1    2 ...   37   38   39]\n [  40   41   42 ...   77   78   79]\n \
             [  80   81   82 ...  117  118  119]\n ...\n [1080 1081 1082 ... 1117 1118 1119]\n \
             [1120 1121 1122 ... 1157 1158 1159]\n [1160 1161 1162 ... 1197 1198 1199]]"
        );
    }

    #[test]
    fn ints_bools_scalars_like_numpy() {
        assert_eq!(
            format_host(&HostData::I32(vec![1, -20, 300, 4]), &[2, 2]),
            "[[  1 -20]\n [300   4]]"
        );
        assert_eq!(
            format_host(&HostData::U64(vec![u64::MAX, 0]), &[2]),
            "[18446744073709551615                    0]"
        );
        assert_eq!(
            format_host(&HostData::Bool(vec![true, false, true]), &[3]),
            "[ True False  True]"
        );
        assert_eq!(
            format_host(&HostData::Bool(vec![true, true]), &[1, 2]),
            "[[ True  True]]"
        );
        let s = |d: HostData| format_host(&d, &[]);
        assert_eq!(s(f32s(&[1.0])), "1.0");
        assert_eq!(s(HostData::F64(vec![1.0 / 3.0])), "0.3333333333333333");
        assert_eq!(s(f32s(&[1e-5])), "1e-05");
        assert_eq!(s(HostData::F64(vec![1.5e20])), "1.5e+20");
        assert_eq!(s(HostData::I64(vec![-7])), "-7");
        assert_eq!(s(HostData::Bool(vec![true])), "True");
        assert_eq!(s(f32s(&[f32::NAN])), "nan");
        assert_eq!(s(HostData::F64(vec![-0.0])), "-0.0");
    }
}
