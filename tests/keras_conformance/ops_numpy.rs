//! Entries for `keras.ops.numpy`.
//!
//! How to add an entry: look at how the corpus calls the op
//! (`../shared/conformance/ops/<op>.jsonl`) and at its Keras signature, then add a line
//! to `register` below. Read every argument as `c.<helper>(position, "keyword_name")`
//! (positional-or-keyword; see `args.rs`: `tensor`, `tensors`, `axis_opt`, `axis1_opt`,
//! `bool_kw`, `i64_kw`, `f64_opt`, `str_kw`, `dtype_opt`, `shape`, ...). An argument the
//! entry never reads fails the case ("entry ignores argument"), so read them all.
//! One-liners: `unary_ops!(r; name)` for `op(x)`, `binary_ops!` for `op(x1, x2)`,
//! `binary_xy_ops!` for `op(x, y)`, `reduce_ops!` for `op(x, axis, keepdims)`.
//! Otherwise `r.add("name", |c| Ok(ops::name(c.tensor(0, "x")?, ...)?.into()));`.
//! Return `Err(Fail::Arg(..))` for arguments the Rust API cannot express and
//! `Err(Fail::Skip(..))` for cases that cannot be checked. Ops whose results need a
//! looser float tolerance go in the runner's table (`main.rs`, `tolerance_class`) or
//! use `r.add_tol`.

use crate::args::*;
use ceras::ops;

/// Registers the `keras.ops.numpy` entries.
pub fn register(r: &mut Registry) {
    unary_ops!(r;
        abs, absolute, arccos, arccosh, arcsin, arcsinh, arctan, arctanh, cbrt, ceil, cos,
        cosh, exp, exp2, expm1, fabs, floor, log, log10, log1p, log2, negative, reciprocal,
        sign, sin, sinh, sqrt, square, tan, tanh, trunc, isfinite, isinf, isnan,
        logical_not, bitwise_invert, bitwise_not, ravel,
    );
    binary_ops!(r;
        add, subtract, multiply, maximum, minimum, power, divide, true_divide,
        divide_no_nan, floor_divide, fmod, arctan2, nextafter, equal, not_equal, less,
        less_equal, greater, greater_equal, logical_and, logical_or, logical_xor, matmul,
    );
    r.add("mod", |c| binary(c, ops::r#mod));
    binary_xy_ops!(r;
        bitwise_and, bitwise_or, bitwise_xor, bitwise_left_shift, bitwise_right_shift,
        left_shift, right_shift,
    );
    reduce_ops!(r; sum, mean, var, std, any, all, amax, amin);

    r.add("prod", |c| {
        let x = c.tensor(0, "x")?;
        let axis = c.axis_opt(1, "axis")?;
        let keepdims = c.bool_kw(2, "keepdims", false)?;
        // `dtype` (position 3) is not in ceras's signature: left unread on purpose.
        Ok(ops::prod(x, axis.as_deref(), keepdims)?.into())
    });
    r.add("max", |c| minmax(c, ops::max));
    r.add("min", |c| minmax(c, ops::min));
    r.add("argmax", |c| argred(c, ops::argmax));
    r.add("argmin", |c| argred(c, ops::argmin));

    r.add("round", |c| {
        let d = c.i64_kw(1, "decimals", 0)?;
        Ok(ops::round(c.tensor(0, "x")?, d as i32)?.into())
    });
    r.add("clip", |c| {
        Ok(ops::clip(
            c.tensor(0, "x")?,
            c.tensor(1, "x_min")?,
            c.tensor(2, "x_max")?,
        )?
        .into())
    });
    r.add("where", |c| {
        let cond = c.tensor(0, "condition")?;
        match (c.tensor_opt(1, "x1")?, c.tensor_opt(2, "x2")?) {
            (Some(a), Some(b)) => Ok(ops::r#where(cond, a, b)?.into()),
            (None, None) => Ok(seq(ops::nonzero(cond)?)),
            _ => arg_fail("where needs both x1 and x2"),
        }
    });

    // Creation.
    r.add("full", |c| {
        let shape = c.shape(0, "shape")?;
        let v = c.tensor(1, "fill_value")?;
        Ok(ops::full(&shape, v, c.dtype_opt(2, "dtype")?)?.into())
    });
    r.add("zeros", |c| {
        Ok(ops::zeros(&c.shape(0, "shape")?, c.dtype_opt(1, "dtype")?)?.into())
    });
    r.add("ones", |c| {
        Ok(ops::ones(&c.shape(0, "shape")?, c.dtype_opt(1, "dtype")?)?.into())
    });
    r.add("zeros_like", |c| {
        Ok(ops::zeros_like(c.tensor(0, "x")?, c.dtype_opt(1, "dtype")?)?.into())
    });
    r.add("ones_like", |c| {
        Ok(ops::ones_like(c.tensor(0, "x")?, c.dtype_opt(1, "dtype")?)?.into())
    });
    r.add("full_like", |c| {
        let x = c.tensor(0, "x")?;
        let v = c.tensor(1, "fill_value")?;
        Ok(ops::full_like(x, v, c.dtype_opt(2, "dtype")?)?.into())
    });
    r.add("arange", |c| {
        let start = c.f64(0, "start")?;
        let stop = c.f64_opt(1, "stop")?;
        let step = c.f64_opt(2, "step")?;
        Ok(ops::arange(start, stop, step, c.dtype_opt(3, "dtype")?)?.into())
    });
    r.add("eye", |c| {
        let n = c.usize(0, "N")?;
        let m = c.usize_opt(1, "M")?;
        let k = c.i64_kw(2, "k", 0)?;
        Ok(ops::eye(n, m, k, c.dtype_opt(3, "dtype")?)?.into())
    });
    r.add("identity", |c| {
        Ok(ops::identity(c.usize(0, "n")?, c.dtype_opt(1, "dtype")?)?.into())
    });

    // Shapes.
    r.add("reshape", |c| {
        Ok(ops::reshape(c.tensor(0, "x")?, &c.ishape(1, "newshape")?)?.into())
    });
    r.add("transpose", |c| {
        let axes = c.axis_opt(1, "axes")?;
        Ok(ops::transpose(c.tensor(0, "x")?, axes.as_deref())?.into())
    });
    r.add("expand_dims", |c| {
        Ok(ops::expand_dims(c.tensor(0, "x")?, &c.axes(1, "axis")?)?.into())
    });
    r.add("squeeze", |c| {
        let axis = c.axis_opt(1, "axis")?;
        Ok(ops::squeeze(c.tensor(0, "x")?, axis.as_deref())?.into())
    });
    r.add("concatenate", |c| {
        let xs = c.tensors(0, "xs")?;
        match c.arg(1, "axis") {
            Some(crate::value::Value::None) => {
                arg_fail("concatenate(axis=None) is not in the Rust API")
            }
            _ => Ok(ops::concatenate(&xs, c.axis1_kw(1, "axis", 0)?)?.into()),
        }
    });
    r.add("stack", |c| {
        let xs = c.tensors(0, "x")?;
        Ok(ops::stack(&xs, c.axis1_kw(1, "axis", 0)?)?.into())
    });
    r.add("broadcast_to", |c| {
        Ok(ops::broadcast_to(c.tensor(0, "x")?, &c.shape(1, "shape")?)?.into())
    });

    // Indexing.
    r.add("take", |c| {
        let x = c.tensor(0, "x")?;
        let idx = c.tensor(1, "indices")?;
        Ok(ops::take(x, idx, c.axis1_opt(2, "axis")?)?.into())
    });
    r.add("take_along_axis", |c| {
        let x = c.tensor(0, "x")?;
        let idx = c.tensor(1, "indices")?;
        Ok(ops::take_along_axis(x, idx, c.axis1_opt(2, "axis")?)?.into())
    });
    register_ext(r);
}

type MinMaxFn =
    fn(ceras::Tensor, Option<&[i64]>, bool, Option<f64>) -> ceras::Result<ceras::Tensor>;

/// `max` / `min(x, axis=None, keepdims=False, initial=None)`.
fn minmax(c: &crate::value::Case, f: MinMaxFn) -> OpResult {
    let x = c.tensor(0, "x")?;
    let axis = c.axis_opt(1, "axis")?;
    let keepdims = c.bool_kw(2, "keepdims", false)?;
    let initial = c.f64_opt(3, "initial")?;
    Ok(f(x, axis.as_deref(), keepdims, initial)?.into())
}

type ArgFn = fn(ceras::Tensor, Option<i64>, bool) -> ceras::Result<ceras::Tensor>;

/// `argmax` / `argmin(x, axis=None, keepdims=False)`.
fn argred(c: &crate::value::Case, f: ArgFn) -> OpResult {
    let x = c.tensor(0, "x")?;
    let axis = c.axis1_opt(1, "axis")?;
    let keepdims = c.bool_kw(2, "keepdims", false)?;
    Ok(f(x, axis, keepdims)?.into())
}

// ---------------------------------------------------------------------------------
// NumPy ops of `math_ext.rs`, `stats.rs`, `manip.rs`, `search.rs`, `products.rs`,
// `creation.rs` (second batch).

use crate::value::Value;

/// `indices_or_sections`: an int (sections) or a sequence / 1-D array (indices).
fn ios(c: &crate::value::Case, i: usize, name: &str) -> Result<ops::IndicesOrSections, Fail> {
    match c.req(i, name)? {
        Value::Int(n) => Ok(ops::IndicesOrSections::Sections(
            usize::try_from(*n).or_else(|_| arg_fail(format!("negative sections {n}")))?,
        )),
        v => Ok(ops::IndicesOrSections::Indices(as_ints(v)?)),
    }
}

/// `pad_width`: int, `(pad,)`, `(before, after)`, or one pair per axis.
fn pad_width(v: &Value) -> Result<Vec<(usize, usize)>, Fail> {
    let u = |x: i64| usize::try_from(x).or_else(|_| arg_fail(format!("negative pad width {x}")));
    match v {
        Value::List(xs) | Value::Tuple(xs) => {
            if xs.iter().all(|x| matches!(x, Value::Int(_))) {
                let p = as_ints(v)?;
                match p.len() {
                    1 => Ok(vec![(u(p[0])?, u(p[0])?)]),
                    2 => Ok(vec![(u(p[0])?, u(p[1])?)]),
                    _ => arg_fail(format!("invalid pad_width {p:?}")),
                }
            } else {
                xs.iter()
                    .map(|x| {
                        let p = as_ints(x)?;
                        match p.len() {
                            1 => Ok((u(p[0])?, u(p[0])?)),
                            2 => Ok((u(p[0])?, u(p[1])?)),
                            _ => arg_fail(format!("invalid pad_width entry {p:?}")),
                        }
                    })
                    .collect()
            }
        }
        Value::Array(a) if a.shape.len() == 2 => {
            let p = array_tensor(a)?.to_i64_vec()?;
            p.chunks(a.shape[1].max(1))
                .map(|ch| match ch.len() {
                    1 => Ok((u(ch[0])?, u(ch[0])?)),
                    2 => Ok((u(ch[0])?, u(ch[1])?)),
                    _ => arg_fail(format!("invalid pad_width entry {ch:?}")),
                })
                .collect()
        }
        _ => {
            let p = as_i64(v)?;
            Ok(vec![(u(p)?, u(p)?)])
        }
    }
}

/// A sort-like `axis`: absent → -1, explicit `None` → flatten.
fn sort_axis(c: &crate::value::Case, i: usize) -> Result<Option<i64>, Fail> {
    match c.arg(i, "axis") {
        None => Ok(Some(-1)),
        Some(Value::None) => Ok(None),
        Some(v) => Ok(Some(as_i64(v)?)),
    }
}

fn seq(v: Vec<ceras::Tensor>) -> Out {
    Out::Seq(v.into_iter().map(Out::Tensor).collect())
}

/// `linspace`-family options.
fn space_opts(
    c: &crate::value::Case,
    endpoint_i: usize,
    dtype_i: usize,
    axis_i: usize,
) -> Result<ops::LinspaceOptions, Fail> {
    Ok(ops::LinspaceOptions {
        endpoint: c.bool_kw(endpoint_i, "endpoint", true)?,
        dtype: c.dtype_opt(dtype_i, "dtype")?,
        axis: c.i64_kw(axis_i, "axis", 0)?,
    })
}

type QuantileFn =
    fn(ceras::Tensor, ceras::Tensor, Option<&[i64]>, &str, bool) -> ceras::Result<ceras::Tensor>;

fn quantile_like(c: &crate::value::Case, f: QuantileFn) -> OpResult {
    let x = c.tensor(0, "x")?;
    let q = c.tensor(1, "q")?;
    let axis = c.axis_opt(2, "axis")?;
    let method = c.str_kw(3, "method", "linear")?;
    let keepdims = c.bool_kw(4, "keepdims", false)?;
    Ok(f(x, q, axis.as_deref(), &method, keepdims)?.into())
}

type ScanFn = fn(ceras::Tensor, Option<i64>, Option<ceras::DType>) -> ceras::Result<ceras::Tensor>;

fn scan_op(c: &crate::value::Case, f: ScanFn) -> OpResult {
    let x = c.tensor(0, "x")?;
    let axis = c.axis1_opt(1, "axis")?;
    Ok(f(x, axis, c.dtype_opt(2, "dtype")?)?.into())
}

fn window_op(
    c: &crate::value::Case,
    f: fn(ceras::Tensor) -> ceras::Result<ceras::Tensor>,
) -> OpResult {
    Ok(f(c.tensor(0, "x")?)?.into())
}

/// Registers the second batch of `keras.ops.numpy` entries.
pub fn register_ext(r: &mut Registry) {
    unary_ops!(r;
        deg2rad, rad2deg, sinc, signbit, isneginf, isposinf, isreal, real, imag, conj,
        conjugate, angle, copy, i0, fliplr, flipud,
    );
    binary_ops!(r;
        hypot, logaddexp, logaddexp2, heaviside, fmax, fmin, gcd, lcm, ldexp, dot, inner,
        outer, vdot, kron,
    );
    reduce_ops!(r; ptp, nansum, nanmean, nanmax, nanmin, nanprod, nanstd, nanvar, median, nanmedian);
    r.add("nanargmax", |c| argred(c, ops::nanargmax));
    r.add("nanargmin", |c| argred(c, ops::nanargmin));
    r.add("isclose", |c| {
        Ok(ops::isclose(
            c.tensor(0, "x1")?,
            c.tensor(1, "x2")?,
            c.f64_kw(2, "rtol", 1e-5)?,
            c.f64_kw(3, "atol", 1e-8)?,
            c.bool_kw(4, "equal_nan", false)?,
        )?
        .into())
    });
    r.add("allclose", |c| {
        Ok(ops::allclose(
            c.tensor(0, "x1")?,
            c.tensor(1, "x2")?,
            c.f64_kw(2, "rtol", 1e-5)?,
            c.f64_kw(3, "atol", 1e-8)?,
            c.bool_kw(4, "equal_nan", false)?,
        )?
        .into())
    });
    r.add("nan_to_num", |c| {
        Ok(ops::nan_to_num(
            c.tensor(0, "x")?,
            c.f64_kw(1, "nan", 0.0)?,
            c.f64_opt(2, "posinf")?,
            c.f64_opt(3, "neginf")?,
        )?
        .into())
    });

    // Scans and statistics.
    r.add("cumsum", |c| scan_op(c, ops::cumsum));
    r.add("cumprod", |c| scan_op(c, ops::cumprod));
    r.add("nancumsum", |c| scan_op(c, ops::nancumsum));
    r.add("nancumprod", |c| scan_op(c, ops::nancumprod));
    r.add("count_nonzero", |c| {
        let axis = c.axis_opt(1, "axis")?;
        Ok(ops::count_nonzero(c.tensor(0, "x")?, axis.as_deref())?.into())
    });
    r.add("average", |c| {
        let x = c.tensor(0, "x")?;
        let axis = c.axis_opt(1, "axis")?;
        let w = c.tensor_opt(2, "weights")?;
        Ok(ops::average(x, axis.as_deref(), w.as_ref())?.into())
    });
    r.add("quantile", |c| quantile_like(c, ops::quantile));
    r.add("percentile", |c| quantile_like(c, ops::percentile));
    r.add("nanquantile", |c| quantile_like(c, ops::nanquantile));
    r.add("nanpercentile", |c| quantile_like(c, ops::nanpercentile));
    r.add("trace", |c| {
        Ok(ops::trace(
            c.tensor(0, "x")?,
            c.i64_kw(1, "offset", 0)?,
            c.i64_kw(2, "axis1", 0)?,
            c.i64_kw(3, "axis2", 1)?,
        )?
        .into())
    });
    r.add("diff", |c| {
        let n = c.usize_opt(1, "n")?.unwrap_or(1);
        Ok(ops::diff(c.tensor(0, "a")?, n, c.i64_kw(2, "axis", -1)?)?.into())
    });

    // Shapes.
    r.add("moveaxis", |c| {
        let x = c.tensor(0, "x")?;
        let s = c.axes(1, "source")?;
        let d = c.axes(2, "destination")?;
        Ok(ops::moveaxis(x, &s, &d)?.into())
    });
    r.add("swapaxes", |c| {
        Ok(ops::swapaxes(c.tensor(0, "x")?, c.int(1, "axis1")?, c.int(2, "axis2")?)?.into())
    });
    r.add("flip", |c| {
        let axis = c.axis_opt(1, "axis")?;
        Ok(ops::flip(c.tensor(0, "x")?, axis.as_deref())?.into())
    });
    r.add("rot90", |c| {
        let x = c.tensor(0, "array")?;
        let k = c.i64_kw(1, "k", 1)?;
        let axes = match c.get(2, "axes") {
            None => (0, 1),
            Some(v) => {
                let a = as_ints(v)?;
                if a.len() != 2 {
                    return arg_fail(format!("axes must have two entries, got {a:?}"));
                }
                (a[0], a[1])
            }
        };
        Ok(ops::rot90(x, k, axes)?.into())
    });
    r.add("roll", |c| {
        let x = c.tensor(0, "x")?;
        let shift = as_ints(c.req(1, "shift")?)?;
        let axis = c.axis_opt(2, "axis")?;
        Ok(ops::roll(x, &shift, axis.as_deref())?.into())
    });
    r.add("tile", |c| {
        let x = c.tensor(0, "x")?;
        Ok(ops::tile(x, &c.axes(1, "repeats")?)?.into())
    });
    r.add("repeat", |c| {
        let x = c.tensor(0, "x")?;
        let reps = c.tensor(1, "repeats")?;
        Ok(ops::repeat(x, reps, c.axis1_opt(2, "axis")?)?.into())
    });
    r.add("split", |c| {
        let x = c.tensor(0, "x")?;
        let s = ios(c, 1, "indices_or_sections")?;
        Ok(seq(ops::split(x, s, c.i64_kw(2, "axis", 0)?)?))
    });
    r.add("array_split", |c| {
        let x = c.tensor(0, "x")?;
        let s = ios(c, 1, "indices_or_sections")?;
        Ok(seq(ops::array_split(x, s, c.i64_kw(2, "axis", 0)?)?))
    });
    r.add("hsplit", |c| {
        Ok(seq(ops::hsplit(
            c.tensor(0, "x")?,
            ios(c, 1, "indices_or_sections")?,
        )?))
    });
    r.add("vsplit", |c| {
        Ok(seq(ops::vsplit(
            c.tensor(0, "x")?,
            ios(c, 1, "indices_or_sections")?,
        )?))
    });
    r.add("dsplit", |c| {
        Ok(seq(ops::dsplit(
            c.tensor(0, "x")?,
            ios(c, 1, "indices_or_sections")?,
        )?))
    });
    r.add("hstack", |c| Ok(ops::hstack(&c.tensors(0, "xs")?)?.into()));
    r.add("vstack", |c| Ok(ops::vstack(&c.tensors(0, "xs")?)?.into()));
    r.add("dstack", |c| Ok(ops::dstack(&c.tensors(0, "xs")?)?.into()));
    r.add("column_stack", |c| {
        Ok(ops::column_stack(&c.tensors(0, "xs")?)?.into())
    });
    r.add("append", |c| {
        Ok(ops::append(
            c.tensor(0, "x1")?,
            c.tensor(1, "x2")?,
            c.axis1_opt(2, "axis")?,
        )?
        .into())
    });
    r.add("pad", |c| {
        let x = c.tensor(0, "x")?;
        let pw = pad_width(c.req(1, "pad_width")?)?;
        let mode = c.str_kw(2, "mode", "constant")?;
        let cv = c.f64_opt(3, "constant_values")?;
        Ok(ops::pad(x, &pw, &mode, cv)?.into())
    });
    r.add("diag", |c| {
        Ok(ops::diag(c.tensor(0, "x")?, c.i64_kw(1, "k", 0)?)?.into())
    });
    r.add("diagflat", |c| {
        Ok(ops::diagflat(c.tensor(0, "x")?, c.i64_kw(1, "k", 0)?)?.into())
    });
    r.add("diagonal", |c| {
        Ok(ops::diagonal(
            c.tensor(0, "x")?,
            c.i64_kw(1, "offset", 0)?,
            c.i64_kw(2, "axis1", 0)?,
            c.i64_kw(3, "axis2", 1)?,
        )?
        .into())
    });
    r.add("tril", |c| {
        Ok(ops::tril(c.tensor(0, "x")?, c.i64_kw(1, "k", 0)?)?.into())
    });
    r.add("triu", |c| {
        Ok(ops::triu(c.tensor(0, "x")?, c.i64_kw(1, "k", 0)?)?.into())
    });
    r.add("meshgrid", |c| {
        let xs: Vec<ceras::Tensor> = c.args.iter().map(tensor).collect::<Result<_, _>>()?;
        c.use_all();
        let indexing = match c.kwargs.iter().find(|(k, _)| k == "indexing") {
            Some((_, Value::Str(s))) => s.clone(),
            Some((_, v)) => {
                return arg_fail(format!("indexing must be a str, got {}", v.describe()))
            }
            None => "xy".to_string(),
        };
        Ok(seq(ops::meshgrid(&xs, &indexing)?))
    });
    r.add("size", |c| {
        Ok(Out::Int(ops::size(c.tensor(0, "x")?)? as i64))
    });
    r.add("ndim", |c| {
        Ok(Out::Int(ops::ndim(c.tensor(0, "x")?)? as i64))
    });
    r.add("array", |c| {
        Ok(ops::array(c.tensor(0, "x")?, c.dtype_opt(1, "dtype")?)?.into())
    });
    r.add("view", |c| {
        Ok(ops::view(c.tensor(0, "x")?, c.dtype_opt(1, "dtype")?)?.into())
    });

    // Searching, sorting, sets.
    r.add("sort", |c| {
        let x = c.tensor(0, "x")?;
        Ok(ops::sort(x, sort_axis(c, 1)?)?.into())
    });
    r.add("argsort", |c| {
        let x = c.tensor(0, "x")?;
        Ok(ops::argsort(x, sort_axis(c, 1)?)?.into())
    });
    r.add("argpartition", |c| {
        let x = c.tensor(0, "x")?;
        let kth = c.int(1, "kth")?;
        Ok(ops::argpartition(x, kth, sort_axis(c, 2)?)?.into())
    });
    r.add("nonzero", |c| Ok(seq(ops::nonzero(c.tensor(0, "x")?)?)));
    r.add("searchsorted", |c| {
        Ok(ops::searchsorted(
            c.tensor(0, "sorted_sequence")?,
            c.tensor(1, "values")?,
            &c.str_kw(2, "side", "left")?,
        )?
        .into())
    });
    r.add("digitize", |c| {
        Ok(ops::digitize(c.tensor(0, "x")?, c.tensor(1, "bins")?)?.into())
    });
    r.add("bincount", |c| {
        let x = c.tensor(0, "x")?;
        let w = c.tensor_opt(1, "weights")?;
        let minlength = c.usize_opt(2, "minlength")?.unwrap_or(0);
        if c.bool_kw(3, "sparse", false)? {
            return Err(Fail::Skip("sparse outputs".into()));
        }
        Ok(ops::bincount(x, w.as_ref(), minlength)?.into())
    });
    r.add("isin", |c| {
        Ok(ops::isin(
            c.tensor(0, "x1")?,
            c.tensor(1, "x2")?,
            c.bool_kw(2, "assume_unique", false)?,
            c.bool_kw(3, "invert", false)?,
        )?
        .into())
    });
    r.add("unique", |c| {
        let x = c.tensor(0, "x")?;
        let opts = ops::UniqueOptions {
            sorted: c.bool_kw(1, "sorted", true)?,
            return_index: c.bool_kw(2, "return_index", false)?,
            return_inverse: c.bool_kw(3, "return_inverse", false)?,
            return_counts: c.bool_kw(4, "return_counts", false)?,
            axis: c.axis1_opt(5, "axis")?,
            size: c.usize_opt(6, "size")?,
            fill_value: c.f64_opt(7, "fill_value")?,
        };
        let u = ops::unique(x, &opts)?;
        let extra: Vec<ceras::Tensor> = [u.indices, u.inverse, u.counts]
            .into_iter()
            .flatten()
            .collect();
        if extra.is_empty() {
            Ok(u.values.into())
        } else {
            let mut v = vec![u.values];
            v.extend(extra);
            Ok(seq(v))
        }
    });
    r.add("unravel_index", |c| {
        let idx = c.tensor(0, "indices")?;
        Ok(seq(ops::unravel_index(idx, &c.shape(1, "shape")?)?))
    });
    r.add("select", |c| {
        let conds = c.tensors(0, "condlist")?;
        let choices = c.tensors(1, "choicelist")?;
        let default = c
            .tensor_opt(2, "default")?
            .map_or_else(|| ceras::Tensor::weak_scalar(0i64), Ok)?;
        Ok(ops::select(&conds, &choices, default)?.into())
    });
    r.add("histogram", |c| {
        let x = c.tensor(0, "x")?;
        let bins = c.usize_opt(1, "bins")?.unwrap_or(10);
        let range = match c.get(2, "range") {
            None => None,
            Some(v) => match v {
                Value::List(xs) | Value::Tuple(xs) if xs.len() == 2 => {
                    Some((as_f64(&xs[0])?, as_f64(&xs[1])?))
                }
                other => {
                    return arg_fail(format!("range must be a pair, got {}", other.describe()))
                }
            },
        };
        let (h, e) = ops::histogram(x, bins, range)?;
        Ok(seq(vec![h, e]))
    });

    // Products.
    r.add("tensordot", |c| {
        let a = c.tensor(0, "x1")?;
        let b = c.tensor(1, "x2")?;
        let axes = match c.get(2, "axes") {
            None => ops::TensordotAxes::Count(2),
            Some(Value::Int(n)) => ops::TensordotAxes::Count(
                usize::try_from(*n).or_else(|_| arg_fail(format!("negative axes {n}")))?,
            ),
            Some(Value::List(xs) | Value::Tuple(xs)) if xs.len() == 2 => {
                ops::TensordotAxes::Axes(as_ints(&xs[0])?, as_ints(&xs[1])?)
            }
            Some(v) => return arg_fail(format!("invalid axes {}", v.describe())),
        };
        Ok(ops::tensordot(a, b, axes)?.into())
    });
    r.add("einsum", |c| {
        let sub = match c.args.first() {
            Some(Value::Str(s)) => s.clone(),
            _ => return arg_fail("einsum needs a subscripts string"),
        };
        let xs: Vec<ceras::Tensor> = c.args[1..].iter().map(tensor).collect::<Result<_, _>>()?;
        c.use_all();
        Ok(ops::einsum(&sub, &xs)?.into())
    });
    r.add("cross", |c| {
        let opts = ops::CrossOptions {
            axisa: c.i64_kw(2, "axisa", -1)?,
            axisb: c.i64_kw(3, "axisb", -1)?,
            axisc: c.i64_kw(4, "axisc", -1)?,
            axis: c.i64_opt(5, "axis")?,
        };
        Ok(ops::cross(c.tensor(0, "x1")?, c.tensor(1, "x2")?, opts)?.into())
    });
    r.add("correlate", |c| {
        Ok(ops::correlate(
            c.tensor(0, "x1")?,
            c.tensor(1, "x2")?,
            &c.str_kw(2, "mode", "valid")?,
        )?
        .into())
    });
    r.add("vander", |c| {
        Ok(ops::vander(
            c.tensor(0, "x")?,
            c.usize_opt(1, "N")?,
            c.bool_kw(2, "increasing", false)?,
        )?
        .into())
    });

    // Creation.
    r.add("linspace", |c| {
        let start = c.tensor(0, "start")?;
        let stop = c.tensor(1, "stop")?;
        let num = c.usize_opt(2, "num")?.unwrap_or(50);
        let retstep = c.bool_kw(4, "retstep", false)?;
        let opts = space_opts(c, 3, 5, 6)?;
        if retstep {
            let (v, s) = ops::linspace_with_step(start, stop, num, &opts)?;
            Ok(seq(vec![v, s]))
        } else {
            Ok(ops::linspace(start, stop, num, &opts)?.into())
        }
    });
    r.add("logspace", |c| {
        let start = c.tensor(0, "start")?;
        let stop = c.tensor(1, "stop")?;
        let num = c.usize_opt(2, "num")?.unwrap_or(50);
        let base = c.f64_kw(4, "base", 10.0)?;
        let opts = space_opts(c, 3, 5, 6)?;
        Ok(ops::logspace(start, stop, num, base, &opts)?.into())
    });
    r.add("geomspace", |c| {
        let start = c.tensor(0, "start")?;
        let stop = c.tensor(1, "stop")?;
        let num = c.usize_opt(2, "num")?.unwrap_or(50);
        let opts = space_opts(c, 3, 4, 5)?;
        Ok(ops::geomspace(start, stop, num, &opts)?.into())
    });
    r.add("empty", |c| {
        Ok(ops::empty(&c.shape(0, "shape")?, c.dtype_opt(1, "dtype")?)?.into())
    });
    r.add("empty_like", |c| {
        Ok(ops::empty_like(c.tensor(0, "x")?, c.dtype_opt(1, "dtype")?)?.into())
    });
    r.add("tri", |c| {
        Ok(ops::tri(
            c.usize(0, "N")?,
            c.usize_opt(1, "M")?,
            c.i64_kw(2, "k", 0)?,
            c.dtype_opt(3, "dtype")?,
        )?
        .into())
    });
    r.add("bartlett", |c| window_op(c, ops::bartlett));
    r.add("blackman", |c| window_op(c, ops::blackman));
    r.add("hamming", |c| window_op(c, ops::hamming));
    r.add("hanning", |c| window_op(c, ops::hanning));
    r.add("corrcoef", |c| Ok(ops::corrcoef(c.tensor(0, "x")?)?.into()));
    r.add("trapezoid", |c| {
        let y = c.tensor(0, "y")?;
        let x = c.tensor_opt(1, "x")?;
        let dx = c.f64_kw(2, "dx", 1.0)?;
        Ok(ops::trapezoid(y, x.as_ref(), dx, c.i64_kw(3, "axis", -1)?)?.into())
    });
    r.add("kaiser", |c| {
        Ok(ops::kaiser(c.tensor(0, "x")?, c.tensor(1, "beta")?)?.into())
    });
}
