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
        let bufs = backend::current()?.execute(prim, &ops, &outs)?;
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

/// Applies a primitive with exactly one output.
pub fn apply1(prim: &Prim, inputs: &[&Tensor]) -> Result<Tensor> {
    Ok(apply(prim, inputs)?.swap_remove(0))
}
