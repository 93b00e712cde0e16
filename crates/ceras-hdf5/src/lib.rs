//! A small, pure-Rust HDF5 reader and writer for the subset of HDF5 that
//! Keras weight files (`model.weights.h5`, `*.weights.h5`, sharded weights
//! and Keras 2 legacy `.h5` model files) use.
//!
//! The whole file is decoded into an in-memory tree ([`Group`] / [`Dataset`])
//! with [`read`], and a tree is serialised with [`write`].
//!
//! # Reading
//!
//! Supported: superblock versions 0–3, object headers v1 and v2 (`OHDR`,
//! checksums verified) with continuation blocks, symbol-table groups
//! (v1 B-tree + local heap + `SNOD`), "new style" groups with compact link
//! messages and dense link storage (fractal heap + v2 B-tree name index),
//! compact/dense attribute storage, contiguous, compact and chunked
//! datasets (v1 B-tree index, and the v4 layout's single-chunk, implicit
//! and fixed-array indexes) with the deflate, shuffle and fletcher32
//! filters, fixed-point / IEEE float (either byte order, converted to
//! little-endian) / opaque / fixed-length string datatypes, and attributes
//! holding numbers, fixed-length strings or variable-length strings (global
//! heap).
//!
//! Refused with [`Error::Unsupported`]: soft, external and user-defined
//! links, external raw-data storage, virtual datasets, extensible-array and
//! v2-B-tree chunk indexes, datasets of compound / enum / array / reference /
//! variable-length types, shared (committed) datatypes in datasets, huge
//! fractal-heap objects, and other filters (szip, lzf, ...). Attributes whose
//! type cannot be represented by [`Attr`] (compound, enum, references, null
//! dataspace, ...) are skipped.
//!
//! The reader is hardened against corrupt or hostile input: it never panics,
//! every size and count is checked against the file before anything is
//! allocated, decompression is capped to the declared chunk size, the total
//! number of bytes materialised (including decoded chunks) is bounded by
//! `2200 × file size + 1 MiB`
//! (the deflate expansion limit), recursion depth, number of objects and
//! B-tree/heap node visits are bounded, and cycles are detected.
//!
//! # Writing
//!
//! [`write`] produces what h5py writes by default (`libver="earliest"`):
//! superblock v0, v1 object headers, symbol-table groups (multi-level
//! B-trees, any number of members), contiguous datasets, variable-length
//! UTF-8 string attributes in a global heap (as h5py writes Keras's `name`
//! attributes), fixed-length string array attributes and numeric attributes.
//!
//! # Fuzzing
//!
//! A cargo-fuzz target lives in `crates/ceras-hdf5/fuzz` (its own workspace):
//!
//! ```text
//! cd crates/ceras-hdf5/fuzz && cargo +nightly fuzz run read
//! ```

#![forbid(unsafe_code)]

mod reader;
mod writer;

/// Element type of a [`Dataset`].
///
/// Data of every type is stored little-endian in [`Dataset::data`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Dtype {
    /// IEEE 754 half precision (numpy `<f2`).
    F16,
    /// IEEE 754 single precision (numpy `<f4`).
    F32,
    /// IEEE 754 double precision (numpy `<f8`).
    F64,
    /// Signed 8-bit integer.
    I8,
    /// Signed 16-bit integer.
    I16,
    /// Signed 32-bit integer.
    I32,
    /// Signed 64-bit integer.
    I64,
    /// Unsigned 8-bit integer.
    U8,
    /// Unsigned 16-bit integer.
    U16,
    /// Unsigned 32-bit integer.
    U32,
    /// Unsigned 64-bit integer.
    U64,
    /// fixed-length byte string of n bytes (numpy |S n)
    FixedString(usize),
    /// HDF5 OPAQUE of n bytes (numpy |V n; Keras stores bfloat16 as Opaque(2))
    Opaque(usize),
}

impl Dtype {
    /// Size of one element in bytes.
    pub fn size(&self) -> usize {
        match self {
            Dtype::I8 | Dtype::U8 => 1,
            Dtype::F16 | Dtype::I16 | Dtype::U16 => 2,
            Dtype::F32 | Dtype::I32 | Dtype::U32 => 4,
            Dtype::F64 | Dtype::I64 | Dtype::U64 => 8,
            Dtype::FixedString(n) | Dtype::Opaque(n) => *n,
        }
    }
}

/// Value of an HDF5 attribute.
#[derive(Debug, Clone, PartialEq)]
pub enum Attr {
    /// A scalar string (variable-length or fixed-length in the file).
    /// Written as a variable-length UTF-8 scalar string, like h5py does.
    Str(String),
    /// An array of strings (any rank, flattened in C order). Written as a
    /// 1-D fixed-length string array (numpy `|S n`).
    StrList(Vec<String>),
    /// Any floating-point attribute, flattened; a scalar has length 1.
    F64(Vec<f64>),
    /// Any integer attribute, flattened; a scalar has length 1.
    I64(Vec<i64>),
}

/// An HDF5 dataset, fully loaded into memory.
#[derive(Debug, Clone, PartialEq)]
pub struct Dataset {
    /// Element type.
    pub dtype: Dtype,
    /// Dimensions; empty means a scalar (one element).
    pub shape: Vec<usize>,
    /// Raw elements, little-endian, C order;
    /// `data.len() == shape.iter().product() * dtype.size()`.
    pub data: Vec<u8>,
    /// Attributes in file order.
    pub attrs: Vec<(String, Attr)>,
}

impl Dataset {
    /// Number of elements (`1` for a scalar).
    pub fn num_elements(&self) -> usize {
        self.shape.iter().product()
    }
}

/// A member of a group.
#[derive(Debug, Clone, PartialEq)]
pub enum Node {
    /// A sub-group.
    Group(Group),
    /// A dataset.
    Dataset(Dataset),
}

/// An HDF5 group: attributes and named members, in file order.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Group {
    /// Attributes in file order.
    pub attrs: Vec<(String, Attr)>,
    /// Members (sub-groups and datasets) in file order.
    pub members: Vec<(String, Node)>,
}

fn split_path(path: &str) -> impl Iterator<Item = &str> {
    path.split('/').filter(|s| !s.is_empty() && *s != ".")
}

impl Group {
    /// Looks up a member by path (`"a/b/c"` or `"/a/b/c"`); `""` or `"/"`
    /// is not a member and returns `None`.
    pub fn get(&self, path: &str) -> Option<&Node> {
        let mut parts = split_path(path).peekable();
        let mut g = self;
        let mut node = None;
        while let Some(p) = parts.next() {
            let n = g.members.iter().find(|(k, _)| k == p).map(|(_, v)| v)?;
            if parts.peek().is_some() {
                match n {
                    Node::Group(sub) => g = sub,
                    Node::Dataset(_) => return None,
                }
            }
            node = Some(n);
        }
        node
    }

    /// Looks up a group by path; `""` or `"/"` returns `self`.
    pub fn group(&self, path: &str) -> Option<&Group> {
        if split_path(path).next().is_none() {
            return Some(self);
        }
        match self.get(path)? {
            Node::Group(g) => Some(g),
            Node::Dataset(_) => None,
        }
    }

    /// Looks up a dataset by path.
    pub fn dataset(&self, path: &str) -> Option<&Dataset> {
        match self.get(path)? {
            Node::Dataset(d) => Some(d),
            Node::Group(_) => None,
        }
    }

    /// Returns the attribute `name` of this group.
    pub fn attr(&self, name: &str) -> Option<&Attr> {
        self.attrs.iter().find(|(k, _)| k == name).map(|(_, v)| v)
    }

    /// Returns the group at `path`, creating it and any missing intermediate
    /// groups. Fails if a path component names an existing dataset.
    pub fn group_mut_or_create(&mut self, path: &str) -> Result<&mut Group, Error> {
        let mut g = self;
        for p in split_path(path) {
            let idx = match g.members.iter().position(|(k, _)| k == p) {
                Some(i) => i,
                None => {
                    g.members
                        .push((p.to_string(), Node::Group(Group::default())));
                    g.members.len() - 1
                }
            };
            g = match g.members.get_mut(idx) {
                Some((_, Node::Group(sub))) => sub,
                _ => {
                    return Err(Error::Invalid(format!(
                        "HDF5: cannot create group '{path}': '{p}' is a dataset"
                    )))
                }
            };
        }
        Ok(g)
    }

    /// Inserts (or replaces) the dataset `name`, which may be a path; missing
    /// intermediate groups are created. Fails if the data length does not
    /// match shape × element size, or if `name` is an existing group.
    pub fn insert_dataset(&mut self, name: &str, d: Dataset) -> Result<(), Error> {
        let expected = d
            .shape
            .iter()
            .try_fold(d.dtype.size(), |a, &b| a.checked_mul(b));
        if expected != Some(d.data.len()) {
            return Err(Error::Invalid(format!(
                "HDF5: dataset '{name}': data has {} bytes but shape {:?} of {:?} needs {}",
                d.data.len(),
                d.shape,
                d.dtype,
                expected.map_or_else(|| "an overflowing size".to_string(), |e| e.to_string())
            )));
        }
        let trimmed = name.trim_end_matches('/');
        let (parent, leaf) = match trimmed.rfind('/') {
            Some(i) => (&trimmed[..i], &trimmed[i + 1..]),
            None => ("", trimmed),
        };
        if leaf.is_empty() || leaf == "." {
            return Err(Error::Invalid(format!(
                "HDF5: invalid dataset name '{name}'"
            )));
        }
        let g = self.group_mut_or_create(parent)?;
        match g.members.iter_mut().find(|(k, _)| k == leaf) {
            Some((_, Node::Group(_))) => Err(Error::Invalid(format!(
                "HDF5: cannot insert dataset '{name}': a group of that name exists"
            ))),
            Some((_, slot)) => {
                *slot = Node::Dataset(d);
                Ok(())
            }
            None => {
                g.members.push((leaf.to_string(), Node::Dataset(d)));
                Ok(())
            }
        }
    }

    /// Sets (or replaces) the attribute `name`.
    pub fn set_attr(&mut self, name: &str, a: Attr) {
        set_attr_in(&mut self.attrs, name, a);
    }
}

impl Dataset {
    /// Returns the attribute `name` of this dataset.
    pub fn attr(&self, name: &str) -> Option<&Attr> {
        self.attrs.iter().find(|(k, _)| k == name).map(|(_, v)| v)
    }

    /// Sets (or replaces) the attribute `name`.
    pub fn set_attr(&mut self, name: &str, a: Attr) {
        set_attr_in(&mut self.attrs, name, a);
    }
}

fn set_attr_in(attrs: &mut Vec<(String, Attr)>, name: &str, a: Attr) {
    match attrs.iter_mut().find(|(k, _)| k == name) {
        Some((_, v)) => *v = a,
        None => attrs.push((name.to_string(), a)),
    }
}

/// Errors from reading or writing HDF5. Messages name the object path and,
/// where it helps, the file offset of the problem.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// The bytes are not an HDF5 file (no superblock signature).
    #[error("HDF5: not an HDF5 file: {0}")]
    NotHdf5(String),
    /// The file is truncated or inconsistent.
    #[error("{0}")]
    Corrupt(String),
    /// A valid HDF5 feature outside the supported subset.
    #[error("{0}")]
    Unsupported(String),
    /// The tree given to [`write`] (or a tree-editing call) is invalid.
    #[error("{0}")]
    Invalid(String),
}

/// Reads a whole HDF5 file into a tree rooted at the root group.
///
/// ```
/// let mut root = ceras_hdf5::Group::default();
/// root.set_attr("name", ceras_hdf5::Attr::Str("mlp".into()));
/// let bytes = ceras_hdf5::write(&root).unwrap();
/// let back = ceras_hdf5::read(&bytes).unwrap();
/// assert_eq!(back.attr("name"), Some(&ceras_hdf5::Attr::Str("mlp".into())));
/// ```
pub fn read(bytes: &[u8]) -> Result<Group, Error> {
    reader::read_file(bytes)
}

/// Serialises a tree into the bytes of an HDF5 file (superblock v0, the
/// layout h5py writes by default), readable by h5py/libhdf5 and [`read`].
///
/// Member names must be non-empty and contain neither `/` nor NUL; strings
/// must not contain NUL.
///
/// ```
/// use ceras_hdf5::{Attr, Dataset, Dtype, Group};
/// let mut root = Group::default();
/// let vars = root.group_mut_or_create("layers/dense/vars").unwrap();
/// vars.set_attr("name", Attr::Str("dense".into()));
/// let kernel = Dataset {
///     dtype: Dtype::F32,
///     shape: vec![2],
///     data: [1.0f32, 2.0].iter().flat_map(|v| v.to_le_bytes()).collect(),
///     attrs: vec![],
/// };
/// vars.insert_dataset("0", kernel.clone()).unwrap();
/// let bytes = ceras_hdf5::write(&root).unwrap();
/// let back = ceras_hdf5::read(&bytes).unwrap();
/// assert_eq!(back.dataset("/layers/dense/vars/0"), Some(&kernel));
/// ```
pub fn write(root: &Group) -> Result<Vec<u8>, Error> {
    writer::write_file(root)
}
