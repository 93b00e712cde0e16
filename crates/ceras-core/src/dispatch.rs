//! The single entry point through which every primitive runs: abstract evaluation,
//! then tracing (if an input is traced) or backend execution, then tape recording.

use crate::autodiff;
use crate::backend::{self, Operand};
use crate::error::Result;
use crate::prim::{Prim, Spec};
use crate::tensor::{Tensor, Value};
use crate::trace;

/// Applies one primitive to tensors and returns its outputs.
///
/// This is the only place where primitives execute, so autodiff (the tape) and
/// tracing see exactly the same primitive stream.
pub fn apply(prim: &Prim, inputs: &[&Tensor]) -> Result<Vec<Tensor>> {
    let specs: Vec<Spec> = inputs.iter().map(|t| t.spec().clone()).collect();
    let outs = prim.infer(&specs)?;
    let outputs = if inputs.iter().any(|t| t.is_traced()) {
        trace::record(prim, inputs, outs)?
    } else if *prim == Prim::StopGradient {
        vec![Tensor::from_parts(
            outs[0].clone(),
            inputs[0].is_weak(),
            inputs[0].0.value.clone(),
        )]
    } else {
        let ops: Vec<Operand<'_>> = inputs
            .iter()
            .map(|t| t.operand("apply"))
            .collect::<Result<_>>()?;
        let t0 = profiling().then(std::time::Instant::now);
        let bufs = backend::current()?.execute(prim, &ops, &outs)?;
        if let Some(t0) = t0 {
            log_prim(prim, &specs, &outs, t0.elapsed());
        }
        bufs.into_iter()
            .zip(outs)
            .map(|(b, s)| Tensor::from_parts(s, false, Value::Concrete(b)))
            .collect()
    };
    if *prim != Prim::StopGradient {
        autodiff::record_prim(prim, inputs, &outputs);
    }
    Ok(outputs)
}

/// Whether `CERAS_PROFILE_PRIMS` is set: then every executed primitive is
/// logged to stderr (read once per process).
pub(crate) fn profiling() -> bool {
    static ON: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *ON.get_or_init(|| std::env::var_os("CERAS_PROFILE_PRIMS").is_some())
}

/// One tab-separated line per executed primitive (or fused kernel): `prim`,
/// the primitive (its `Debug` form, cut to 80 characters; fused kernels'
/// prefixed `Fused `), the output elements, the milliseconds the backend took
/// and the input shapes. `tools/prim_profile.py` sums a log by primitive.
pub(crate) fn log_prim(
    prim: &dyn std::fmt::Debug,
    ins: &[Spec],
    outs: &[Spec],
    took: std::time::Duration,
) {
    let n: usize = outs.iter().map(|s| s.shape.iter().product::<usize>()).sum();
    let name: String = format!("{prim:?}").chars().take(80).collect();
    let shapes: Vec<&[usize]> = ins.iter().map(|s| &s.shape[..]).collect();
    eprintln!(
        "prim\t{name}\t{n}\t{:.3}\t{shapes:?}",
        took.as_secs_f64() * 1e3
    );
}

/// Applies a primitive with exactly one output.
pub fn apply1(prim: &Prim, inputs: &[&Tensor]) -> Result<Tensor> {
    Ok(apply(prim, inputs)?.swap_remove(0))
}
