//! Data types and Keras's type-promotion rules.
//!
//! The names are Keras's (`"float32"`, `"int8"`, `"bool"`, ...). Promotion
//! follows `keras.backend.result_type`, which is JAX's type lattice, with
//! *weak* types for Rust scalars that stand in for Python `int` / `float`.
//! Unlike Keras on JAX (which runs with `jax_enable_x64 = False`), ceras keeps
//! 64-bit types: `int64 + int64` is `int64`. Keras with the TensorFlow
//! backend behaves the same way for `int64`.

use crate::error::{Error, Result};
use std::fmt;

/// Element type of a tensor.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, PartialOrd, Ord)]
pub enum DType {
    /// `bool`
    Bool,
    /// `int8`
    I8,
    /// `int16`
    I16,
    /// `int32`
    I32,
    /// `int64`
    I64,
    /// `uint8`
    U8,
    /// `uint16`
    U16,
    /// `uint32`
    U32,
    /// `uint64`
    U64,
    /// `float16`
    F16,
    /// `bfloat16`
    BF16,
    /// `float32`
    F32,
    /// `float64`
    F64,
}

/// Every dtype, in a stable order.
pub const ALL_DTYPES: [DType; 13] = [
    DType::Bool,
    DType::I8,
    DType::I16,
    DType::I32,
    DType::I64,
    DType::U8,
    DType::U16,
    DType::U32,
    DType::U64,
    DType::F16,
    DType::BF16,
    DType::F32,
    DType::F64,
];

impl DType {
    /// Keras's name of the dtype, e.g. `"float32"`.
    pub fn name(self) -> &'static str {
        match self {
            DType::Bool => "bool",
            DType::I8 => "int8",
            DType::I16 => "int16",
            DType::I32 => "int32",
            DType::I64 => "int64",
            DType::U8 => "uint8",
            DType::U16 => "uint16",
            DType::U32 => "uint32",
            DType::U64 => "uint64",
            DType::F16 => "float16",
            DType::BF16 => "bfloat16",
            DType::F32 => "float32",
            DType::F64 => "float64",
        }
    }

    /// Parses a Keras / NumPy dtype name (`"float32"`, `"int"`, `"float"`, `"bool"`).
    ///
    /// ```
    /// use ceras_core::DType;
    /// assert_eq!(DType::parse("float32").unwrap(), DType::F32);
    /// assert!(DType::parse("float128").is_err());
    /// ```
    pub fn parse(s: &str) -> Result<DType> {
        Ok(match s {
            "bool" => DType::Bool,
            "int8" => DType::I8,
            "int16" => DType::I16,
            "int32" | "int" => DType::I32,
            "int64" => DType::I64,
            "uint8" => DType::U8,
            "uint16" => DType::U16,
            "uint32" => DType::U32,
            "uint64" => DType::U64,
            "float16" | "half" => DType::F16,
            "bfloat16" => DType::BF16,
            "float32" | "float" => DType::F32,
            "float64" | "double" => DType::F64,
            _ => {
                return Err(Error::InvalidArgument {
                    op: "dtype".into(),
                    msg: format!(
                        "unknown dtype {s:?}; expected one of bool, int8, int16, int32, int64, \
                         uint8, uint16, uint32, uint64, float16, bfloat16, float32, float64"
                    ),
                })
            }
        })
    }

    /// Size of one element in bytes.
    pub fn size_of(self) -> usize {
        match self {
            DType::Bool | DType::I8 | DType::U8 => 1,
            DType::I16 | DType::U16 | DType::F16 | DType::BF16 => 2,
            DType::I32 | DType::U32 | DType::F32 => 4,
            DType::I64 | DType::U64 | DType::F64 => 8,
        }
    }

    /// True for floating-point dtypes.
    pub fn is_float(self) -> bool {
        matches!(self, DType::F16 | DType::BF16 | DType::F32 | DType::F64)
    }
    /// True for signed or unsigned integer dtypes (not bool).
    pub fn is_int(self) -> bool {
        self.is_signed_int() || self.is_unsigned_int()
    }
    /// True for `int8` .. `int64`.
    pub fn is_signed_int(self) -> bool {
        matches!(self, DType::I8 | DType::I16 | DType::I32 | DType::I64)
    }
    /// True for `uint8` .. `uint64`.
    pub fn is_unsigned_int(self) -> bool {
        matches!(self, DType::U8 | DType::U16 | DType::U32 | DType::U64)
    }
    /// True for `bool`.
    pub fn is_bool(self) -> bool {
        self == DType::Bool
    }
    /// Number of bits of the type.
    pub fn bits(self) -> usize {
        if self == DType::Bool {
            1
        } else {
            self.size_of() * 8
        }
    }

    /// The 32-bit counterpart of a 64-bit dtype (JAX with x64 disabled), else itself.
    pub fn canonicalize_32(self) -> DType {
        match self {
            DType::I64 => DType::I32,
            DType::U64 => DType::U32,
            DType::F64 => DType::F32,
            d => d,
        }
    }
}

impl fmt::Display for DType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for DType {
    type Err = Error;
    fn from_str(s: &str) -> Result<DType> {
        DType::parse(s)
    }
}

/// A node of the promotion lattice: a concrete dtype or a weak Python-like scalar type.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
enum Node {
    D(DType),
    WeakInt,
    WeakFloat,
}

fn parents(n: Node) -> &'static [Node] {
    use DType::*;
    use Node::*;
    match n {
        D(Bool) => &[WeakInt],
        D(U8) => &[D(I16), D(U16)],
        D(U16) => &[D(I32), D(U32)],
        D(U32) => &[D(I64), D(U64)],
        D(U64) => &[WeakFloat],
        WeakInt => &[D(U8), D(I8)],
        D(I8) => &[D(I16)],
        D(I16) => &[D(I32)],
        D(I32) => &[D(I64)],
        D(I64) => &[WeakFloat],
        WeakFloat => &[D(BF16), D(F16)],
        D(BF16) => &[D(F32)],
        D(F16) => &[D(F32)],
        D(F32) => &[D(F64)],
        D(F64) => &[],
    }
}

fn upper_bounds(n: Node) -> Vec<Node> {
    let mut out = vec![n];
    let mut i = 0;
    while i < out.len() {
        for p in parents(out[i]) {
            if !out.contains(p) {
                out.push(*p);
            }
        }
        i += 1;
    }
    out
}

fn least_upper_bound(nodes: &[Node]) -> Node {
    let bounds: Vec<Vec<Node>> = nodes.iter().map(|n| upper_bounds(*n)).collect();
    let cub: Vec<Node> = bounds[0]
        .iter()
        .copied()
        .filter(|c| bounds.iter().all(|b| b.contains(c)))
        .collect();
    // The lattice is a proper lattice with F64 on top, so a unique LUB exists.
    for c in &cub {
        let ub = upper_bounds(*c);
        if cub.iter().all(|d| ub.contains(d)) {
            return *c;
        }
    }
    Node::D(DType::F64)
}

/// One argument of [`result_type`]: a tensor's dtype, or a weak scalar type.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum TypeArg {
    /// A strongly typed dtype (a tensor's).
    Strong(DType),
    /// A weakly typed value: a Rust scalar standing in for a Python scalar.
    /// The dtype is the kind of the scalar (`I32`/`I64` for integers, `F32`/`F64`
    /// for floats, `Bool` for booleans).
    Weak(DType),
}

impl From<DType> for TypeArg {
    fn from(d: DType) -> Self {
        TypeArg::Strong(d)
    }
}

/// Keras's `result_type` over dtypes and weak types, returning the dtype and
/// whether the result is still weak.
pub fn result_type_weak(args: &[TypeArg], floatx: DType) -> (DType, bool) {
    if args.is_empty() {
        return (floatx, false);
    }
    let dt = |a: &TypeArg| match a {
        TypeArg::Strong(d) | TypeArg::Weak(d) => *d,
    };
    let is_weak = |a: &TypeArg| matches!(a, TypeArg::Weak(_));
    let (out, weak) = if args.len() == 1 {
        (Node::D(dt(&args[0])), is_weak(&args[0]))
    } else if args.iter().all(|a| dt(a) == dt(&args[0])) && !args.iter().all(is_weak) {
        (Node::D(dt(&args[0])), false)
    } else if args.iter().all(is_weak) {
        let nodes: Vec<Node> = args.iter().map(|a| Node::D(dt(a))).collect();
        (least_upper_bound(&nodes), true)
    } else {
        let nodes: Vec<Node> = args
            .iter()
            .map(|a| match a {
                TypeArg::Strong(d) => Node::D(*d),
                TypeArg::Weak(d) if d.is_float() => Node::WeakFloat,
                TypeArg::Weak(d) if d.is_int() => Node::WeakInt,
                TypeArg::Weak(d) => Node::D(*d),
            })
            .collect();
        let lub = least_upper_bound(&nodes);
        let w = matches!(lub, Node::WeakInt | Node::WeakFloat);
        (lub, w)
    };
    let weak = weak
        && match out {
            Node::D(d) => d != DType::Bool,
            _ => true,
        };
    let bits = floatx.bits();
    let resolve = |kind: char| -> DType {
        match (kind, bits) {
            ('i', 16) => DType::I16,
            ('i', 64) => DType::I64,
            ('i', _) => DType::I32,
            ('u', 16) => DType::U16,
            ('u', 64) => DType::U64,
            ('u', _) => DType::U32,
            (_, 16) => DType::F16,
            (_, 64) => DType::F64,
            _ => DType::F32,
        }
    };
    let d = match out {
        Node::WeakInt => resolve('i'),
        Node::WeakFloat => resolve('f'),
        Node::D(d) if weak => {
            if d.is_float() {
                resolve('f')
            } else if d.is_signed_int() {
                resolve('i')
            } else if d.is_unsigned_int() {
                resolve('u')
            } else {
                d
            }
        }
        Node::D(d) => d,
    };
    (d, weak)
}

/// Keras's `keras.backend.result_type` for strongly typed dtypes.
///
/// ```
/// use ceras_core::{DType, dtype::result_type};
/// assert_eq!(result_type(&[DType::I32, DType::F32]), DType::F32);
/// assert_eq!(result_type(&[DType::U8, DType::I8]), DType::I16);
/// assert_eq!(result_type(&[DType::F16, DType::BF16]), DType::F32);
/// ```
pub fn result_type(dtypes: &[DType]) -> DType {
    let args: Vec<TypeArg> = dtypes.iter().map(|d| TypeArg::Strong(*d)).collect();
    result_type_weak(&args, crate::config::floatx()).0
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn lattice() {
        let f = DType::F32;
        let r = |a: &[TypeArg]| result_type_weak(a, f).0;
        use TypeArg::*;
        assert_eq!(r(&[Strong(DType::I8), Weak(DType::I64)]), DType::I8);
        assert_eq!(r(&[Strong(DType::I8), Weak(DType::F64)]), DType::F32);
        assert_eq!(r(&[Strong(DType::BF16), Weak(DType::F64)]), DType::BF16);
        assert_eq!(r(&[Strong(DType::U8), Weak(DType::I64)]), DType::U8);
        assert_eq!(r(&[Strong(DType::Bool), Weak(DType::I64)]), DType::I32);
        assert_eq!(r(&[Strong(DType::U64), Strong(DType::I64)]), DType::F32);
        assert_eq!(r(&[Strong(DType::I64), Strong(DType::F16)]), DType::F16);
        assert_eq!(r(&[Strong(DType::U32), Strong(DType::I8)]), DType::I64);
        assert_eq!(r(&[Weak(DType::I64), Weak(DType::F64)]), DType::F32);
    }
}
