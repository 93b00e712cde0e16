//! Host-side element storage: one `Vec` per dtype.
//!
//! [`HostData`] is how data enters and leaves a backend. The cpu backend uses it
//! directly as its buffer type, so moving data in and out is free there.

use crate::dtype::DType;
use crate::error::{arg_err, Result};
use half::{bf16, f16};

/// A typed, contiguous, row-major vector of elements.
#[derive(Clone, Debug, PartialEq)]
#[allow(missing_docs)]
pub enum HostData {
    Bool(Vec<bool>),
    I8(Vec<i8>),
    I16(Vec<i16>),
    I32(Vec<i32>),
    I64(Vec<i64>),
    U8(Vec<u8>),
    U16(Vec<u16>),
    U32(Vec<u32>),
    U64(Vec<u64>),
    F16(Vec<f16>),
    BF16(Vec<bf16>),
    F32(Vec<f32>),
    F64(Vec<f64>),
}

/// Runs `$body` with `$v` bound to the inner `Vec` of a [`HostData`], whatever its dtype.
#[macro_export]
macro_rules! with_host_data {
    ($data:expr, $v:ident => $body:expr) => {
        match $data {
            $crate::storage::HostData::Bool($v) => $body,
            $crate::storage::HostData::I8($v) => $body,
            $crate::storage::HostData::I16($v) => $body,
            $crate::storage::HostData::I32($v) => $body,
            $crate::storage::HostData::I64($v) => $body,
            $crate::storage::HostData::U8($v) => $body,
            $crate::storage::HostData::U16($v) => $body,
            $crate::storage::HostData::U32($v) => $body,
            $crate::storage::HostData::U64($v) => $body,
            $crate::storage::HostData::F16($v) => $body,
            $crate::storage::HostData::BF16($v) => $body,
            $crate::storage::HostData::F32($v) => $body,
            $crate::storage::HostData::F64($v) => $body,
        }
    };
}

/// Runs `$body` with the type alias `$T` bound to the Rust element type of `$dtype`.
#[macro_export]
macro_rules! dispatch_dtype {
    ($dtype:expr, $T:ident => $body:expr) => {
        match $dtype {
            $crate::DType::Bool => {
                type $T = bool;
                $body
            }
            $crate::DType::I8 => {
                type $T = i8;
                $body
            }
            $crate::DType::I16 => {
                type $T = i16;
                $body
            }
            $crate::DType::I32 => {
                type $T = i32;
                $body
            }
            $crate::DType::I64 => {
                type $T = i64;
                $body
            }
            $crate::DType::U8 => {
                type $T = u8;
                $body
            }
            $crate::DType::U16 => {
                type $T = u16;
                $body
            }
            $crate::DType::U32 => {
                type $T = u32;
                $body
            }
            $crate::DType::U64 => {
                type $T = u64;
                $body
            }
            $crate::DType::F16 => {
                type $T = $crate::half::f16;
                $body
            }
            $crate::DType::BF16 => {
                type $T = $crate::half::bf16;
                $body
            }
            $crate::DType::F32 => {
                type $T = f32;
                $body
            }
            $crate::DType::F64 => {
                type $T = f64;
                $body
            }
        }
    };
}

/// A Rust element type that maps to a ceras [`DType`].
pub trait Element: Copy + Send + Sync + std::fmt::Debug + PartialOrd + Default + 'static {
    /// The dtype of this element type.
    const DTYPE: DType;
    /// Lossy conversion to f64 (bool → 0/1).
    fn to_f64(self) -> f64;
    /// Conversion from f64 with Rust `as` semantics (saturating for ints, NaN → 0).
    fn from_f64(v: f64) -> Self;
    /// Conversion to i64 with Rust `as` semantics (exact for all ints except large u64).
    fn to_i64(self) -> i64;
    /// Conversion from i64 with wrap-around for narrower ints.
    fn from_i64(v: i64) -> Self;
    /// Wraps a vector into [`HostData`].
    fn wrap(v: Vec<Self>) -> HostData;
    /// Borrows the elements if `d` has this dtype.
    fn slice(d: &HostData) -> Option<&[Self]>;
    /// Takes the vector if `d` has this dtype.
    fn unwrap(d: HostData) -> Option<Vec<Self>>;
    /// Writes the little-endian bytes of `self`.
    fn write_le(self, out: &mut Vec<u8>);
    /// Reads one element from little-endian bytes (`b.len() == size_of`).
    fn read_le(b: &[u8]) -> Self;
}

macro_rules! impl_element_num {
    ($t:ty, $variant:ident, $dt:expr, $n:expr) => {
        impl Element for $t {
            const DTYPE: DType = $dt;
            #[inline]
            fn to_f64(self) -> f64 {
                self as f64
            }
            #[inline]
            fn from_f64(v: f64) -> Self {
                v as $t
            }
            #[inline]
            fn to_i64(self) -> i64 {
                self as i64
            }
            #[inline]
            fn from_i64(v: i64) -> Self {
                v as $t
            }
            fn wrap(v: Vec<Self>) -> HostData {
                HostData::$variant(v)
            }
            fn slice(d: &HostData) -> Option<&[Self]> {
                match d {
                    HostData::$variant(v) => Some(v),
                    _ => None,
                }
            }
            fn unwrap(d: HostData) -> Option<Vec<Self>> {
                match d {
                    HostData::$variant(v) => Some(v),
                    _ => None,
                }
            }
            fn write_le(self, out: &mut Vec<u8>) {
                out.extend_from_slice(&self.to_le_bytes());
            }
            fn read_le(b: &[u8]) -> Self {
                let mut a = [0u8; $n];
                a.copy_from_slice(&b[..$n]);
                <$t>::from_le_bytes(a)
            }
        }
    };
}
impl_element_num!(i8, I8, DType::I8, 1);
impl_element_num!(i16, I16, DType::I16, 2);
impl_element_num!(i32, I32, DType::I32, 4);
impl_element_num!(i64, I64, DType::I64, 8);
impl_element_num!(u8, U8, DType::U8, 1);
impl_element_num!(u16, U16, DType::U16, 2);
impl_element_num!(u32, U32, DType::U32, 4);
impl_element_num!(u64, U64, DType::U64, 8);
impl_element_num!(f32, F32, DType::F32, 4);
impl_element_num!(f64, F64, DType::F64, 8);

macro_rules! impl_element_half {
    ($t:ty, $variant:ident, $dt:expr) => {
        impl Element for $t {
            const DTYPE: DType = $dt;
            #[inline]
            fn to_f64(self) -> f64 {
                self.to_f64()
            }
            #[inline]
            fn from_f64(v: f64) -> Self {
                <$t>::from_f64(v)
            }
            #[inline]
            fn to_i64(self) -> i64 {
                self.to_f64() as i64
            }
            #[inline]
            fn from_i64(v: i64) -> Self {
                <$t>::from_f64(v as f64)
            }
            fn wrap(v: Vec<Self>) -> HostData {
                HostData::$variant(v)
            }
            fn slice(d: &HostData) -> Option<&[Self]> {
                match d {
                    HostData::$variant(v) => Some(v),
                    _ => None,
                }
            }
            fn unwrap(d: HostData) -> Option<Vec<Self>> {
                match d {
                    HostData::$variant(v) => Some(v),
                    _ => None,
                }
            }
            fn write_le(self, out: &mut Vec<u8>) {
                out.extend_from_slice(&self.to_bits().to_le_bytes());
            }
            fn read_le(b: &[u8]) -> Self {
                <$t>::from_bits(u16::from_le_bytes([b[0], b[1]]))
            }
        }
    };
}
impl_element_half!(f16, F16, DType::F16);
impl_element_half!(bf16, BF16, DType::BF16);

impl Element for bool {
    const DTYPE: DType = DType::Bool;
    fn to_f64(self) -> f64 {
        self as u8 as f64
    }
    fn from_f64(v: f64) -> Self {
        v != 0.0
    }
    fn to_i64(self) -> i64 {
        self as i64
    }
    fn from_i64(v: i64) -> Self {
        v != 0
    }
    fn wrap(v: Vec<Self>) -> HostData {
        HostData::Bool(v)
    }
    fn slice(d: &HostData) -> Option<&[Self]> {
        match d {
            HostData::Bool(v) => Some(v),
            _ => None,
        }
    }
    fn unwrap(d: HostData) -> Option<Vec<Self>> {
        match d {
            HostData::Bool(v) => Some(v),
            _ => None,
        }
    }
    fn write_le(self, out: &mut Vec<u8>) {
        out.push(self as u8);
    }
    fn read_le(b: &[u8]) -> Self {
        b[0] != 0
    }
}

fn read_vec<T: Element>(bytes: &[u8]) -> Vec<T> {
    let n = std::mem::size_of::<T>().max(1);
    let n = if T::DTYPE == DType::Bool { 1 } else { n };
    bytes.chunks_exact(n).map(T::read_le).collect()
}

impl HostData {
    /// The dtype of the elements.
    pub fn dtype(&self) -> DType {
        match self {
            HostData::Bool(_) => DType::Bool,
            HostData::I8(_) => DType::I8,
            HostData::I16(_) => DType::I16,
            HostData::I32(_) => DType::I32,
            HostData::I64(_) => DType::I64,
            HostData::U8(_) => DType::U8,
            HostData::U16(_) => DType::U16,
            HostData::U32(_) => DType::U32,
            HostData::U64(_) => DType::U64,
            HostData::F16(_) => DType::F16,
            HostData::BF16(_) => DType::BF16,
            HostData::F32(_) => DType::F32,
            HostData::F64(_) => DType::F64,
        }
    }

    /// Number of elements.
    pub fn len(&self) -> usize {
        with_host_data!(self, v => v.len())
    }

    /// True when there are no elements.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Decodes little-endian bytes of `dtype` (bool as one byte per element).
    pub fn from_le_bytes(dtype: DType, bytes: &[u8]) -> Result<HostData> {
        if !bytes.len().is_multiple_of(dtype.size_of()) {
            return Err(arg_err(
                "from_bytes",
                format!(
                    "{} bytes is not a whole number of {dtype} elements ({} bytes each)",
                    bytes.len(),
                    dtype.size_of()
                ),
            ));
        }
        Ok(match dtype {
            DType::Bool => HostData::Bool(read_vec(bytes)),
            DType::I8 => HostData::I8(read_vec(bytes)),
            DType::I16 => HostData::I16(read_vec(bytes)),
            DType::I32 => HostData::I32(read_vec(bytes)),
            DType::I64 => HostData::I64(read_vec(bytes)),
            DType::U8 => HostData::U8(read_vec(bytes)),
            DType::U16 => HostData::U16(read_vec(bytes)),
            DType::U32 => HostData::U32(read_vec(bytes)),
            DType::U64 => HostData::U64(read_vec(bytes)),
            DType::F16 => HostData::F16(read_vec(bytes)),
            DType::BF16 => HostData::BF16(read_vec(bytes)),
            DType::F32 => HostData::F32(read_vec(bytes)),
            DType::F64 => HostData::F64(read_vec(bytes)),
        })
    }

    /// Encodes the elements as little-endian bytes.
    pub fn to_le_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.len() * self.dtype().size_of());
        with_host_data!(self, v => for x in v.iter() { x.write_le(&mut out) });
        out
    }

    /// All elements converted to f64 (lossy for large 64-bit integers).
    pub fn to_f64_vec(&self) -> Vec<f64> {
        with_host_data!(self, v => v.iter().map(|x| x.to_f64()).collect())
    }

    /// All elements converted to i64 (floats truncate).
    pub fn to_i64_vec(&self) -> Vec<i64> {
        with_host_data!(self, v => v.iter().map(|x| x.to_i64()).collect())
    }

    /// Builds data of `dtype` from f64 values (Rust `as` semantics).
    pub fn from_f64(dtype: DType, vals: &[f64]) -> HostData {
        fn f<T: Element>(v: &[f64]) -> HostData {
            T::wrap(v.iter().map(|x| T::from_f64(*x)).collect())
        }
        crate::dispatch_dtype!(dtype, T => f::<T>(vals))
    }

    /// Builds data of `dtype` from i64 values (wrapping for narrower ints).
    pub fn from_i64(dtype: DType, vals: &[i64]) -> HostData {
        fn f<T: Element>(v: &[i64]) -> HostData {
            T::wrap(v.iter().map(|x| T::from_i64(*x)).collect())
        }
        crate::dispatch_dtype!(dtype, T => f::<T>(vals))
    }

    /// `n` copies of the zero of `dtype`.
    pub fn zeros(dtype: DType, n: usize) -> HostData {
        fn f<T: Element>(n: usize) -> HostData {
            T::wrap(vec![T::default(); n])
        }
        crate::dispatch_dtype!(dtype, T => f::<T>(n))
    }
}
