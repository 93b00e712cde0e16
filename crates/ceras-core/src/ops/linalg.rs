//! Products: `matmul`, `dot`, `tensordot`, `einsum`, ...

use super::*;
use crate::dtype::DType;
use crate::error::shape_err;

/// Matrix product with NumPy `matmul` semantics (1-D promotion, batch broadcasting).
pub fn matmul(x1: impl IntoTensor, x2: impl IntoTensor) -> Result<Tensor> {
    let (a, b) = (x1.into_tensor()?, x2.into_tensor()?);
    if a.ndim() == 0 || b.ndim() == 0 {
        return Err(shape_err("matmul", "inputs must be at least 1-D"));
    }
    // Keras (JAX): the promoted dtype, except int8 x int8 accumulates into int32;
    // bool products are computed in int32 and converted back.
    let d = result_dtype(&[&a, &b]);
    let d = if a.dtype() == DType::I8 && b.dtype() == DType::I8 {
        DType::I32
    } else {
        d
    };
    let out_bool = d == DType::Bool;
    let d = if out_bool { DType::I32 } else { d };
    let a1 = a.ndim() == 1;
    let b1 = b.ndim() == 1;
    let a = if a1 {
        lax::reshape(&a, &[1, a.shape()[0]])?
    } else {
        a
    };
    let b = if b1 {
        lax::reshape(&b, &[b.shape()[0], 1])?
    } else {
        b
    };
    let (ra, rb) = (a.ndim(), b.ndim());
    if a.shape()[ra - 1] != b.shape()[rb - 2] {
        return Err(shape_err(
            "matmul",
            format!(
                "incompatible shapes {:?} and {:?}: contraction dims {} != {}",
                a.shape(),
                b.shape(),
                a.shape()[ra - 1],
                b.shape()[rb - 2]
            ),
        ));
    }
    let mut out = if rb == 2 && ra > 2 {
        // A stack of matrices times one matrix (a Dense layer or an RNN's input
        // projection on `[batch, steps, features]`): one product over all rows
        // instead of broadcasting `b` to every batch entry. Its gradients are
        // single products too (the rhs gradient contracts the batch dims).
        let a = lax::convert(&a, d)?;
        let b = lax::convert(&b, d)?;
        lax::dot_general(&a, &b, &[ra - 1], &[0], &[], &[])?
    } else {
        let batch =
            crate::shape::broadcast_shapes("matmul", &a.shape()[..ra - 2], &b.shape()[..rb - 2])?;
        let nb = batch.len();
        let mut sa = batch.clone();
        sa.extend(&a.shape()[ra - 2..]);
        let mut sb = batch.clone();
        sb.extend(&b.shape()[rb - 2..]);
        let a = lax::broadcast_to(&lax::convert(&a, d)?, &sa)?;
        let b = lax::broadcast_to(&lax::convert(&b, d)?, &sb)?;
        let bd: Vec<usize> = (0..nb).collect();
        let out = lax::dot_general(&a, &b, &[nb + 1], &[nb], &bd, &bd)?;
        if a1 {
            let mut s = out.shape().to_vec();
            s.remove(nb);
            lax::reshape(&out, &s)?
        } else {
            out
        }
    };
    if b1 {
        let mut s = out.shape().to_vec();
        s.pop();
        out = lax::reshape(&out, &s)?;
    }
    if out_bool {
        out = lax::compare(CmpOp::Ne, &out, &lax::zeros_like(&out)?)?;
    }
    Ok(out)
}
