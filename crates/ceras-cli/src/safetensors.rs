//! The `.safetensors` format (Hugging Face): an 8-byte little-endian header
//! length, a JSON header `{name: {dtype, shape, data_offsets}}`, then the raw
//! little-endian data. Tensors are keyed by their Keras `.weights.h5` paths
//! (`layers/dense/vars/0`), so a file converts back to `.weights.h5` exactly.

use ceras_hdf5 as h5;
use serde_json::{json, Map, Value};

/// Largest header accepted (a guard against absurd lengths).
const MAX_HEADER: u64 = 100 << 20;

fn st_dtype(d: &h5::Dataset) -> Result<&'static str, String> {
    let bf16 = d
        .attrs
        .iter()
        .any(|(k, a)| k == "dtype" && *a == h5::Attr::Str("bfloat16".into()));
    Ok(match d.dtype {
        h5::Dtype::F16 => "F16",
        h5::Dtype::F32 => "F32",
        h5::Dtype::F64 => "F64",
        h5::Dtype::I8 => "I8",
        h5::Dtype::I16 => "I16",
        h5::Dtype::I32 => "I32",
        h5::Dtype::I64 => "I64",
        h5::Dtype::U8 => "U8",
        h5::Dtype::U16 => "U16",
        h5::Dtype::U32 => "U32",
        h5::Dtype::U64 => "U64",
        h5::Dtype::Opaque(2) if bf16 => "BF16",
        other => {
            return Err(format!(
                "a dataset of type {other:?} has no safetensors dtype"
            ))
        }
    })
}

fn h5_dtype(s: &str) -> Option<(h5::Dtype, bool)> {
    Some(match s {
        "F16" => (h5::Dtype::F16, false),
        "BF16" => (h5::Dtype::Opaque(2), true),
        "F32" => (h5::Dtype::F32, false),
        "F64" => (h5::Dtype::F64, false),
        "I8" => (h5::Dtype::I8, false),
        "I16" => (h5::Dtype::I16, false),
        "I32" => (h5::Dtype::I32, false),
        "I64" => (h5::Dtype::I64, false),
        "U8" | "BOOL" => (h5::Dtype::U8, false),
        "U16" => (h5::Dtype::U16, false),
        "U32" => (h5::Dtype::U32, false),
        "U64" => (h5::Dtype::U64, false),
        _ => return None,
    })
}

/// Every dataset of the tree with its path (`layers/dense/vars/0`), in order.
pub fn collect<'a>(g: &'a h5::Group, path: &str, out: &mut Vec<(String, &'a h5::Dataset)>) {
    for (name, node) in &g.members {
        let p = if path.is_empty() {
            name.clone()
        } else {
            format!("{path}/{name}")
        };
        match node {
            h5::Node::Group(sub) => collect(sub, &p, out),
            h5::Node::Dataset(d) => out.push((p, d)),
        }
    }
}

/// The datasets of an HDF5 tree as a `.safetensors` file.
pub fn from_tree(tree: &h5::Group) -> Result<Vec<u8>, String> {
    let mut items = Vec::new();
    collect(tree, "", &mut items);
    let mut header = Map::new();
    header.insert(
        "__metadata__".into(),
        json!({"format": "keras.weights.h5", "writer": "ceras"}),
    );
    let mut offset = 0usize;
    for (name, d) in &items {
        let end = offset + d.data.len();
        header.insert(
            name.clone(),
            json!({"dtype": st_dtype(d)?, "shape": d.shape, "data_offsets": [offset, end]}),
        );
        offset = end;
    }
    let mut h = Value::Object(header).to_string().into_bytes();
    while !h.len().is_multiple_of(8) {
        h.push(b' ');
    }
    let mut out = Vec::with_capacity(8 + h.len() + offset);
    out.extend_from_slice(&(h.len() as u64).to_le_bytes());
    out.extend_from_slice(&h);
    for (_, d) in &items {
        out.extend_from_slice(&d.data);
    }
    Ok(out)
}

/// A `.safetensors` file as an HDF5 tree (keys split on `/` into groups).
/// Every length and offset is checked against the file before use.
pub fn to_tree(bytes: &[u8]) -> Result<h5::Group, String> {
    let len_bytes: [u8; 8] = bytes
        .get(..8)
        .and_then(|b| b.try_into().ok())
        .ok_or("not a safetensors file: shorter than its 8-byte header length")?;
    let n = u64::from_le_bytes(len_bytes);
    if n > MAX_HEADER || n > (bytes.len() as u64).saturating_sub(8) {
        return Err(format!(
            "the header length {n} exceeds the file ({} bytes) or the {MAX_HEADER}-byte limit",
            bytes.len()
        ));
    }
    let header_end = 8 + n as usize;
    let header: Value = serde_json::from_slice(&bytes[8..header_end])
        .map_err(|e| format!("the header is not valid JSON: {e}"))?;
    let map = header
        .as_object()
        .ok_or("the header is not a JSON object")?;
    let data = &bytes[header_end..];
    let mut tree = h5::Group::default();
    for (name, spec) in map {
        if name == "__metadata__" {
            continue;
        }
        let bad = |what: &str| format!("tensor '{name}': {what}");
        let dt = spec["dtype"].as_str().ok_or_else(|| bad("no dtype"))?;
        let (dtype, bf16) = h5_dtype(dt).ok_or_else(|| bad(&format!("unknown dtype '{dt}'")))?;
        let shape: Vec<usize> = spec["shape"]
            .as_array()
            .and_then(|a| a.iter().map(|d| d.as_u64().map(|u| u as usize)).collect())
            .ok_or_else(|| bad("shape must be a list of non-negative integers"))?;
        let offs: Vec<usize> = spec["data_offsets"]
            .as_array()
            .and_then(|a| a.iter().map(|d| d.as_u64().map(|u| u as usize)).collect())
            .filter(|v: &Vec<usize>| v.len() == 2)
            .ok_or_else(|| bad("data_offsets must be [begin, end]"))?;
        let (b, e) = (offs[0], offs[1]);
        if b > e || e > data.len() {
            return Err(bad(&format!(
                "data_offsets [{b}, {e}] fall outside the {} data bytes",
                data.len()
            )));
        }
        let count = shape
            .iter()
            .try_fold(1usize, |a, &d| a.checked_mul(d))
            .and_then(|c| c.checked_mul(dtype.size()))
            .ok_or_else(|| bad("shape overflows"))?;
        if count != e - b {
            return Err(bad(&format!(
                "shape {shape:?} of {dt} needs {count} bytes but data_offsets give {}",
                e - b
            )));
        }
        let (parent, leaf) = match name.rsplit_once('/') {
            Some((p, l)) => (p, l),
            None => ("", name.as_str()),
        };
        let attrs = if bf16 {
            vec![("dtype".to_string(), h5::Attr::Str("bfloat16".into()))]
        } else {
            Vec::new()
        };
        let ds = h5::Dataset {
            dtype,
            shape,
            data: data[b..e].to_vec(),
            attrs,
        };
        let g = if parent.is_empty() {
            &mut tree
        } else {
            tree.group_mut_or_create(parent)
                .map_err(|e| bad(&e.to_string()))?
        };
        g.insert_dataset(leaf, ds)
            .map_err(|e| bad(&e.to_string()))?;
    }
    Ok(tree)
}
