//! Model inputs and targets: [`Data`] (a tensor, a list or a named map of
//! tensors, like the nested structures Keras accepts), [`IntoData`] (tensors,
//! `ndarray` arrays and `Vec`s), and the [`Dataset`] trait (Keras's `PyDataset`:
//! any source of batches).

use crate::error::{arg_err, shape_err};
use crate::{ops, Element, Result, Tensor};
use std::collections::BTreeMap;

/// A model's inputs, outputs or targets: one tensor, a list, or tensors by name.
///
/// ```
/// use ceras::models::{Data, IntoData};
/// let a = ceras::ops::zeros(&[4, 2], None).unwrap();
/// let d = vec![a.clone(), a].into_data().unwrap();
/// assert_eq!(d.len(), 2);
/// assert_eq!(d.num_samples("model", "x").unwrap(), 4);
/// ```
#[derive(Debug, Clone)]
pub enum Data {
    /// A single tensor.
    Tensor(Tensor),
    /// Tensors in order (one per model input or output).
    List(Vec<Tensor>),
    /// Tensors by name (input or output names), in the given order.
    Dict(Vec<(String, Tensor)>),
}

impl Data {
    /// The tensors, in order.
    pub fn tensors(&self) -> Vec<&Tensor> {
        match self {
            Data::Tensor(t) => vec![t],
            Data::List(v) => v.iter().collect(),
            Data::Dict(v) => v.iter().map(|(_, t)| t).collect(),
        }
    }

    /// Number of tensors.
    pub fn len(&self) -> usize {
        match self {
            Data::Tensor(_) => 1,
            Data::List(v) => v.len(),
            Data::Dict(v) => v.len(),
        }
    }

    /// True when there is no tensor.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The tensor named `name` (for `Dict`).
    pub fn get(&self, name: &str) -> Option<&Tensor> {
        match self {
            Data::Dict(v) => v.iter().find(|(k, _)| k == name).map(|(_, t)| t),
            _ => None,
        }
    }

    /// The single tensor; an error naming `who` when there are several.
    pub fn single(&self, who: &str) -> Result<&Tensor> {
        match self {
            Data::Tensor(t) => Ok(t),
            Data::List(v) if v.len() == 1 => Ok(&v[0]),
            Data::Dict(v) if v.len() == 1 => Ok(&v[0].1),
            _ => Err(arg_err(
                who,
                format!(
                    "expected a single tensor, got {} tensors (use the `_data` / `_outputs` variants for several inputs or outputs)",
                    self.len()
                ),
            )),
        }
    }

    /// Number of samples (the shared first dimension); `what` names the data in errors.
    pub fn num_samples(&self, who: &str, what: &str) -> Result<usize> {
        let mut n = None;
        for t in self.tensors() {
            let Some(&d) = t.shape().first() else {
                return Err(shape_err(
                    who,
                    format!("{what} must have a batch dimension, got a scalar"),
                ));
            };
            match n {
                None => n = Some(d),
                Some(m) if m != d => {
                    let shapes: Vec<_> =
                        self.tensors().iter().map(|t| t.shape().to_vec()).collect();
                    return Err(shape_err(
                        who,
                        format!(
                            "all arrays in {what} must have the same number of samples (first dimension), got shapes {shapes:?}"
                        ),
                    ));
                }
                _ => {}
            }
        }
        n.ok_or_else(|| arg_err(who, format!("{what} holds no tensor")))
    }

    /// Applies `f` to every tensor, keeping the structure.
    pub fn map(&self, mut f: impl FnMut(&Tensor) -> Result<Tensor>) -> Result<Data> {
        Ok(match self {
            Data::Tensor(t) => Data::Tensor(f(t)?),
            Data::List(v) => Data::List(v.iter().map(&mut f).collect::<Result<_>>()?),
            Data::Dict(v) => Data::Dict(
                v.iter()
                    .map(|(k, t)| Ok((k.clone(), f(t)?)))
                    .collect::<Result<_>>()?,
            ),
        })
    }

    /// The samples at `idx` (along the first dimension) of every tensor.
    pub fn take_rows(&self, idx: &[i32]) -> Result<Data> {
        let t = Tensor::from_vec(idx.to_vec(), [idx.len()])?;
        self.map(|x| ops::take(x, &t, Some(0)))
    }

    /// Joins batches along the first dimension (all with the same structure).
    pub fn concat(parts: &[Data]) -> Result<Data> {
        let first = parts
            .first()
            .ok_or_else(|| arg_err("Data::concat", "no batches"))?;
        let mut i = 0;
        first.map(|_| {
            let col: Vec<Tensor> = parts
                .iter()
                .map(|p| p.tensors().get(i).map(|t| (*t).clone()))
                .collect::<Option<_>>()
                .ok_or_else(|| arg_err("Data::concat", "batches differ in structure"))?;
            i += 1;
            ops::concatenate(&col, 0)
        })
    }

    /// The tensors as a list (names dropped).
    pub fn into_vec(self) -> Vec<Tensor> {
        match self {
            Data::Tensor(t) => vec![t],
            Data::List(v) => v,
            Data::Dict(v) => v.into_iter().map(|(_, t)| t).collect(),
        }
    }
}

/// What `fit`, `evaluate`, `predict` accept as inputs and targets: tensors, lists
/// and maps of tensors, `ndarray` arrays, `Vec`s of numbers (1-D) and `Vec`s of
/// rows (2-D).
pub trait IntoData {
    /// The converted data.
    fn into_data(self) -> Result<Data>;
}

impl IntoData for Data {
    fn into_data(self) -> Result<Data> {
        Ok(self)
    }
}
impl IntoData for &Data {
    fn into_data(self) -> Result<Data> {
        Ok(self.clone())
    }
}
impl IntoData for Tensor {
    fn into_data(self) -> Result<Data> {
        Ok(Data::Tensor(self))
    }
}
impl IntoData for &Tensor {
    fn into_data(self) -> Result<Data> {
        Ok(Data::Tensor(self.clone()))
    }
}
impl IntoData for Vec<Tensor> {
    fn into_data(self) -> Result<Data> {
        Ok(Data::List(self))
    }
}
impl IntoData for &[Tensor] {
    fn into_data(self) -> Result<Data> {
        Ok(Data::List(self.to_vec()))
    }
}
impl<const N: usize> IntoData for [Tensor; N] {
    fn into_data(self) -> Result<Data> {
        Ok(Data::List(self.to_vec()))
    }
}
impl<const N: usize> IntoData for [&Tensor; N] {
    fn into_data(self) -> Result<Data> {
        Ok(Data::List(self.iter().map(|t| (*t).clone()).collect()))
    }
}
impl<const N: usize> IntoData for [(&str, &Tensor); N] {
    fn into_data(self) -> Result<Data> {
        Ok(Data::Dict(
            self.iter()
                .map(|(k, t)| (k.to_string(), (*t).clone()))
                .collect(),
        ))
    }
}
impl IntoData for Vec<(String, Tensor)> {
    fn into_data(self) -> Result<Data> {
        Ok(Data::Dict(self))
    }
}
impl IntoData for BTreeMap<String, Tensor> {
    fn into_data(self) -> Result<Data> {
        Ok(Data::Dict(self.into_iter().collect()))
    }
}
impl<T: Element, D: ndarray::Dimension> IntoData for &ndarray::Array<T, D> {
    fn into_data(self) -> Result<Data> {
        Ok(Data::Tensor(Tensor::from_ndarray(self)?))
    }
}
impl<T: Element, D: ndarray::Dimension> IntoData for ndarray::Array<T, D> {
    fn into_data(self) -> Result<Data> {
        Ok(Data::Tensor(Tensor::from_ndarray(&self)?))
    }
}

macro_rules! vec_into_data {
    ($($t:ty),*) => {$(
        impl IntoData for Vec<$t> {
            /// A 1-D tensor (e.g. integer labels).
            fn into_data(self) -> Result<Data> {
                let n = self.len();
                Ok(Data::Tensor(Tensor::from_vec(self, [n])?))
            }
        }
        impl IntoData for &[$t] {
            fn into_data(self) -> Result<Data> {
                Ok(Data::Tensor(Tensor::from_vec(self.to_vec(), [self.len()])?))
            }
        }
        impl IntoData for Vec<Vec<$t>> {
            /// A 2-D tensor, one row per sample; rows must have equal length.
            fn into_data(self) -> Result<Data> {
                let rows = self.len();
                let cols = self.first().map_or(0, |r| r.len());
                if let Some((i, r)) = self.iter().enumerate().find(|(_, r)| r.len() != cols) {
                    return Err(shape_err(
                        "IntoData",
                        format!("rows must have equal length: row 0 has {cols} values, row {i} has {}", r.len()),
                    ));
                }
                let flat: Vec<$t> = self.into_iter().flatten().collect();
                Ok(Data::Tensor(Tensor::from_vec(flat, [rows, cols])?))
            }
        }
    )*};
}
vec_into_data!(f32, f64, i32, i64, u8);

/// One batch from a [`Dataset`]: inputs, optional targets and sample weights.
#[derive(Debug, Clone)]
pub struct Batch {
    /// Model inputs.
    pub x: Data,
    /// Targets (absent for `predict`).
    pub y: Option<Data>,
    /// Per-sample loss weights.
    pub sample_weight: Option<Tensor>,
}

impl Batch {
    /// A batch of inputs and targets.
    pub fn new(x: impl IntoData, y: impl IntoData) -> Result<Batch> {
        Ok(Batch {
            x: x.into_data()?,
            y: Some(y.into_data()?),
            sample_weight: None,
        })
    }
}

/// Keras's `PyDataset`: a source of batches for `fit` / `evaluate` / `predict`
/// (`Model::fit_dataset`, …). Implement `get_batch` (Keras's `__getitem__`) and
/// `num_batches` (`__len__`).
///
/// ```
/// use ceras::models::{Batch, Dataset};
/// use ceras::Result;
/// struct Ones;
/// impl Dataset for Ones {
///     fn num_batches(&self) -> Option<usize> { Some(3) }
///     fn get_batch(&mut self, _i: usize) -> Result<Batch> {
///         Batch::new(ceras::ops::ones(&[8, 2], None)?, ceras::ops::ones(&[8, 1], None)?)
///     }
/// }
/// ```
pub trait Dataset: Send {
    /// Batches per epoch; `None` for an endless or unknown-length source (then
    /// `steps_per_epoch` must be given).
    fn num_batches(&self) -> Option<usize>;
    /// Batch number `index` of the epoch.
    fn get_batch(&mut self, index: usize) -> Result<Batch>;
    /// Called at the end of every epoch (e.g. to reshuffle).
    fn on_epoch_end(&mut self) {}
}

/// A borrowed dataset works too, so its state can be read after `fit`.
impl<D: Dataset + ?Sized> Dataset for &mut D {
    fn num_batches(&self) -> Option<usize> {
        (**self).num_batches()
    }
    fn get_batch(&mut self, index: usize) -> Result<Batch> {
        (**self).get_batch(index)
    }
    fn on_epoch_end(&mut self) {
        (**self).on_epoch_end()
    }
}

/// A [`Dataset`] over any iterator of batches (read in order; `index` is ignored).
pub struct IterDataset<I> {
    iter: I,
    len: Option<usize>,
}

impl<I: Iterator<Item = Result<Batch>> + Send> IterDataset<I> {
    /// Wraps an iterator; `len` is the number of batches per epoch if known.
    pub fn new(iter: I, len: Option<usize>) -> Self {
        IterDataset { iter, len }
    }
}

impl<I: Iterator<Item = Result<Batch>> + Send> Dataset for IterDataset<I> {
    fn num_batches(&self) -> Option<usize> {
        self.len
    }
    fn get_batch(&mut self, index: usize) -> Result<Batch> {
        self.iter.next().unwrap_or_else(|| {
            Err(arg_err(
                "IterDataset",
                format!("the iterator ran out of batches at batch {index}"),
            ))
        })
    }
}

/// In-memory arrays served in batches, shuffled each epoch when asked.
pub(crate) struct ArrayDataset {
    pub x: Data,
    pub y: Option<Data>,
    pub sample_weight: Option<Tensor>,
    pub batch_size: usize,
    pub shuffle: bool,
    order: Vec<i32>,
    n: usize,
}

impl ArrayDataset {
    pub fn new(
        who: &str,
        x: Data,
        y: Option<Data>,
        sample_weight: Option<Tensor>,
        batch_size: usize,
        shuffle: bool,
    ) -> Result<ArrayDataset> {
        let n = x.num_samples(who, "x")?;
        if let Some(y) = &y {
            let m = y.num_samples(who, "y")?;
            if m != n {
                return Err(shape_err(
                    who,
                    format!("x and y must have the same number of samples (first dimension), got {n} and {m}"),
                ));
            }
        }
        if let Some(w) = &sample_weight {
            if w.shape().first() != Some(&n) {
                return Err(shape_err(
                    who,
                    format!(
                        "sample_weight must have one value per sample ({n}), got shape {:?}",
                        w.shape()
                    ),
                ));
            }
        }
        let mut d = ArrayDataset {
            x,
            y,
            sample_weight,
            batch_size: batch_size.max(1),
            shuffle,
            order: (0..n as i32).collect(),
            n,
        };
        d.reshuffle()?;
        Ok(d)
    }

    fn reshuffle(&mut self) -> Result<()> {
        if self.shuffle && self.n > 1 {
            let idx = Tensor::from_vec((0..self.n as i32).collect::<Vec<_>>(), [self.n])?;
            self.order =
                crate::random::shuffle(&idx, 0, crate::random::Seed::Global)?.to_vec::<i32>()?;
        }
        Ok(())
    }
}

impl Dataset for ArrayDataset {
    fn num_batches(&self) -> Option<usize> {
        Some(self.n.div_ceil(self.batch_size))
    }
    fn get_batch(&mut self, index: usize) -> Result<Batch> {
        let lo = (index * self.batch_size).min(self.n);
        let hi = ((index + 1) * self.batch_size).min(self.n);
        let idx = &self.order[lo..hi];
        Ok(Batch {
            x: self.x.take_rows(idx)?,
            y: self.y.as_ref().map(|y| y.take_rows(idx)).transpose()?,
            sample_weight: self
                .sample_weight
                .as_ref()
                .map(|w| ops::take(w, &Tensor::from_vec(idx.to_vec(), [idx.len()])?, Some(0)))
                .transpose()?,
        })
    }
    fn on_epoch_end(&mut self) {
        // A shuffle failure leaves the previous order, which is still a valid epoch.
        let _ = self.reshuffle();
    }
}
