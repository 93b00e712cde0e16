//! Merge layers: `Add`, `Subtract`, `Multiply`, `Average`, `Maximum`, `Minimum`
//! and `Concatenate`. They take a list of inputs, so they are used through the
//! Functional API (`Add::new().apply([&a, &b])`) or [`Layer::call_multi`].
//!
//! ```
//! use ceras::layers::{Add, Layer};
//! use ceras::Tensor;
//! let a = Tensor::from_vec(vec![1.0f32, 2.0], [1, 2]).unwrap();
//! let b = Tensor::from_vec(vec![10.0f32, 20.0], [1, 2]).unwrap();
//! let y = Add::new().forward_multi(&[a, b], false).unwrap();
//! assert_eq!(y[0].to_vec::<f32>().unwrap(), vec![11.0, 22.0]);
//! ```

use super::core::{base_impl, config_with};
use super::{fmt_shape, Layer, LayerBase};
use crate::error::{arg_err, shape_err};
use crate::trace::PartialShape;
use crate::{ops, Result, Tensor};
use serde_json::json;

/// The element-wise reductions of the merge layers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum MergeOp {
    Add,
    Subtract,
    Multiply,
    Average,
    Maximum,
    Minimum,
}

impl MergeOp {
    fn class(self) -> &'static str {
        match self {
            MergeOp::Add => "Add",
            MergeOp::Subtract => "Subtract",
            MergeOp::Multiply => "Multiply",
            MergeOp::Average => "Average",
            MergeOp::Maximum => "Maximum",
            MergeOp::Minimum => "Minimum",
        }
    }
}

/// Keras's `_compute_elemwise_op_output_shape`: broadcast two shapes (without
/// their batch dims), with `None` for unknown sizes.
fn broadcast_shapes(who: &str, a: &[Option<usize>], b: &[Option<usize>]) -> Result<PartialShape> {
    let n = a.len().max(b.len());
    let mut out = vec![None; n];
    for i in 0..n {
        let x = if i < n - a.len() {
            Some(1)
        } else {
            a[i - (n - a.len())]
        };
        let y = if i < n - b.len() {
            Some(1)
        } else {
            b[i - (n - b.len())]
        };
        out[i] = match (x, y) {
            (None, _) | (_, None) => None,
            (Some(1), y) => y,
            (x, Some(1)) => x,
            (Some(p), Some(q)) if p == q => Some(p),
            _ => {
                return Err(shape_err(
                    who,
                    format!(
                        "inputs have incompatible shapes. Received shapes {} and {}",
                        fmt_shape(a),
                        fmt_shape(b)
                    ),
                ))
            }
        };
    }
    Ok(out)
}

/// An element-wise merge layer (see the type aliases [`Add`], [`Multiply`], …).
pub struct Merge {
    base: LayerBase,
    op: MergeOp,
}

macro_rules! merge_layers {
    ($($(#[$m:meta])* $name:ident),*) => {$(
        $(#[$m])*
        pub struct $name;
        impl $name {
            /// A new layer.
            #[allow(clippy::new_ret_no_self)]
            pub fn new() -> Merge {
                Merge { base: LayerBase::new(MergeOp::$name.class()), op: MergeOp::$name }
            }
        }
    )*};
}

merge_layers! {
    /// `keras.layers.Add`: the sum of its inputs (broadcasting).
    Add,
    /// `keras.layers.Subtract`: `inputs[0] - inputs[1]` (exactly two inputs).
    Subtract,
    /// `keras.layers.Multiply`: the element-wise product of its inputs.
    Multiply,
    /// `keras.layers.Average`: the element-wise mean of its inputs.
    Average,
    /// `keras.layers.Maximum`: the element-wise maximum of its inputs.
    Maximum,
    /// `keras.layers.Minimum`: the element-wise minimum of its inputs.
    Minimum
}

impl Merge {
    fn who(&self) -> String {
        format!("{} ({})", self.base.name(), self.op.class())
    }

    fn check_count(&self, n: usize) -> Result<()> {
        if self.op == MergeOp::Subtract && n != 2 {
            return Err(arg_err(
                &self.who(),
                format!("a `Subtract` layer should be called on exactly 2 inputs, got {n}"),
            ));
        }
        if n < 1 {
            return Err(arg_err(
                &self.who(),
                "a merge layer should be called on a list of at least 1 input",
            ));
        }
        Ok(())
    }
}

impl Layer for Merge {
    fn base(&self) -> &LayerBase {
        &self.base
    }
    fn base_mut(&mut self) -> &mut LayerBase {
        &mut self.base
    }
    fn class_name(&self) -> &'static str {
        self.op.class()
    }

    fn build_multi(&mut self, shapes: &[PartialShape]) -> Result<()> {
        self.check_count(shapes.len())?;
        let who = self.who();
        let mut out: PartialShape = shapes[0].iter().skip(1).copied().collect();
        for s in &shapes[1..] {
            let rest: PartialShape = s.iter().skip(1).copied().collect();
            out = broadcast_shapes(&who, &out, &rest)?;
        }
        Ok(())
    }

    fn build(&mut self, _shape: &[Option<usize>]) -> Result<()> {
        Err(arg_err(
            &self.who(),
            "a merge layer should be called on a list of inputs",
        ))
    }

    fn call(&self, _x: &Tensor, _training: bool) -> Result<Tensor> {
        Err(arg_err(
            &self.who(),
            "a merge layer should be called on a list of inputs",
        ))
    }

    fn call_multi(&self, xs: &[Tensor], _training: bool) -> Result<Vec<Tensor>> {
        self.check_count(xs.len())?;
        let who = self.who();
        let wrap = |e: crate::Error| shape_err(&who, e.to_string());
        let mut acc = xs[0].clone();
        for x in &xs[1..] {
            acc = match self.op {
                MergeOp::Add | MergeOp::Average => ops::add(&acc, x),
                MergeOp::Subtract => ops::subtract(&acc, x),
                MergeOp::Multiply => ops::multiply(&acc, x),
                MergeOp::Maximum => ops::maximum(&acc, x),
                MergeOp::Minimum => ops::minimum(&acc, x),
            }
            .map_err(wrap)?;
        }
        if self.op == MergeOp::Average {
            let n = ops::cast(&Tensor::scalar(xs.len() as f32)?, acc.dtype())?;
            acc = ops::divide(&acc, &n).map_err(wrap)?;
        }
        Ok(vec![acc])
    }

    fn get_config(&self) -> serde_json::Value {
        config_with(self, json!({}))
    }
}

// ------------------------------------------------------------------ Concatenate

/// `keras.layers.Concatenate(axis=-1)`: joins its inputs along `axis`; all other
/// dimensions must match.
pub struct Concatenate {
    base: LayerBase,
    axis: i64,
}

impl Default for Concatenate {
    fn default() -> Self {
        Concatenate::new()
    }
}

impl Concatenate {
    /// Concatenation along the last axis.
    pub fn new() -> Concatenate {
        Concatenate {
            base: LayerBase::new("Concatenate"),
            axis: -1,
        }
    }
    /// The axis to join on (default -1).
    pub fn axis(mut self, axis: i64) -> Self {
        self.axis = axis;
        self
    }

    fn who(&self) -> String {
        format!("{} (Concatenate)", self.base.name())
    }
}

impl Layer for Concatenate {
    base_impl!("Concatenate");

    fn build_multi(&mut self, shapes: &[PartialShape]) -> Result<()> {
        let who = self.who();
        if shapes.is_empty() {
            return Err(arg_err(
                &who,
                "a `Concatenate` layer should be called on a list of at least 1 input",
            ));
        }
        let rank = shapes[0].len();
        let ax = if self.axis < 0 {
            self.axis + rank as i64
        } else {
            self.axis
        };
        if ax < 0 || ax as usize >= rank {
            return Err(arg_err(
                &who,
                format!(
                    "axis {} is out of range for inputs of rank {rank}",
                    self.axis
                ),
            ));
        }
        for s in shapes {
            let ok = s.len() == rank
                && s.iter()
                    .zip(&shapes[0])
                    .enumerate()
                    .all(|(i, (a, b))| i == ax as usize || a.is_none() || b.is_none() || a == b);
            if !ok {
                let all: Vec<String> = shapes.iter().map(|s| fmt_shape(s)).collect();
                return Err(shape_err(
                    &who,
                    format!(
                        "a `Concatenate` layer requires inputs with matching shapes except for the concatenation axis {}. Received: input_shape=[{}]",
                        self.axis,
                        all.join(", ")
                    ),
                ));
            }
        }
        Ok(())
    }

    fn build(&mut self, shape: &[Option<usize>]) -> Result<()> {
        self.build_multi(&[shape.to_vec()])
    }

    fn call(&self, x: &Tensor, _training: bool) -> Result<Tensor> {
        Ok(x.clone())
    }

    fn call_multi(&self, xs: &[Tensor], _training: bool) -> Result<Vec<Tensor>> {
        let who = self.who();
        Ok(vec![
            ops::concatenate(xs, self.axis).map_err(|e| shape_err(&who, e.to_string()))?
        ])
    }

    fn get_config(&self) -> serde_json::Value {
        config_with(self, json!({ "axis": self.axis }))
    }
}
